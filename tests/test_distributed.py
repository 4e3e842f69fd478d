"""Experiment grids on Dask: a real scheduler and worker processes on loopback give
the serial run's numbers bit for bit, a killed worker loses no finished cell, and a
cluster that cannot run the experiment fails before any cell is sent."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bridge.errors import ClusterError
from bridge.experiments import ExperimentConfig, run_experiment
from bridge.experiments.distributed import preflight

# Dask clusters: the slow tier (make test runs it, make test-quick does not)
pytestmark = pytest.mark.slow

#: 4 cells (2 seeds x 2 methods) of 2 tasks each: enough for two workers and a killed one
CONFIG = {
    "experiment": {"sizes": [784, 32, 24, 10], "seeds": [0, 1], "class_groups": [[0, 1], [2, 3]],
                   "max_train_per_task": 150, "init_range": 0.1, "updates_per_task": 20,
                   "methods": ["sequential", "src"]},
    "sleep": {"preset": "mnist", "steps_first": 200, "steps_per_task": 100},
}
#: what may differ between runs of the same cell: where and how long it ran
VOLATILE = {"ran_on", "wall_time_s", "sleep_seconds", "timing"}
DASK = Path(sys.executable).parent / "dask"


def _cells(out: Path) -> dict[str, dict]:
    cells = {}
    for path in sorted((out / "cells").rglob("seed_*.json")):
        rec = json.loads(path.read_text())
        cells[str(path.relative_to(out))] = {k: v for k, v in rec.items() if k not in VOLATILE}
    return cells


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    cfg = ExperimentConfig.from_dict(CONFIG)
    run_experiment(cfg, out, progress=False, save_models=False)
    return out


def test_local_cluster_gives_the_serial_numbers(serial_run, tmp_path):
    cfg = ExperimentConfig.from_dict(CONFIG)
    summary = run_experiment(cfg, tmp_path / "dask", progress=False, save_models=False, workers=2)
    cells = _cells(tmp_path / "dask")
    assert cells == _cells(serial_run) and len(cells) == 4
    # the summary says which worker ran each cell and for how long
    ran_on = summary["ran_on"]
    assert len(ran_on) == 4
    assert all(r["worker"].startswith("tcp://127.0.0.1") and r["wall_s"] > 0 for r in ran_on.values())
    assert len({r["pid"] for r in ran_on.values()}) == 2  # two worker processes did the work
    # every cell ran with the serial run's thread count (torch and BLAS round differently with another)
    serial_threads = {json.loads(p.read_text())["ran_on"]["threads"] for p in (serial_run / "cells").rglob("*.json")}
    assert {r["threads"] for r in ran_on.values()} == serial_threads == {torch.get_num_threads()}


def _start(args, **kw):
    return subprocess.Popen([str(DASK), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, **kw)


def _wait_for(predicate, timeout, what):
    t0 = time.time()
    while not predicate():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_real_scheduler_and_a_killed_worker(serial_run, tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    procs = [_start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(scheduler_file)])]
    try:
        _wait_for(scheduler_file.exists, 60, "the scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        workers = [_start(["worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                           "--host", "127.0.0.1"]) for _ in range(2)]
        procs += workers
        cfg_path = tmp_path / "grid.json"
        cfg_path.write_text(json.dumps(CONFIG))
        out = tmp_path / "out"
        run = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", str(cfg_path), "--out", str(out),
                                "--scheduler", address, "--no-progress"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # as soon as one cell is finished, kill a worker: it is busy with another cell
        _wait_for(lambda: any((out / "cells").rglob("seed_*.json")) or run.poll() is not None, 300,
                  "the first finished cell")
        finished = {p: p.read_bytes() for p in (out / "cells").rglob("seed_*.json")}
        os.killpg(workers[0].pid, signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr
        for path, content in finished.items():  # finished cells are kept as they were
            assert path.read_bytes() == content
        assert _cells(out) == _cells(serial_run)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_unreachable_scheduler_fails_before_work(tmp_path, capsys, monkeypatch):
    """In this process (exit codes of the real process: test_real_scheduler_and_a_killed_worker);
    the connection timeout shortened from 10 s: nothing listens on port 9."""
    from bridge.cli import main
    from bridge.experiments import distributed

    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 2.0)
    cfg_path = tmp_path / "grid.json"
    cfg_path.write_text(json.dumps(CONFIG))
    code = main(["run", str(cfg_path), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9",
                 "--no-progress"])
    stderr = capsys.readouterr().err
    assert code == 2, stderr
    assert "cannot reach the Dask scheduler" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "o" / "cells").exists()


class _FakeClient:
    """Stands for a cluster whose workers answer the preflight probe as given."""

    def __init__(self, answers):
        self.answers = answers

    def scheduler_info(self):
        return {"workers": dict.fromkeys(self.answers)}

    def run(self, *args):
        return self.answers


def test_preflight_names_the_worker_that_cannot_run(tmp_path):
    cfg = ExperimentConfig.from_dict(CONFIG)
    ok = {"host": "a", "worker": "tcp://a:1", "pid": 1, "problem": None}
    bad = {"host": "b", "worker": "tcp://b:2", "pid": 2,
           "problem": f"cannot write the results folder {tmp_path}: [Errno 13] Permission denied"}
    assert preflight(_FakeClient({"tcp://a:1": ok}), cfg, tmp_path) == [ok]
    with pytest.raises(ClusterError, match=r"tcp://b:2: cannot write the results folder"):
        preflight(_FakeClient({"tcp://a:1": ok, "tcp://b:2": bad}), cfg, tmp_path)
    with pytest.raises(ClusterError, match="no workers"):
        preflight(_FakeClient({}), cfg, tmp_path)


def test_worker_probe_reports_missing_data_and_unwritable_folder(tmp_path):
    from bridge.experiments.distributed import _probe
    from bridge import __version__

    cfg = ExperimentConfig.from_dict(CONFIG)
    assert _probe(cfg, str(tmp_path), __version__)["problem"] is None
    assert "differs from the driver" in _probe(cfg, str(tmp_path), "0.0.0-other")["problem"]
    assert "cannot write the results folder" in _probe(cfg, str(tmp_path / "missing" / "deeper"), __version__)["problem"]
