"""The sleep-parameter tuner (bridge.tuning): validation split only, resume,
reproducibility, config errors before any trial, preset files read back by runs."""
from __future__ import annotations

import copy
import dataclasses
import shutil

import numpy as np
import pytest

import bridge
from ann import Task
from bridge.cli import main
from bridge.errors import ConfigError
from bridge.experiments import ExperimentConfig, load_tasks, run_cell
from bridge.experiments.distributed import default_cell_threads
from bridge.params import SleepParams
from bridge.tuning import (TuneConfig, parse_space, read_preset_file, trial_value, tune, validation_tasks)
from bridge.tuning.study import JOURNAL_FILE
from bridge.tuning.tuner import start_values, tuning_data

from ._sim_fixtures import dask_cluster, dask_scheduler, worker_log_messages  # noqa: F401  (fixtures)

#: a tiny run: 2 tasks of 100 examples, a 784-16-10 network, a few updates and sleep steps
TINY = {
    "experiment": {"class_groups": [[0, 1], [2, 3]], "max_train_per_task": 100, "sizes": [784, 16, 10],
                   "init_range": 0.1, "methods": ["src"], "seeds": [0], "updates_per_task": 5},
    "sleep": {"preset": "mnist", "beta": [14.5, 44.5], "steps_first": 40, "steps_per_task": 20},
    "tune": {"seeds": [0], "trials": 3, "sampler": "random", "sampler_seed": 1, "validation_fraction": 0.25,
             "space": {"inc": {"low": 0.001, "high": 0.1, "log": True},
                       "beta": {"low": 1.0, "high": 60.0, "log": True},
                       "steps_first": {"low": 20, "high": 60, "step": 10}}},
}


def tiny(**tune_changes) -> dict:
    data = copy.deepcopy(TINY)
    data["tune"].update(tune_changes)
    return data


def trial_rows(study) -> list[tuple]:
    return [(t.number, t.state.name, t.value, t.params) for t in sorted(study.trials, key=lambda t: t.number)]


@pytest.fixture(scope="module")
def tasks_data():
    """``load_tasks`` of the tiny run: (tasks, x_test, y_test)."""
    return load_tasks(TuneConfig.from_dict(tiny()).experiment.resolved())


@pytest.fixture(scope="module")
def clean_study(tmp_path_factory, tasks_data):
    """A 3-trial random-sampler study on the real data."""
    out = tmp_path_factory.mktemp("clean")
    return tune(tiny(), out, data=tasks_data, progress=False)


def poisoned(data):
    """The tasks with their test split replaced: NaN inputs and shuffled labels."""
    tasks, _, _ = data
    rng = np.random.default_rng(0)
    bad = [Task(t.classes, t.x_train, t.y_train, np.full_like(t.x_test, np.nan), rng.permutation(t.y_test))
           for t in tasks]
    return bad, np.concatenate([t.x_test for t in bad]), np.concatenate([t.y_test for t in bad])


# ------------------------------------------------------------ validation split
def test_validation_split_is_carved_from_training_data(tasks_data):
    tasks, _, _ = tasks_data
    val = validation_tasks(tasks, 0.25, seed=3)
    for t, v in zip(tasks, val.tasks):
        assert len(v.y_train) + len(v.y_test) == len(t.y_train)
        assert len(v.y_test) == round(0.25 * len(t.y_train))
        rows = {r.tobytes() for r in t.x_train}
        assert all(r.tobytes() in rows for r in v.x_test)  # validation examples are training examples
        assert not {r.tobytes() for r in v.x_test} & {r.tobytes() for r in v.x_train}
    again = validation_tasks(tasks, 0.25, seed=3)
    other = validation_tasks(tasks, 0.25, seed=4)
    assert all(np.array_equal(a.y_test, b.y_test) and np.array_equal(a.x_test, b.x_test)
               for a, b in zip(val.tasks, again.tasks))
    assert not all(np.array_equal(a.x_test, b.x_test) for a, b in zip(val.tasks, other.tasks))


