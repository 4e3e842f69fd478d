"""The robustness and limited-data protocols (bridge.protocols, `sleep-replay run` on a
protocol config): config checks naming the field, reproducible cells, validation-only
sleep choice, the results folder (resume, archive), the command line, Dask."""
import copy
import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.cli import main
from bridge.errors import ConfigError, ResultsDirError
from bridge.experiments import results_lock
from bridge.protocols import ProtocolConfig, cell_path, run_protocol, run_protocol_cell
from bridge.protocols.common import load_data

from ._sim_fixtures import dask_cluster, dask_scheduler  # noqa: F401  (fixtures)

SLEEP = {"preset": "mnist", "steps_first": 100}
CANDIDATES = [{"inc": 0.001, "dec": 0.0001}, {"inc": 0.0001, "dec": 0.00001}]


def tables(protocol="robustness", **options):
    exp = {"dataset": "mnist-subset", "sizes": [784, 32, 16, 10], "init_range": 0.1, "seeds": [0]}
    opts = {"corruptions": {"gaussian_noise": [0.4], "salt_pepper": [0.2], "blur": [2]}} \
        if protocol == "robustness" else {"percents": [5.0]}
    return {"experiment": exp, "train": {"epochs": 1}, "sleep": dict(SLEEP),
            "select": {"candidates": copy.deepcopy(CANDIDATES)}, protocol: {**opts, **options}}


@pytest.fixture(scope="module")
def data():
    return load_data(ProtocolConfig.from_dict(tables()))


def strip_times(rec):
    rec = json.loads(json.dumps(rec))
    rec.pop("wall_time_s", None)
    rec.pop("ran_on", None)
    return rec


@pytest.mark.parametrize("change, match", [
    (lambda t: t.update(extra={}), r"unknown config table\(s\) \['extra'\]"),
    (lambda t: t.update(limited_data={}), "exactly one of the tables"),
    (lambda t: t["experiment"].update(seeds="12"), "experiment.seeds must be a list"),
    (lambda t: t["experiment"].update(seeds=[0, 0]), "experiment.seeds lists 0 twice"),
    (lambda t: t["experiment"].update(dataset="features"), "experiment.dataset: unknown dataset"),
    (lambda t: t["experiment"].update(sizes=[100, 32, 16, 10]), r"experiment.sizes\[0\] must be 784"),
    (lambda t: t["experiment"].update(validation_fraction=1.0), "experiment.validation_fraction"),
    (lambda t: t["experiment"].update(seedz=[1]), r"unknown experiment field\(s\) \['seedz'\]"),
    (lambda t: t["train"].update(epochs=0), "train.epochs must be an integer >= 1"),
    (lambda t: t["sleep"].update(beta=[1.0, 2.0]), "sleep.beta has 2 values for 3 layers"),
    (lambda t: t["select"]["candidates"][1].update(inc=-1), r"select.candidates\[1\]: sleep.inc"),
    (lambda t: t["select"]["candidates"].append({"beta": [1.0]}), r"select.candidates\[2\].beta has 1 values"),
    (lambda t: t["select"]["candidates"].append({"incc": 1}), r"select.candidates\[2\]: unknown sleep"),
    (lambda t: t["select"]["candidates"].append({}), r"select.candidates\[2\] is empty"),
    (lambda t: t["robustness"].update(corruptions={"blur": [0]}), r"robustness.corruptions.blur\[0\]"),
    (lambda t: t["robustness"].update(corruptions={"fog": [1]}), "unknown corruption"),
    (lambda t: t["robustness"].update(objective="test"), "robustness.objective: unknown objective"),
    (lambda t: t["robustness"].update(finetune_epochs=1.5), "robustness.finetune_epochs must be an integer"),
    (lambda t: t["robustness"].update(lr=1), r"unknown robustness field\(s\) \['lr'\]"),
])
def test_bad_configs_name_the_field_before_any_work(change, match):
    t = tables()
    change(t)
    with pytest.raises(ConfigError, match=match):
        ProtocolConfig.from_dict(t)


ODD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=3),
                       st.lists(st.integers(-1, 2), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=st.sampled_from(["experiment", "train", "robustness", "select"]), value=ODD_VALUES, data=st.data(),
       cnn=st.booleans())
def test_any_odd_field_value_is_accepted_or_refused_naming_its_field(table, value, data, cnn):
    """Whatever a user writes into a field, the config is built or refused with a ConfigError
    naming that field; no other exception, no coercion."""
    fields = {"experiment": ["dataset", "seeds", "sizes", "validation_fraction", "validation_seed", "dropout", "model",
                             "engine", "dtype", "device", "split_seed", "init_range", "data_dir", "image_shape",
                             "conv_kernel"],
              "train": ["epochs", "lr", "momentum", "batch_size", "loss"],
              "robustness": ["corruptions", "finetune_epochs", "finetune_lr", "objective"],
              "select": ["candidates"]}[table]
    name = data.draw(st.sampled_from(fields))
    t = tables()
    if cnn:
        t["experiment"].update(model="cnn", sizes=[784, 10])
        t["sleep"]["beta"] = [1.0] * 5
    t[table][name] = value
    try:
        cfg = ProtocolConfig.from_dict(t)
    except ConfigError as exc:
        assert f"{table}.{name}" in str(exc) or (table == "robustness" and name == "corruptions"), str(exc)
    else:
        assert cfg.to_dict()[table][name] == value  # stored as given


