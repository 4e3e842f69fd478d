"""The results folder of a run: lock, fingerprints, archiving, permissions,
strict JSON, saved models, and the caller's config left alone."""
import copy
import dataclasses
import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from ann import predict
from bridge.errors import ResultsDirError
from bridge.experiments import (ExperimentConfig, cell_path, evaluate, load_tasks, model_path, new_model,
                                results_lock, run_experiment, write_json)

from ._experiment_fixtures import run_cli

TINY = {
    "experiment": {"sizes": [784, 32, 24, 10], "seeds": [0], "class_groups": [[0, 1], [2, 3]],
                   "max_train_per_task": 100, "updates_per_task": 5, "init_range": 0.1,
                   "methods": ["sequential", "src"]},
    "sleep": {"preset": "mnist", "steps_first": 150, "steps_per_task": 50},
}


def tiny(**changes) -> ExperimentConfig:
    data = copy.deepcopy(TINY)
    for key, value in changes.items():
        table, field = key.split("__")
        data[table][field] = value
    return ExperimentConfig.from_dict(data)


def strict_json(path):
    def refuse(token):
        raise ValueError(f"{path} holds {token}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.slow
def test_second_process_on_a_locked_folder_refuses(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from bridge.experiments import results_lock
        with results_lock({str(out)!r}):
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        cfg = tmp_path / "tiny.json"
        cfg.write_text(json.dumps(TINY))
        proc = run_cli("run", cfg, "--out", out, "--no-progress")  # the holder is the other process
        assert proc.returncode == 2, proc.stderr
        assert "in use by another run" in proc.stderr and str(out) in proc.stderr
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written, nothing archived
        with pytest.raises(ResultsDirError, match="in use by another run"):
            run_experiment(tiny(), out, progress=False)
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    with results_lock(out):  # released when the first process ends
        pass


def test_resume_never_reuses_a_cell_of_another_config(tmp_path, caplog):
    a, b = tmp_path / "a", tmp_path / "b"
    first = run_experiment(tiny(), a, progress=False)
    run_experiment(tiny(sleep__steps_first=300), b, progress=False)
    other = cell_path(b, "src", 0)
    assert strict_json(other)["config_fingerprint"] != strict_json(cell_path(a, "src", 0))["config_fingerprint"]
    cell_path(a, "src", 0).write_bytes(other.read_bytes())  # a cell of another config in folder a
    with caplog.at_level(logging.WARNING):
        again = run_experiment(tiny(), a, progress=False)
    assert "made by another config" in caplog.text
    assert again["resumed_runs"] == 1  # only the sequential cell was reused
    assert again["methods"] == first["methods"]
    assert strict_json(cell_path(a, "src", 0))["config_fingerprint"] == tiny().resolved().fingerprint()


def test_other_seeds_archive_the_summary_and_rewrite_config_json(tmp_path):
    out = tmp_path / "out"
    run_experiment(tiny(), out, progress=False, save_models=False)
    before = {n: (out / n).read_bytes() for n in ("summary.json", "summary.md", "accuracy_over_tasks.png",
                                                  "config.json")}
    run_experiment(tiny(experiment__seeds=[1], experiment__methods=["sequential"]), out, progress=False)
    archives = list((out / "archive").iterdir())
    assert len(archives) == 1
    for name, content in before.items():
        assert (archives[0] / name).read_bytes() == content
    state = strict_json(out / "config.json")
    assert state["config"]["seeds"] == [1] and state["config"]["methods"] == ["sequential"]
    summary = strict_json(out / "summary.json")
    assert list(summary["methods"]) == ["sequential"]
    assert list(summary["methods"]["sequential"]["final_accuracy"]["per_seed"]) == ["1"]
    assert cell_path(out, "src", 0).is_file()  # the earlier cells stay (same config)
    # the same run again changes nothing and archives nothing
    run_experiment(tiny(experiment__seeds=[1], experiment__methods=["sequential"]), out, progress=False)
    assert len(list((out / "archive").iterdir())) == 1


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_result_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        out = tmp_path / "out"
        run_experiment(tiny(), out, progress=False)
        write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    files = [out / "summary.json", out / "summary.md", out / "accuracy_over_tasks.png", out / "config.json",
             cell_path(out, "src", 0), model_path(out, "src", 0, 1, "after_sleep"), tmp_path / "x.json"]
    for f in files:
        assert f.stat().st_mode & 0o777 == mode, (f, oct(f.stat().st_mode))


def test_zero_step_sleep_writes_valid_json(tmp_path):
    out = tmp_path / "out"
    run_experiment(tiny(sleep__steps_first=0), out, progress=False)
    cell = strict_json(cell_path(out, "src", 0))
    assert cell["sleep_spikes_per_step"][0] is None  # no sleep after task 1: no rate
    assert len(cell["sleep_spikes_per_step"][1]) == 4  # input + 3 layers, 50 steps after task 2
    for path in out.rglob("*.json"):
        strict_json(path)
    with pytest.raises(ValueError):
        write_json(tmp_path / "nan.json", {"x": float("nan")})
    assert not (tmp_path / "nan.json").exists()


def test_empty_out_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ResultsDirError, match="empty"):
        run_experiment(tiny(), "", progress=False)
    proc = run_cli("run", "--out", "", "--no-progress")
    assert proc.returncode == 2 and "empty" in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_run_leaves_the_callers_config_unchanged(tmp_path):
    cfg = tiny(experiment__sizes=[784, 32, 24, 12])  # train.n_classes left at its default (10)
    before = copy.deepcopy(dataclasses.asdict(cfg))
    summary = run_experiment(cfg, tmp_path / "out", progress=False)
    assert dataclasses.asdict(cfg) == before  # the run set n_classes = sizes[-1] = 12 on its own copy
    assert cfg.train.n_classes == 10 and summary["config"]["train"]["n_classes"] == 12


def test_models_are_saved_before_and_after_each_sleep(tmp_path):
    out = tmp_path / "out"
    run_experiment(tiny(), out, progress=False)
    cfg = tiny().resolved()
    cell = strict_json(cell_path(out, "src", 0))
    tasks, x_test, y_test = load_tasks(cfg)
    for t in (1, 2):
        for stage, key in (("before_sleep", "accuracy_all_before_sleep"), ("after_sleep", "accuracy_all")):
            model = new_model(cfg, 99, logits=False)
            model.load_state_dict(torch.load(model_path(out, "src", 0, t, stage)))
            _, overall = evaluate(lambda x: predict(model, x), tasks, x_test, y_test)
            assert overall == cell[key][t - 1], (t, stage)
    assert sorted(p.name for p in model_path(out, "src", 0, 1, "after_sleep").parent.iterdir()) == [
        "task1_after_sleep.pt", "task1_before_sleep.pt", "task2_after_sleep.pt", "task2_before_sleep.pt"]
    assert not (out / "models" / "sequential").exists()  # no sleep, nothing to keep
    none = run_experiment(tiny(), tmp_path / "none", progress=False, save_models=False)
    assert not (tmp_path / "none" / "models").exists()
    assert none["methods"]["src"]["final_accuracy"] == strict_json(out / "summary.json")["methods"]["src"][
        "final_accuracy"]
    assert np.isfinite(cell["final_accuracy"])


@pytest.mark.parametrize("field, value, message", [
    ("seeds", "12", "experiment.seeds"),
    ("seeds", [True], "experiment.seeds"),
    ("seeds", [1, 1], "experiment.seeds"),
    ("sizes", [784, 32.5, 24, 10], "experiment.sizes"),
    ("methods", ["src", "sequential+src"], "the same method twice"),
    ("methods", ["parallel+src"], "not a method"),
    ("methods", [], "experiment.methods"),
])
def test_config_fields_are_checked_not_coerced(field, value, message):
    with pytest.raises(ValueError, match=message):
        tiny(**{f"experiment__{field}": value})


def test_overlapping_class_groups_are_refused_within_a_data_set():
    with pytest.raises(ValueError, match="class 1 .*is in group 0 and group 1"):
        tiny(experiment__class_groups=[[0, 1], [1, 2]])
    cross = tiny(experiment__class_groups=[[0, 1], [0, 1]], experiment__task_datasets=["mnist-subset", "fashion-mnist"])
    assert cross.class_groups == [[0, 1], [0, 1]]  # the same labels in two data sets are two classes