def test_tuner_never_reads_test_data(tmp_path, tasks_data, clean_study, monkeypatch):
    bad = poisoned(tasks_data)
    cfg = TuneConfig.from_dict(tiny()).experiment
    # the poison is visible to anything that evaluates on the test split
    assert run_cell(cfg, "src", 0, data=bad)["final_accuracy"] != run_cell(cfg, "src", 0, data=tasks_data)[
        "final_accuracy"]
    # the tuner loads the data itself here: hand it the poisoned test split
    monkeypatch.setattr("bridge.experiments.data.load_tasks", lambda cfg: bad)
    result = tune(tiny(), tmp_path / "poisoned", progress=False)
    assert trial_rows(result.study) == trial_rows(clean_study.study)
    assert result.best_params == clean_study.best_params


def test_per_seed_validation_splits(tmp_path, tasks_data, monkeypatch):
    """``validation_split = "per_seed"``: every tuning seed gets its own draw of the training data; the
    study differs from the shared split's, never reads the test split, and the default keeps fingerprints."""
    tasks, _, _ = tasks_data
    cfg = TuneConfig.from_dict(tiny(seeds=[0, 1], validation_split="per_seed"))
    splits = tuning_data(cfg, tasks)
    assert sorted(splits) == [0, 1] and splits[0].sizes == splits[1].sizes
    assert not all(np.array_equal(a.x_test, b.x_test) for a, b in zip(splits[0].tasks, splits[1].tasks))
    shared = tuning_data(TuneConfig.from_dict(tiny(seeds=[0, 1])), tasks)
    assert isinstance(shared, bridge.tuning.ValidationData)
    assert TuneConfig.from_dict(tiny(validation_split="shared")).fingerprint() == TuneConfig.from_dict(
        tiny()).fingerprint() != TuneConfig.from_dict(tiny(validation_split="per_seed")).fingerprint()
    clean = tune(tiny(validation_split="per_seed"), tmp_path / "clean", data=tasks_data, progress=False)
    monkeypatch.setattr("bridge.experiments.data.load_tasks", lambda cfg: poisoned(tasks_data))
    again = tune(tiny(validation_split="per_seed"), tmp_path / "poisoned", progress=False)
    assert trial_rows(again.study) == trial_rows(clean.study)
    one = trial_value(cfg.experiment, "src", {}, [0], {0: splits[0]})["value"]
    assert one == trial_value(cfg.experiment, "src", {}, [0], splits[0])["value"]
    with pytest.raises(TypeError, match="seed 1"):
        trial_value(cfg.experiment, "src", {}, [0, 1], {0: splits[0]})
    with pytest.raises(ConfigError, match="tune.validation_split"):
        TuneConfig.from_dict(tiny(validation_split="per_task"))


# ------------------------------------------------------------------ resume
def test_resumed_study_continues_from_stored_trials(tmp_path, tasks_data, clean_study):
    out = tmp_path / "resumed"
    out.mkdir()
    shutil.copy(clean_study.out / JOURNAL_FILE, out / JOURNAL_FILE)
    before = trial_rows(clean_study.study)
    assert len(before) == 3
    result = tune(tiny(), out, trials=5, data=tasks_data, progress=False)
    rows = trial_rows(result.study)
    assert result.new_trials == 2 and result.done_trials == 5 and len(rows) == 5
    assert rows[:3] == before
    assert all(r[1] == "COMPLETE" for r in rows)
    assert rows[3][3] not in [r[3] for r in before]  # the resumed sampler does not repeat earlier trials
    again = tune(tiny(), out, trials=5, data=tasks_data, progress=False)  # nothing left to do
    assert again.new_trials == 0 and trial_rows(again.study) == rows