@pytest.mark.parametrize("options, match", [
    ({"percents": [0]}, r"limited_data.percents\[0\] must be a number > 0"),
    ({"percents": [5, 5.0]}, "lists a value twice"), ({"min_updates": -1}, "limited_data.min_updates"),
    ({"objective": "after_finetune"}, "limited_data.objective"), ({"percents": "5"}, "must be a list")])
def test_bad_limited_data_options_name_the_field(options, match):
    with pytest.raises(ConfigError, match=match):
        ProtocolConfig.from_dict(tables("limited_data", **options))


def test_cnn_fields_are_checked_as_in_a_run_config():
    t = tables()
    t["experiment"].update(model="cnn", sizes=[784, 10])
    with pytest.raises(ConfigError, match=r"sleep.beta has 3 values for 5 layers of the CNN"):
        ProtocolConfig.from_dict(t)
    t["sleep"]["beta"] = [1.0] * 5
    cfg = ProtocolConfig.from_dict(t)
    assert cfg.sleep_layer_kinds() == ["conv", "pool", "conv", "pool", "dense"]
    assert cfg.to_dict()["experiment"]["conv_channels"] == [16, 32]
    t["experiment"]["conv_kernel"] = 0
    with pytest.raises(ConfigError, match="experiment.conv_kernel must be an integer >= 1"):
        ProtocolConfig.from_dict(t)
    t = tables()
    t["experiment"]["pool_size"] = 3
    with pytest.raises(ConfigError, match="experiment.pool_size is set but experiment.model = 'mlp'"):
        ProtocolConfig.from_dict(t)
    assert "conv_channels" not in ProtocolConfig.from_dict(tables()).to_dict()["experiment"]


def test_calibrated_cnn_cell_sets_beta_per_cell_and_records_it(data):
    t = tables("limited_data", percents=[5.0])
    t["experiment"].update(model="cnn", sizes=[784, 10], conv_channels=[2, 4])
    t["select"]["calibrate"] = True  # no beta needed: calibration gives one per layer
    t["select"]["candidates"] = [{"inc": 0.001, "dec": 0.0001, "plasticity_gain": [0.0, 0.0, 0.0, 0.0, 1.0]}]
    cfg = ProtocolConfig.from_dict(t)
    assert cfg.to_dict()["select"]["calibrate"] is True
    rec = run_protocol_cell(cfg, 5.0, 0, data=data)
    cal = rec["selection"]["calibration"]
    assert len(cal["beta"]) == 5 and rec["selection"]["chosen_params"]["beta"] == cal["beta"]
    assert rec["selection"]["chosen_params"]["plasticity_gain"] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert "calibrate" not in ProtocolConfig.from_dict(tables()).to_dict()["select"]  # MLP fingerprints kept
    t["select"]["calibrate"] = "yes"
    with pytest.raises(ConfigError, match="select.calibrate must be true or false"):
        ProtocolConfig.from_dict(t)


def test_levels_and_percents_are_stored_as_floats_so_equal_configs_share_a_fingerprint():
    a = ProtocolConfig.from_dict(tables(corruptions={"blur": [2]}))
    b = ProtocolConfig.from_dict(tables(corruptions={"blur": [2.0]}))
    assert a.fingerprint() == b.fingerprint()
    other_seeds = ProtocolConfig.from_dict({**tables(), "experiment": {**tables()["experiment"], "seeds": [3, 4]}})
    base = ProtocolConfig.from_dict(tables())
    assert other_seeds.fingerprint() == base.fingerprint()         # seeds are not in the fingerprint
    assert ProtocolConfig.from_dict(tables(finetune_epochs=2)).fingerprint() != base.fingerprint()


def test_robustness_cell_is_reproducible_and_chooses_its_sleep_without_the_test_split(data):
    cfg = ProtocolConfig.from_dict(tables())
    rec = run_protocol_cell(cfg, None, 0, data=data)
    assert strip_times(rec) == strip_times(run_protocol_cell(cfg, None, 0, data=data))  # bit for bit
    assert rec["conditions"] == ["clean", "gaussian_noise 0.4", "salt_pepper 0.2", "blur 2"]
    assert set(rec["accuracy"]) == {"baseline", "src", "finetune"}
    sel = rec["selection"]
    values = [c["validation_value"] for c in sel["candidates"]]
    assert len(values) == 2 and sel["chosen"] == int(np.argmax(values))
    # the objective "all" is the mean over clean and every corruption on the validation split
    chosen = sel["candidates"][sel["chosen"]]
    assert chosen["validation_value"] == pytest.approx(np.mean(list(chosen["validation"].values())))
    assert rec["validation_accuracy"]["src"] == chosen["validation"]
    # a poisoned test split (other images, shuffled labels) changes no choice and no validation value
    rng = np.random.default_rng(0)
    poisoned = dataclasses.replace(data, x_test=rng.random(data.x_test.shape, dtype=np.float32),
                                   y_test=rng.permutation(data.y_test))
    rec2 = run_protocol_cell(cfg, None, 0, data=poisoned)
    assert strip_times(rec2)["selection"] == strip_times(rec)["selection"]
    assert rec2["validation_accuracy"] == rec["validation_accuracy"]
    assert rec2["accuracy"] != rec["accuracy"]


