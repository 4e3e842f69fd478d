"""The main job through the command line."""
import json

import numpy as np
import pytest

from bridge.experiments import ExperimentConfig

from ._experiment_fixtures import run_cli as cli

SMALL = """
[experiment]
sizes = [784, 64, 48, 10]
seeds = [0, 1]
class_groups = [[0, 1], [2, 3], [4, 5]]
init_range = 0.1

[sleep]
preset = "mnist"
steps_first = 600
steps_per_task = 200
"""


@pytest.mark.slow
def test_run_writes_summary_resumes_and_never_overwrites(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "out"
    proc = cli("run", cfg, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "| sequential |" in proc.stdout and "| src |" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "accuracy_over_tasks.png").read_bytes()[:4] == b"\x89PNG"
    for method in ("sequential", "src"):
        fa = summary["methods"][method]["final_accuracy"]
        assert set(fa["per_seed"]) == {"0", "1"}
        assert fa["mean"] == pytest.approx(np.mean(list(fa["per_seed"].values())))
        assert summary["methods"][method]["new_task_accuracy_min"] >= 90  # each task is learned
    # sequential training forgets: only the last task's classes are predicted
    assert summary["methods"]["sequential"]["final_accuracy"]["mean"] < 100 / 3 + 5
    assert summary["methods"]["sequential"]["forgetting"]["mean"] > 80
    assert summary["config"]["sleep"]["steps_first"] == 600 and summary["package_version"]
    cell = json.loads((out / "cells" / "src" / "seed_0.json").read_text())
    assert len(cell["accuracy_matrix"]) == 3 and len(cell["sleep_spikes_per_step"]) == 3

    # an interrupted run resumes: only the missing (method, seed) is recomputed
    (out / "cells" / "src" / "seed_1.json").unlink()
    proc = cli("run", cfg, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["resumed_runs"] == 3 and "resuming" in proc.stderr
    assert resumed["methods"]["src"]["final_accuracy"] == summary["methods"]["src"]["final_accuracy"]

    # --fresh recomputes everything, reproduces the numbers and archives the earlier files
    proc = cli("run", cfg, "--out", out, "--no-progress", "--fresh")
    assert proc.returncode == 0, proc.stderr
    again = json.loads((out / "summary.json").read_text())
    assert again["resumed_runs"] == 0
    for method in ("sequential", "src"):
        assert again["methods"][method]["final_accuracy"] == summary["methods"][method]["final_accuracy"]
    archived = list((out / "archive").glob("*/summary.json"))
    assert len(archived) == 1 and json.loads(archived[0].read_text())["methods"] == resumed["methods"]

    # a different config in the same folder archives instead of mixing results
    cfg.write_text(SMALL.replace("steps_first = 600", "steps_first = 700"))
    proc = cli("run", cfg, "--out", out, "--no-progress", "--seeds", "0", "--methods", "sequential")
    assert proc.returncode == 0, proc.stderr
    assert len(list((out / "archive").glob("*/summary.json"))) == 2
    assert json.loads((out / "summary.json").read_text())["resumed_runs"] == 0


@pytest.mark.slow
def test_demo_protocol_src_beats_sequential(tmp_path):
    """The default main job (reference net and hyperparameters), one seed.

    Slow (~200 CPU-s): the reference 784-1200-1200-10 net sleeps 35000 steps; what it
    checks is the default config itself, so it cannot run on a smaller one."""
    proc = cli("run", "--seeds", "0", "--out", tmp_path, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    methods = json.loads((tmp_path / "summary.json").read_text())["methods"]
    seq, src = (methods[m]["final_accuracy"]["mean"] for m in ("sequential", "src"))
    assert seq < 25 and src >= seq + 20, (seq, src)
    assert methods["sequential"]["new_task_accuracy_min"] >= 90


@pytest.mark.parametrize("args, message", [
    (["--methods", "hat"], "unknown method"),
    (["--methods", "ewc(lambda=-1)"], "option lambda"),
    (["--methods", "icarl(memroy=5)"], "unknown option"),
    (["--dataset", "cifar"], "unknown dataset"),
    (["--dataset", "mnist"], "needs data_dir"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/folder"], "does not exist"),
    (["--engine", "loihi"], "unknown engine"),
    (["--max-rate", "-3"], "max_rate_hz"),
    (["--steps-first", "-1"], "steps_first"),
    (["--beta", "1", "2"], "beta has 2 values"),
])
def test_bad_run_arguments_fail_before_training(tmp_path, args, message):
    proc = cli("run", "--out", tmp_path / "o", "--no-progress", *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "o" / "summary.json").exists()


def test_bad_config_files(tmp_path):
    (tmp_path / "a.toml").write_text("[experiment]\nseedz = [1]\n")
    proc = cli("run", tmp_path / "a.toml", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "unknown experiment field(s) ['seedz']" in proc.stderr
    (tmp_path / "b.toml").write_text("[trainer]\nepochs = 1\n")
    with pytest.raises(ValueError, match="unknown config table"):
        ExperimentConfig.from_file(str(tmp_path / "b.toml"))
    proc = cli("run", tmp_path / "missing.toml")
    assert proc.returncode == 2 and "cannot read config file" in proc.stderr


def test_method_grammar():
    from bridge.experiments import parse_method
    spec = parse_method("icarl+src(memory=100)", {"icarl": {"memory": 5}, "src": {}})
    assert (spec.base, spec.sleep, spec.options) == ("icarl", True, {"memory": 100})
    assert parse_method("src").base == "sequential" and parse_method("parallel").base == "parallel"
    with pytest.raises(ValueError, match="not a method"):
        parse_method("parallel+src")
    with pytest.raises(ValueError, match="option epochs"):
        ExperimentConfig.from_dict({"experiment": {"methods": ["parallel(epochs=0)"]}})


def test_configs_index_lists_every_config():
    """configs/README.md is the index of the shipped configs: every file is listed, none that is gone."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "configs"
    shipped = {p.relative_to(root).as_posix() for p in root.rglob("*.toml")}
    listed = set(re.findall(r"^\| `([\w/.-]+\.toml)` \|", (root / "README.md").read_text(), flags=re.M))
    assert shipped == listed, (sorted(shipped - listed), sorted(listed - shipped))


def test_shipped_configs_parse():
    from pathlib import Path
    configs = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.toml"))
    assert configs
    from bridge.params import read_config
    from bridge.experiments import PatchesConfig
    for path in configs:
        if "patches" in read_config(path):
            PatchesConfig.from_dict(read_config(path))
        elif "robustness" in read_config(path) or "limited_data" in read_config(path):  # a protocol config
            from bridge.protocols import ProtocolConfig
            ProtocolConfig.from_file(str(path))
        elif "tune" in read_config(path):  # a tuner config: [tune] + the experiment it tunes
            from bridge.tuning.config import TuneConfig
            TuneConfig.from_file(path)
        else:
            ExperimentConfig.from_file(str(path))