def test_resuming_with_another_search_config_is_refused(tmp_path, tasks_data, clean_study):
    out = tmp_path / "other"
    out.mkdir()
    shutil.copy(clean_study.out / JOURNAL_FILE, out / JOURNAL_FILE)
    other = tiny()
    other["tune"]["space"]["inc"] = {"low": 0.002, "high": 0.1, "log": True}
    with pytest.raises(ConfigError, match="tune.study_name"):
        tune(other, out, data=tasks_data, progress=False)


# ------------------------------------------------------------ reproducibility
def test_same_sampler_seed_gives_same_trials(tmp_path, tasks_data, clean_study):
    same = tune(tiny(), tmp_path / "same", data=tasks_data, progress=False)
    other = tune(tiny(sampler_seed=2), tmp_path / "other", data=tasks_data, progress=False)
    assert trial_rows(same.study) == trial_rows(clean_study.study)
    # trial 0 is the [sleep] table's own values in both; later ones follow the seed
    assert other.study.trials[0].params == clean_study.study.trials[0].params
    assert [t.params for t in other.study.trials[1:]] != [t.params for t in clean_study.study.trials[1:]]


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "cmaes"])
def test_each_sampler_runs_and_is_seeded(tmp_path, tasks_data, sampler):
    kw = dict(sampler=sampler, trials=2, population_size=2) if sampler == "nsga2" else dict(sampler=sampler, trials=2)
    a = tune(tiny(**kw), tmp_path / "a", data=tasks_data, progress=False, figures=False)
    b = tune(tiny(**kw), tmp_path / "b", data=tasks_data, progress=False, figures=False)
    assert len(a.study.trials) == 2 and trial_rows(a.study) == trial_rows(b.study)


# ---------------------------------------------------------- preset files
def test_preset_file_is_read_back_by_a_run_config(clean_study, monkeypatch):
    path = clean_study.preset_path
    assert path is not None and path.is_file()
    params, prov = read_preset_file(path)
    assert params == clean_study.best_params
    assert SleepParams.from_file(path) == clean_study.best_params
    assert prov["validation_accuracy"] == clean_study.best_value == clean_study.study.best_value
    assert prov["trials"] == 3 and prov["package_version"] == bridge.__version__
    assert prov["sampler"] == "random" and prov["tuning_seeds"] == [0]
    assert prov["search"]["tune"]["space"]["inc"]["log"] is True
    run = copy.deepcopy(TINY)
    del run["tune"]
    run["sleep"] = {"preset": str(path)}
    assert ExperimentConfig.from_dict(run).sleep == clean_study.best_params
    run["sleep"]["steps_per_task"] = 7  # other keys of the table override single fields
    assert ExperimentConfig.from_dict(run).sleep == clean_study.best_params.replace(steps_per_task=7)
    run["sleep"] = {"preset": str(path.with_name("missing.toml"))}
    with pytest.raises(ConfigError, match="sleep.preset"):
        ExperimentConfig.from_dict(run)


def test_outputs_history_and_summary(clean_study):
    from bridge.experiments.results_io import read_json
    from bridge.tuning import history

    summary = read_json(clean_study.out / "tuning_summary.json")
    assert [t["number"] for t in summary["trials"]] == [0, 1, 2]
    assert summary["best_value"] == clean_study.best_value
    assert summary["start_value"] == clean_study.study.trials[0].value
    h = history(clean_study.study)
    assert h["best_so_far"] == list(np.maximum.accumulate(h["value"]))
    assert (clean_study.out / "tuning_history.png").stat().st_size > 0


# ----------------------------------------------------------- bad configs
@pytest.fixture
def no_trials(monkeypatch):
    """Fail the test if a trial or the data loading starts."""
    def refuse(*a, **k):
        raise AssertionError("a trial or the data loading started")

    monkeypatch.setattr("bridge.tuning.tuner.trial_value", refuse)
    monkeypatch.setattr("bridge.experiments.data.load_tasks", refuse)