def test_limited_data_cell_stages_nested_subsets_and_the_finetune_objective(data):
    cfg = ProtocolConfig.from_dict(tables("limited_data", percents=[2.0, 10.0], objective="after_sleep_finetune",
                                          min_updates=5))
    small, large = (run_protocol_cell(cfg, p, 0, data=data) for p in (2.0, 10.0))
    assert small["train_per_class"] == [8] * 10 and large["train_per_class"] == [40] * 10  # % of 400 per class
    assert small["epochs"] == 5 and large["epochs"] == 2      # at least 5 updates of batch 100 (min_updates)
    assert set(small["accuracy"]) == {"before_sleep", "after_sleep", "after_sleep_finetune", "finetune_only"}
    sel = small["selection"]
    assert all(set(c["validation"]) == {"after_sleep", "after_sleep_finetune"} for c in sel["candidates"])
    assert sel["candidates"][sel["chosen"]]["validation"]["after_sleep_finetune"] == \
        small["validation_accuracy"]["after_sleep_finetune"]


def test_run_writes_per_seed_tables_resumes_and_archives(tmp_path, data, monkeypatch):
    import bridge.protocols.runner as runner

    monkeypatch.setattr(runner, "load_data", lambda cfg: data)
    monkeypatch.setattr(runner, "_cached_data", lambda cfg: data)
    cfg = ProtocolConfig.from_dict(tables("limited_data", percents=[5.0]))
    out = tmp_path / "run"
    s = run_protocol(cfg, out, progress=False)
    for name in ("summary.json", "summary.md", "limited_data.png", "config.json"):
        assert (out / name).is_file()
    assert (out / "models/percent_5/seed0/after_sleep.pt").is_file()
    row = s["results"]["rows"][0]
    assert row["after_sleep"]["per_seed"] == {"0": json.loads(cell_path(out, 5.0, 0).read_text())["accuracy"]
                                              ["after_sleep"]}
    assert "| 5 | after sleep |" in (out / "summary.md").read_text()
    s2 = run_protocol(cfg, out, progress=False)                      # same config: the cell is reused
    assert s2["resumed_cells"] == 1 and s2["results"] == s["results"]
    cfg2 = ProtocolConfig.from_dict(tables("limited_data", percents=[5.0], finetune_epochs=2))
    s3 = run_protocol(cfg2, out, progress=False)                     # another config: earlier files archived
    assert s3["resumed_cells"] == 0
    archived = list((out / "archive").iterdir())
    assert len(archived) == 1 and (archived[0] / "cells/percent_5/seed_0.json").is_file()
    with results_lock(out), pytest.raises(ResultsDirError, match="in use by another run"):
        run_protocol(cfg2, out, progress=False)


def test_command_line_runs_a_protocol_config_and_refuses_flags_it_cannot_honour(tmp_path, capsys):
    import tomli_w

    path = tmp_path / "robustness.toml"
    t = tables(corruptions={"blur": [2]})
    t["select"]["candidates"] = CANDIDATES[:1]
    path.write_bytes(tomli_w.dumps(t).encode())
    out = tmp_path / "out"
    assert main(["run", str(path), "--seeds", "1", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["experiment"]["seeds"] == [1]
    assert "| blur 2 | baseline |" in capsys.readouterr().out
    assert main(["run", str(path), "--updates-per-task", "5", "--out", str(out)]) == 2
    assert "--updates-per-task do(es) not apply to a protocol config" in capsys.readouterr().err
    assert main(["run", str(path), "--preset", "fashion-mnist", "--beta", "1", "--out", str(out)]) == 2
    assert "sleep.beta has 1 values for 3 layers" in capsys.readouterr().err


@pytest.mark.slow
def test_dask_workers_give_the_serial_numbers(tmp_path, dask_scheduler):
    """On the session's local cluster (two worker processes)."""
    cfg = ProtocolConfig.from_dict({**tables(), "experiment": {**tables()["experiment"], "seeds": [0, 1]}})
    serial = run_protocol(cfg, tmp_path / "serial", progress=False, threads_per_worker=1)
    dask = run_protocol(cfg, tmp_path / "dask", progress=False, scheduler=dask_scheduler, threads_per_worker=1)
    assert dask["results"] == serial["results"]
    assert {r["worker"] for r in dask["ran_on"].values()} != {"local"}
