"""Re-scoring a finished search (bridge.tuning.rescore, ``sleep-replay rescore``): the same
settings give the study's values back, other seeds and splits never read the test split,
the study is not changed, and bad input fails before any trial, naming the field."""
from __future__ import annotations

import pytest

from bridge.cli import main
from bridge.errors import ConfigError
from bridge.experiments.results_io import read_json
from bridge.tuning import TuneConfig, rescore, trial_value, tune
from bridge.tuning.tuner import tuning_data
from tests._sim_fixtures import dask_cluster, dask_scheduler  # noqa: F401  (fixtures)
from tests.test_tuning import no_trials, poisoned, tasks_data, tiny, trial_rows  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def study(tmp_path_factory, tasks_data):
    """A finished 3-trial study of the tiny run (trial 0 is the [sleep] table's values)."""
    out = tmp_path_factory.mktemp("rescore")
    return tune(tiny(), out, data=tasks_data, progress=False)


def test_the_study_settings_give_the_study_values_back(study, tasks_data):
    before = trial_rows(study.study)
    result = rescore(tiny(), study.out, top=5, data=tasks_data, progress=False)
    complete = [t for t in study.study.trials if t.value is not None]
    assert [r["number"] for r in result.rows] == [0] + [t.number for t in sorted(
        (t for t in complete if t.number != 0), key=lambda t: -t.value)]
    assert result.rows[0]["start"] and not any(r["start"] for r in result.rows[1:])
    for row in result.rows:
        assert row["value"] == row["study_value"] and row["per_seed"] == row["study_per_seed"]
    saved = read_json(result.path)
    assert saved["settings"] == {"seeds": [0], "validation_fraction": 0.25, "validation_seed": 0,
                                 "validation_split": "shared", "top": 5}
    assert [r["number"] for r in saved["rows"]] == [r["number"] for r in result.rows]
    reloaded = tune(tiny(), study.out, data=tasks_data, progress=False, figures=False)  # resumes, runs nothing
    assert reloaded.new_trials == 0 and trial_rows(reloaded.study) == before


def test_other_seeds_and_split_never_read_the_test_split(study, tasks_data, monkeypatch):
    monkeypatch.setattr("bridge.experiments.data.load_tasks", lambda cfg: poisoned(tasks_data))
    result = rescore(tiny(), study.out, top=1, seeds=[1, 2], validation_fraction=0.5,
                     validation_split="per_seed", progress=False)
    best_other = max((t for t in study.study.trials if t.number != 0), key=lambda t: (t.value, -t.number))
    assert [r["number"] for r in result.rows] == [0, best_other.number]
    other = TuneConfig.from_dict(tiny(seeds=[1, 2], validation_fraction=0.5, validation_split="per_seed"))
    val = tuning_data(other, tasks_data[0])  # the clean tasks: the poison must not matter
    for row, trial in zip(result.rows, [study.study.trials[r["number"]] for r in result.rows]):
        expected = trial_value(other.experiment, "src", other.space.sleep_changes(trial.params, other.experiment.sleep),
                               [1, 2], val)
        assert row["per_seed"] == expected["per_seed"] and len(row["per_seed"]) == 2
    assert result.settings == {"seeds": [1, 2], "validation_fraction": 0.5, "validation_seed": 0,
                               "validation_split": "per_seed"}
    assert result.path.name != rescore(tiny(), study.out, top=1, data=tasks_data, progress=False).path.name


@pytest.mark.slow
def test_dask_workers_give_the_serial_values(study, tasks_data, dask_scheduler):
    serial = rescore(tiny(), study.out, top=2, seeds=[1], data=tasks_data, progress=False)
    parallel = rescore(tiny(), study.out, top=2, seeds=[1], scheduler=dask_scheduler, data=tasks_data,
                       progress=False)
    assert [(r["number"], r["per_seed"]) for r in parallel.rows] == [(r["number"], r["per_seed"]) for r in serial.rows]


def test_a_failed_trial_fails_its_row_not_the_rescoring(study, tasks_data, monkeypatch):
    from snn.errors import ActivityLimitError

    def runaway(*args, **kwargs):
        raise ActivityLimitError("the sleep fired 900 spikes per step")

    monkeypatch.setattr("bridge.tuning.tuner.trial_value", runaway)
    result = rescore(tiny(), study.out, top=1, data=tasks_data, progress=False)
    assert len(result.rows) == 2
    assert all(r["value"] is None and r["error"] == "ActivityLimitError: the sleep fired 900 spikes per step"
               for r in result.rows)


@pytest.mark.parametrize("kwargs, field", [
    ({"top": 0}, "top"),
    ({"top": 1.5}, "top"),
    ({"seeds": []}, "tune.seeds"),
    ({"seeds": [0, 0]}, "tune.seeds"),
    ({"validation_fraction": 1.5}, "tune.validation_fraction"),
    ({"validation_seed": -1}, "tune.validation_seed"),
    ({"validation_split": "per_task"}, "tune.validation_split"),
    ({"study_name": "nobody"}, "tune.study_name"),
])
def test_bad_input_fails_before_any_trial(study, no_trials, kwargs, field):
    with pytest.raises(ConfigError, match=field):
        rescore(tiny(), study.out, progress=False, **kwargs)


def test_a_missing_or_foreign_study_is_refused(tmp_path, study, no_trials):
    with pytest.raises(ConfigError, match="tune.storage"):
        rescore(tiny(), tmp_path / "empty", progress=False)
    assert not (tmp_path / "empty" / "study.journal").exists()  # nothing created
    other = tiny()
    other["tune"]["space"] = {"inc": {"low": 0.002, "high": 0.1, "log": True}}
    with pytest.raises(ConfigError, match="another search config"):
        rescore(other, study.out, progress=False)


def test_cli_rescore(tmp_path, study, tasks_data, monkeypatch, capsys):
    import tomli_w

    monkeypatch.setattr("bridge.experiments.data.load_tasks", lambda cfg: tasks_data)
    config = tmp_path / "tune.toml"
    config.write_text(tomli_w.dumps(tiny()))
    assert main(["rescore", str(config), "--out", str(study.out), "--top", "1", "--seeds", "3",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "seeds [3]" in out and "trial 0 (start): study" in out and "rescore_" in out
    assert main(["rescore", str(config), "--out", str(study.out), "--validation-fraction", "2"]) == 2
    assert "tune.validation_fraction" in capsys.readouterr().err