@pytest.mark.parametrize("space, field, words", [
    ({"inc": {"low": 0.1, "high": 0.01}}, "tune.space.inc", "inverted"),
    ({"inc": {"low": 0.1, "high": 0.1}}, "tune.space.inc", "empty"),
    ({"bogus": {"low": 1, "high": 2}}, "tune.space.bogus", "unknown sleep parameter"),
    ({"dt_s": {"low": 0.001, "high": 0.002}}, "tune.space.dt_s", "not searched"),
    ({"input_mode": {"choices": []}}, "tune.space.input_mode.choices", "non-empty"),
    ({"input_mode": {"choices": ["masked_mean", "flashes"]}}, "tune.space.input_mode.choices[1]", "flashes"),
    ({"inc": {"low": 0.0, "high": 0.1, "log": True}}, "tune.space.inc", "low > 0"),
    ({"inc": {"low": -1.0, "high": 0.1}}, "tune.space.inc.low", ">= 0"),
    ({"steps_first": {"low": 10.5, "high": 20}}, "tune.space.steps_first.low", "integer"),
    ({"beta_2": {"low": 1.0, "high": 2.0}}, "tune.space.beta_2", "2 weight layers"),
    ({"beta": {"low": 1.0, "high": 2.0}, "beta_0": {"low": 1.0, "high": 2.0}}, "tune.space.beta_0", "both"),
    ({"plasticity_gain_2": {"low": 0.5, "high": 2.0}}, "tune.space.plasticity_gain_2", "2 weight layers"),
    ({"plasticity_gain_0": {"low": -1.0, "high": 2.0}}, "tune.space.plasticity_gain_0.low", ">= 0"),
    ({"inc": {"low": 0.01, "high": 0.1, "lg": True}}, "tune.space.inc", "unknown key"),
    ({}, "tune.space", "empty"),
])
def test_bad_space_fails_before_any_trial(tmp_path, no_trials, space, field, words):
    cfg = tiny()
    cfg["tune"]["space"] = space
    with pytest.raises(ConfigError) as exc:
        tune(cfg, tmp_path / "out", progress=False)
    assert field in str(exc.value) and words in str(exc.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("changes, field", [
    ({"sampler": "genetic"}, "tune.sampler"), ({"trials": 0}, "tune.trials"), ({"bogus": 1}, "tune.bogus"),
    ({"validation_fraction": 1.0}, "tune.validation_fraction"), ({"method": "sequential"}, "tune.method"),
    ({"seeds": [0, 0]}, "tune.seeds"), ({"threads_per_worker": 0}, "tune.threads_per_worker"),
    ({"max_spikes_per_step": 0}, "tune.max_spikes_per_step"), ({"max_spikes_per_step": "x"}, "tune.max_spikes_per_step"),
])
def test_bad_tune_fields_fail_before_any_trial(tmp_path, no_trials, changes, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        tune(tiny(**changes), tmp_path / "out", progress=False)


def test_storage_that_cannot_be_opened_fails_before_any_trial(tmp_path, no_trials, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for storage in [str(blocker / "study.journal"), str(tmp_path), "nosuchdialect://host/db"]:
        with pytest.raises(ConfigError, match=r"tune\.storage"):
            tune(tiny(storage=storage), tmp_path / "out", progress=False)
    config = tmp_path / "tune.toml"
    config.write_text('[experiment]\nsizes = [784, 16, 10]\n[sleep]\nbeta = [1.0, 2.0]\n'
                      '[tune]\nstorage = "nosuchdialect://x"\n[tune.space]\ninc = {low = 0.01, high = 0.1}\n')
    assert main(["tune", str(config), "--out", str(tmp_path / "cli"), "--no-progress"]) == 2
    assert "tune.storage" in capsys.readouterr().err


def test_space_expands_beta_per_layer_and_keeps_other_fields():
    space = parse_space({"beta": {"low": 1.0, "high": 9.0}, "input_mode": {"choices": ["masked_mean", "poisson"]}}, 3)
    assert [p.name for p in space.params] == ["beta_0", "beta_1", "beta_2", "input_mode"]
    base = SleepParams(beta=(1.0, 2.0, 3.0))
    got = space.sleep_params({"beta_0": 4.0, "beta_1": 5.0, "beta_2": 6.0, "input_mode": "poisson"}, base)
    assert got == dataclasses.replace(base, beta=(4.0, 5.0, 6.0), input_mode="poisson")
    one = parse_space({"beta_1": {"low": 1.0, "high": 9.0}}, 3)
    assert one.sleep_params({"beta_1": 7.0}, base).beta == (1.0, 7.0, 3.0)


def test_space_searches_the_per_layer_plasticity_gain():
    """The variant's gains are searched per layer as beta is; the reference's empty gains are 1 per layer."""
    base = SleepParams(beta=(1.0, 2.0, 3.0))
    one = parse_space({"plasticity_gain_1": {"low": 0.25, "high": 4.0, "log": True}}, 3)
    got = one.sleep_params({"plasticity_gain_1": 0.5}, base)
    assert got.plasticity_gain == (1.0, 0.5, 1.0) and got.beta == base.beta
    every = parse_space({"plasticity_gain": {"low": 0.0, "high": 2.0}, "beta_0": {"low": 1.0, "high": 9.0}}, 3)
    assert [p.name for p in every.params] == ["plasticity_gain_0", "plasticity_gain_1", "plasticity_gain_2",
                                              "beta_0"]
    got = every.sleep_params({"plasticity_gain_0": 0.0, "plasticity_gain_1": 1.5, "plasticity_gain_2": 2.0,
                              "beta_0": 4.0}, base)
    assert got.plasticity_gain == (0.0, 1.5, 2.0) and got.beta == (4.0, 2.0, 3.0)


def test_trial_zero_of_a_gain_search_is_the_reference():
    cfg = TuneConfig.from_dict(tiny(space={"plasticity_gain": {"low": 0.25, "high": 4.0, "log": True}}))
    assert start_values(cfg) == {"plasticity_gain_0": 1.0, "plasticity_gain_1": 1.0}


def test_cli_tune_writes_a_preset(tmp_path, tasks_data, monkeypatch, capsys):
    import tomli_w

    monkeypatch.setattr("bridge.experiments.data.load_tasks", lambda cfg: tasks_data)
    config = tmp_path / "tune.toml"
    config.write_text(tomli_w.dumps(tiny(trials=1)))
    assert main(["tune", str(config), "--out", str(tmp_path / "out"), "--no-progress", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "best validation accuracy" in out and "preset.toml" in out
    params, prov = read_preset_file(tmp_path / "out" / "preset.toml")
    assert prov["search_config"] == str(config)
    assert params == TuneConfig.from_file(config).experiment.sleep  # trial 0: the [sleep] table's values


@pytest.mark.parametrize("on_dask", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["serial", "dask"])
def test_runaway_sleep_fails_its_trial_not_the_search(tmp_path, tasks_data, capfd, request, on_dask):
    """tune.max_spikes_per_step: a trial whose sleep fires more stops and is recorded as failed;
    on Dask (the session's cluster) the failure comes back as the trial's result, not as a failed
    task with a traceback."""
    where = {"scheduler": request.getfixturevalue("dask_scheduler")} if on_dask else {"workers": 0}
    result = tune(tiny(max_spikes_per_step=1e-6, **where), tmp_path / "out", data=tasks_data,
                  progress=False, figures=False)
    assert result.new_trials == 3
    failed = [t for t in result.study.trials if t.state.name == "FAIL"]
    assert failed and all("ActivityLimitError" in t.user_attrs["error"] for t in failed)
    assert "Compute Failed" not in capfd.readouterr().err
    if on_dask:  # the workers log a failed task ("Compute Failed") at WARNING level
        assert not [m for m in worker_log_messages(where["scheduler"]) if "Compute Failed" in m]
    # the limit is part of the search config: a study without it is another study
    assert TuneConfig.from_dict(tiny(max_spikes_per_step=1e-6)).fingerprint() != TuneConfig.from_dict(tiny()).fingerprint()


# ------------------------------------------------------------------- Dask
@pytest.mark.slow
def test_trials_on_dask_workers_give_the_serial_study(tmp_path, tasks_data, clean_study, dask_scheduler):
    """Two worker processes (the session's local cluster); the random sampler asks the same
    parameters whatever the order values come back in, and each trial's value is that of the
    serial run."""
    result = tune(tiny(scheduler=dask_scheduler), tmp_path / "dask", data=tasks_data, progress=False, figures=False)
    assert result.new_trials == 3
    assert trial_rows(result.study) == trial_rows(clean_study.study)
    hosts = [t.user_attrs.get("ran_on") for t in result.study.trials]
    assert all(h and h["worker"] != "local" for h in hosts)
    # one thread count for serial and Dask trials (torch/BLAS round differently with another)
    serial = {t.user_attrs["ran_on"]["threads"] for t in clean_study.study.trials}
    assert serial == {h["threads"] for h in hosts} == {default_cell_threads()}


def test_trial_of_an_interrupted_search_is_asked_again(tmp_path, tasks_data):
    import socket
    import subprocess

    from bridge.tuning import open_storage, open_study

    cfg = TuneConfig.from_dict(tiny(trials=1))
    out = tmp_path / "interrupted"
    study = open_study(cfg, open_storage(str(out / JOURNAL_FILE)))
    left = study.ask(cfg.space.distributions())  # a driver that died while running this trial
    gone = subprocess.Popen(["true"])
    gone.wait()
    left.set_user_attr("driver", {"host": socket.gethostname(), "pid": gone.pid})
    result = tune(cfg, out, data=tasks_data, progress=False, figures=False)
    rows = trial_rows(result.study)
    assert [r[1] for r in rows] == ["FAIL", "COMPLETE"] and result.done_trials == 1
    assert rows[1][3] == left.params and result.study.trials[1].user_attrs["retry_of"] == 0


def test_interrupted_search_keeps_its_best_and_resumes(tmp_path, tasks_data, monkeypatch):
    from bridge.tuning import tuner

    real = tuner.trial_value
    calls = []

    def stop_at_second(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr("bridge.tuning.tuner.trial_value", stop_at_second)
    out = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        tune(tiny(), out, data=tasks_data, progress=False, figures=False)
    params, prov = read_preset_file(out / "preset.toml")  # the best of the finished trial is kept
    assert prov["trials"] == 1 and params == TuneConfig.from_dict(tiny()).experiment.sleep
    monkeypatch.setattr("bridge.tuning.tuner.trial_value", real)
    result = tune(tiny(), out, data=tasks_data, progress=False, figures=False)
    rows = trial_rows(result.study)
    assert [r[1] for r in rows] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"] and result.done_trials == 3
    assert rows[2][3] == rows[1][3]  # the interrupted trial's parameters are asked again first


def test_example_tuning_configs_are_valid():
    from pathlib import Path

    configs = sorted(Path(__file__).resolve().parents[1].glob("configs/search/tune_*.toml"))
    assert configs
    for path in configs:
        cfg = TuneConfig.from_file(path)
        assert cfg.experiment.method_specs()[0].sleep and cfg.space.params
        assert start_values(cfg) is not None  # trial 0 is the config's own [sleep] (the paper's preset)


def test_importances_need_enough_trials(clean_study):
    from bridge.tuning import importances
    from bridge.tuning.plots import MIN_TRIALS_FOR_IMPORTANCE

    assert len(clean_study.study.trials) < MIN_TRIALS_FOR_IMPORTANCE and importances(clean_study.study) == {}
    import optuna

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + 0.01 * t.suggest_float("y", 0, 1), n_trials=30)
    imp = importances(study)
    assert set(imp) == {"x", "y"} and imp["x"] > imp["y"]
