"""Issue 25 (hardening round 2), the command line and result folders: nothing lost, no
raw traceback, exit 2 for bad input, checked before any work. Every case fails on the
issue's base commit (cf44305) and passes now; the point of the issue is named in each test."""
from __future__ import annotations

import copy
import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

import snn.atomic_io
from bridge.experiments import ExperimentConfig, run_experiment
from bridge.tuning.study import JOURNAL_FILE
from tests.test_tuning import TINY as TUNE_TINY
from tests.test_tuning import tiny

from ._experiment_fixtures import run_main

#: a tiny run: 2 tasks of 100 examples, a 784-32-24-10 network, short sleeps
RUN_TINY = {
    "experiment": {"sizes": [784, 32, 24, 10], "seeds": [0], "class_groups": [[0, 1], [2, 3]],
                   "max_train_per_task": 100, "updates_per_task": 5, "init_range": 0.1,
                   "methods": ["sequential", "src"]},
    "sleep": {"preset": "mnist", "steps_first": 150, "steps_per_task": 50},
}


def write_config(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def one_line_error(err: str, command: str) -> str:
    """The error line of a refused command (and check there is no traceback)."""
    assert "Traceback" not in err, err
    lines = [l for l in err.splitlines() if l.startswith(f"sleep-replay {command}: error:")]
    assert len(lines) == 1, err
    return lines[0]


def all_json_whole(folder: Path) -> None:
    for p in folder.rglob("*"):
        assert not (p.is_file() and p.name.startswith(".") and p.name not in (".lock",)), f"leftover {p}"
        if p.suffix == ".json":
            json.loads(p.read_text())


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished tiny run (with saved models); tests work on copies."""
    out = tmp_path_factory.mktemp("run") / "run"
    run_experiment(ExperimentConfig.from_dict(copy.deepcopy(RUN_TINY)), out, progress=False)
    return out


def copy_run(finished_run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(finished_run, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


# ----------------------------------------------------------------- point 2
@pytest.mark.slow
def test_point2_two_tune_processes_share_the_study_total(tmp_path):
    """Two `sleep-replay tune` processes on one storage run the study's total once, not twice."""
    data = copy.deepcopy(TUNE_TINY)
    data["tune"]["trials"] = 4
    cfg = write_config(tmp_path / "tune.json", data)
    journal = tmp_path / "shared.journal"
    procs = [subprocess.Popen([sys.executable, "-m", "bridge.cli", "tune", str(cfg), "--out", str(tmp_path / f"o{i}"),
                               "--storage", str(journal), "--no-progress", "--no-figures"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name="sleep-tuning", storage=storage).trials
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)
    ran = [t.user_attrs["driver"]["pid"] for t in trials]
    assert set(ran) <= {p.pid for p in procs}


# ----------------------------------------------------------------- point 3
def test_point3_tune_of_another_study_archives_the_outputs(tmp_path):
    from bridge.experiments import load_tasks
    from bridge.tuning import TuneConfig, tune

    tasks = load_tasks(TuneConfig.from_dict(tiny()).experiment.resolved())
    out = tmp_path / "out"
    tune(tiny(trials=1), out, data=tasks, progress=False)
    tune(tiny(trials=1), out, data=tasks, progress=False)  # the same study again: updated in place
    assert not (out / "archive").exists()
    first = {n: (out / n).read_bytes() for n in ("preset.toml", "tuning_summary.json", "tuning_history.png")}
    tune(tiny(trials=1), out, study_name="other", data=tasks, progress=False)
    archives = list((out / "archive").iterdir())
    assert len(archives) == 1
    for name, content in first.items():
        assert (archives[0] / name).read_bytes() == content
    assert json.loads((out / "tuning_summary.json").read_text())["study_name"] == "other"


# ----------------------------------------------------------------- point 4
def _valid_journal(path: Path) -> None:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.create_study(storage=storage, study_name="sleep-tuning", direction="maximize")
    study.enqueue_trial({"inc": 0.01})


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_point4_damaged_journal_exits_2_naming_the_file(tmp_path, capsys, damage):
    journal = tmp_path / "study.journal"
    _valid_journal(journal)
    text = journal.read_bytes()
    journal.write_bytes(b"not json\n" + text if damage == "garbage" else text[:-7])
    before = journal.read_bytes()
    cfg = write_config(tmp_path / "tune.json", TUNE_TINY)
    code, _, err = run_main(capsys, "tune", cfg, "--out", tmp_path / "out", "--storage", journal, "--no-progress")
    line = one_line_error(err, "tune")
    assert code == 2 and str(journal) in line and ("damaged" in line or "truncated" in line)
    assert journal.read_bytes() == before  # nothing appended to a damaged journal


# ----------------------------------------------------------------- point 5
def _enospc(path: object) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_point5_full_disk_in_run_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    """The disk fills while a run writes its second task's model (simulated: the write fails
    with ENOSPC). One line naming the file, exit 2, the files written before are whole."""
    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        if str(dst).endswith("task2_before_sleep.pt"):
            raise _enospc(src)
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(snn.atomic_io.os, "replace", replace)
    cfg = write_config(tmp_path / "run.json", RUN_TINY)
    out = tmp_path / "out"
    code, _, err = run_main(capsys, "run", cfg, "--out", out, "--no-progress")
    line = one_line_error(err, "run")
    assert code == 2 and "task2_before_sleep.pt" in line and "No space left on device" in line
    all_json_whole(out)
    assert (out / "cells" / "sequential" / "seed_0.json").is_file()  # finished work is kept


def test_point5_full_disk_in_tune_keeps_the_journal_whole(tmp_path, capsys, monkeypatch):
    """Optuna's journal write fails half-way (ENOSPC after a partial record): one line naming
    the journal, exit 2, the partial record is removed and the study resumes."""
    from optuna.storages.journal import JournalFileBackend

    real_append = JournalFileBackend.append_logs
    calls = {"n": 0}

    def append_logs(self, logs):
        calls["n"] += 1
        if calls["n"] == 12:  # mid-search
            with open(self._file_path, "ab") as f:
                f.write(json.dumps(logs[0]).encode()[:20])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_append(self, logs)

    monkeypatch.setattr(JournalFileBackend, "append_logs", append_logs)
    data = copy.deepcopy(TUNE_TINY)
    data["tune"]["trials"] = 2
    cfg = write_config(tmp_path / "tune.json", data)
    out = tmp_path / "out"
    code, _, err = run_main(capsys, "tune", cfg, "--out", out, "--no-progress", "--no-figures")
    line = one_line_error(err, "tune")
    assert code == 2 and str(out / JOURNAL_FILE) in line and "No space left on device" in line
    assert (out / JOURNAL_FILE).read_bytes().endswith(b"\n")
    monkeypatch.setattr(JournalFileBackend, "append_logs", real_append)
    code, _, err = run_main(capsys, "tune", cfg, "--out", out, "--no-progress", "--no-figures")
    assert code == 0, err


# ----------------------------------------------------------------- point 6
def test_point6_analyze_checks_its_input_before_work(tmp_path, capsys, finished_run, monkeypatch):
    missing = tmp_path / "no_such_run"
    code, _, err = run_main(capsys, "analyze", missing, "--no-progress")
    assert code == 2 and "does not exist" in one_line_error(err, "analyze") and not missing.exists()
    run = copy_run(finished_run, tmp_path)
    a_file = tmp_path / "taken.txt"
    a_file.write_text("mine")

    def no_work(*a, **kw):
        raise AssertionError("analysis started before the input was checked")

    monkeypatch.setattr("bridge.experiments.load_tasks", no_work)
    monkeypatch.setattr("bridge.analysis.run.analyze_sleep", no_work)
    code, _, err = run_main(capsys, "analyze", run, "--out", a_file, "--no-progress")
    assert code == 2 and "is not a folder" in one_line_error(err, "analyze") and a_file.read_text() == "mine"
    damaged = run / "models" / "src" / "seed0" / "task2_after_sleep.pt"
    damaged.write_bytes(damaged.read_bytes()[:200])
    code, _, err = run_main(capsys, "analyze", run, "--no-progress")
    line = one_line_error(err, "analyze")
    assert code == 2 and str(damaged) in line and "damaged or truncated" in line


# ----------------------------------------------------------------- point 7
def test_point7_malformed_scheduler_address_is_refused_before_work(tmp_path, capsys):
    run_cfg = write_config(tmp_path / "run.json", RUN_TINY)
    tune_cfg = write_config(tmp_path / "tune.json", TUNE_TINY)
    for command, cfg in (("run", run_cfg), ("tune", tune_cfg)):
        out = tmp_path / f"out_{command}"
        code, _, err = run_main(capsys, command, cfg, "--out", out, "--scheduler", "notaurl", "--no-progress")
        line = one_line_error(err, command)
        assert code == 2 and "'notaurl' is not a Dask scheduler address" in line
        assert not out.exists()  # no journal, no folder left behind


# ----------------------------------------------------------------- point 8
def test_point8_run_of_another_config_archives_the_analysis(tmp_path, finished_run):
    run = copy_run(finished_run, tmp_path)
    (run / "analysis").mkdir()
    (run / "analysis" / "analysis.json").write_text('{"of": "the earlier config"}')
    other = copy.deepcopy(RUN_TINY)
    other["experiment"]["methods"] = ["sequential"]
    other["sleep"]["steps_first"] = 100
    run_experiment(ExperimentConfig.from_dict(other), run, progress=False)
    assert not (run / "analysis").exists()
    archived = list((run / "archive").glob("*/analysis/analysis.json"))
    assert len(archived) == 1 and "earlier config" in archived[0].read_text()


# ---------------------------------------------------------------- point 10
def test_point10_huge_sleep_is_refused_before_training(tmp_path, capsys):
    cfg = write_config(tmp_path / "run.json", RUN_TINY)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    code, _, err = run_main(capsys, "run", cfg, "--out", out, "--steps-first", 10**12, "--no-progress")
    line = one_line_error(err, "run")
    assert code == 2 and "sleep.steps_first" in line and "GiB" in line
    assert not out.exists() and time.perf_counter() - t0 < 60


# ---------------------------------------------------------------- point 15
@pytest.mark.slow
@pytest.mark.parametrize("first_import", ["import snn.brian2",
                                          "from snn.pynn.cells import brian2_classes; brian2_classes()"])
def test_point15_brian2_does_not_take_over_error_reports(first_import):
    """After the package imports Brian2 (its engine, or PyNN's Brian2 back end), an unrelated
    error of the user's program is reported by Python, not as a Brian2 bug."""
    code = f"{first_import}\nraise ValueError('the user\\'s own mistake')\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "ValueError: the user's own mistake" in proc.stderr
    assert "Brian 2 encountered an unexpected error" not in proc.stderr


def test_point15_first_cython_compile_is_announced_before_it_starts(tmp_path, caplog, monkeypatch):
    import logging

    import numpy as np

    from snn import SleepNetwork
    from snn.brian2 import runtime

    class Stop(Exception):
        pass

    def stop(*a, **kw):
        raise Stop

    monkeypatch.setattr(runtime, "build_network", stop)  # the compile would start here
    net = SleepNetwork(weights=[np.ones((3, 4), np.float32)], alpha=[1.0], threshold=[1.0])
    args = (net, None, "cython", tmp_path, np.dtype("float64"), net.weights, [np.zeros(3)])
    with caplog.at_level(logging.WARNING, logger="snn.brian2.runtime"), pytest.raises(Stop):
        runtime.RuntimeSimulation(*args)
    assert "compiling the network's code on first use" in caplog.text and str(tmp_path) in caplog.text
    caplog.clear()
    cached = runtime.cython_cache_dir(tmp_path)
    cached.mkdir(parents=True)
    (cached / "_cython_magic_0.so").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="snn.brian2.runtime"), pytest.raises(Stop):
        runtime.RuntimeSimulation(*args)
    assert "first use" not in caplog.text


# ----------------------------------------------------------------- point 17
@pytest.mark.slow
def test_point17_run_of_a_changed_network_prints_no_paper_column(tmp_path, capsys):
    """The paper's numbers only next to the paper's configs: a run with other layer widths says why
    there is no paper column, on the terminal and in summary.md."""
    config = write_config(tmp_path / "tiny.json", RUN_TINY)
    code, out, err = run_main(capsys, "run", config, "--out", tmp_path / "out", "--no-progress")
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("| method |"))
    assert "paper" not in header and "48.47" not in out
    assert "(no paper column: sizes" in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["paper_mismatch"].startswith("sizes")
    assert "| paper |" not in (tmp_path / "out" / "summary.md").read_text()
