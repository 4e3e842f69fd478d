"""The ``sleep-replay`` command line: flags from field metadata, exit codes, errors.

Exit codes: 0 success, 1 a conformance FAIL only, 2 bad input, 130 Ctrl-C.
Most tests call :func:`bridge.cli.main` in-process (fast); the SIGINT and
``--version`` tests run the real command.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ann.baselines import LEARNERS
from bridge import SleepParams
from bridge.cli import build_parser, config_data_from_args, main, patches_data_from_args
from bridge.conformance import load_trace, params_from_trace
from bridge.errors import ConfigError, TraceError
from bridge.experiments import ExperimentConfig, PatchesConfig
from bridge.params import PRESETS, field_specs

from ._experiment_fixtures import run_main

ROOT = Path(__file__).resolve().parents[1]


def _subparser(name):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


# ------------------------------------------------------------ flags and help
@pytest.mark.slow
def test_version_from_package_metadata():
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"sleep-replay {importlib.metadata.version('sleep-replay')}"
    import bridge
    assert bridge.__version__ == importlib.metadata.version("sleep-replay")


def test_every_flag_has_help():
    for name in ("run", "conformance"):
        for action in _subparser(name)._actions:
            assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest} has no help"


def test_sleep_flags_are_generated_from_the_fields():
    run = _subparser("run")
    by_dest = {a.dest: a for a in run._actions}
    for f in field_specs():
        action = by_dest[f"sleep_{f.name}"]
        assert f"--{f.name.replace('_', '-')}" in action.option_strings
        assert f.metadata["help"] in action.help and f"sleep.{f.name}" in action.help
        if f.metadata["unit"] not in ("", "1"):
            assert f"[{f.metadata['unit']}]" in action.help
        if f.metadata["choices"]:
            assert tuple(action.choices) == tuple(f.metadata["choices"])
    assert "--max-rate" in by_dest["sleep_max_rate_hz"].option_strings  # the old spelling still works


def test_methods_help_lists_every_method():
    action = next(a for a in _subparser("run")._actions if a.dest == "methods")
    for method in LEARNERS:
        assert method in action.help
    assert "+src" in action.help


def test_cli_docs_document_only_existing_flags():
    """The hand-written part of docs/cli.md (the reference below it is generated from the parser)."""
    section = (ROOT / "docs" / "cli.md").read_text()
    section = section[:section.index("## Reference")]
    subs = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)][0].choices
    flags = {s for p in [build_parser(), *subs.values()] for a in p._actions for s in a.option_strings}
    for flag in set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", section)):
        assert flag in flags, f"docs/cli.md documents {flag}, which does not exist"
    assert "--fresh" in section and "--overwrite" not in section


# ----------------------------------------------------------- config merging
def _cfg(tmp_path, text, *flags):
    path = tmp_path / "c.toml"
    path.write_text(text)
    args = build_parser().parse_args(["run", str(path), *flags])
    return ExperimentConfig.from_dict(config_data_from_args(args))


def test_preset_flag_overrides_only_the_preset_fields(tmp_path):
    cfg = _cfg(tmp_path, "[sleep]\npreset = 'mnist'\nsteps_first = 7\nsteps_per_task = 3\ndecay = 0.99\ninc = 0.5\n",
               "--preset", "fashion-mnist")
    fashion = PRESETS["fashion-mnist"]
    assert (cfg.sleep.steps_first, cfg.sleep.steps_per_task, cfg.sleep.decay) == (7, 3, 0.99)
    assert cfg.sleep.inc == fashion["inc"] and cfg.sleep.max_rate_hz == fashion["max_rate_hz"]
    assert cfg.sleep.beta == tuple(fashion["beta"])


def test_sleep_flag_overrides_one_field_after_the_preset(tmp_path):
    cfg = _cfg(tmp_path, "[sleep]\nsteps_first = 7\n", "--preset", "fashion-mnist", "--inc", "0.25",
               "--max-rate", "100")
    assert cfg.sleep.inc == 0.25 and cfg.sleep.max_rate_hz == 100.0 and cfg.sleep.steps_first == 7
    assert cfg.sleep.dec == PRESETS["fashion-mnist"]["dec"]


def test_plasticity_gain_flag_sets_one_gain_per_layer(tmp_path):
    cfg = _cfg(tmp_path, "[sleep]\npreset = 'fashion-mnist'\n", "--plasticity-gain", "1", "0.5", "0")
    assert cfg.sleep.plasticity_gain == (1.0, 0.5, 0.0) and cfg.sleep.inc == PRESETS["fashion-mnist"]["inc"]


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "-1"], "experiment.seeds[0]"),
    (["--plasticity-gain", "1", "1"], "sleep.plasticity_gain has 2 values for 3 layers"),
    (["--plasticity-gain", "1", "-1", "1"], "sleep.plasticity_gain[1]"),
    (["--steps-first", "-5"], "sleep.steps_first"),
    (["--decay", "1.5"], "sleep.decay"),
    (["--inc", "nan"], "sleep.inc"),
    (["--methods", "src", "sequential+src"], "same method twice"),
    (["--sizes", "784", "0", "10"], "experiment.sizes[1]"),
])
def test_bad_run_flags_exit_2_naming_the_field(tmp_path, capsys, flags, message):
    code, _, err = run_main(capsys, "run", "--out", tmp_path / "o", "--no-progress", *flags)
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_argparse_refuses_non_integers(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--seeds", "1.5", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and "invalid int value" in capsys.readouterr().err


def test_verbose_prints_the_traceback(tmp_path, capsys):
    for argv in (["-v", "run", str(tmp_path / "missing.toml")], ["run", "-v", str(tmp_path / "missing.toml")]):
        code, _, err = run_main(capsys, *argv)
        assert code == 2 and "Traceback" in err and "ConfigFileError" in err
        assert err.strip().splitlines()[-1].startswith("sleep-replay run: error: cannot read config file")


def test_directory_as_config_file(tmp_path, capsys):
    code, _, err = run_main(capsys, "run", tmp_path)
    assert code == 2 and "is a directory" in err


def test_unexpected_exceptions_are_not_hidden(monkeypatch, tmp_path):
    """A plain ValueError is a bug, not bad input: it propagates with its traceback."""
    import bridge.cli

    def broken(args):
        raise ValueError("a bug")

    monkeypatch.setitem(bridge.cli.COMMANDS, "run", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["run", "--out", str(tmp_path)])


# ------------------------------------------------------------------ patches
PATCHES_TOML = "[patches]\noverlaps = [1]\ntrials = 1\n[sleep]\nsteps_first = 10\n"


@pytest.mark.parametrize("flags, message", [
    (["--engine", "nope"], "patches.engine"),
    (["--seeds", "1"], "--seeds"),
    (["--dataset", "mnist"], "--dataset"),
    (["--preset", "mnist"], "--preset"),
    (["--dtype", "float32"], "--dtype"),
])
def test_patches_config_refuses_flags_it_cannot_honour(tmp_path, capsys, flags, message):
    (tmp_path / "p.toml").write_text(PATCHES_TOML)
    code, _, err = run_main(capsys, "run", tmp_path / "p.toml", "--out", tmp_path / "o", "--no-progress", *flags)
    assert code == 2 and message in err, err
    assert not (tmp_path / "o" / "summary.json").exists()


def test_patches_config_honours_engine_and_sleep_flags(tmp_path):
    from bridge.params import read_config

    (tmp_path / "p.toml").write_text(PATCHES_TOML)
    args = build_parser().parse_args(["run", str(tmp_path / "p.toml"), "--engine", "dense", "--inc", "0.01",
                                      "--steps-first", "20"])
    cfg = PatchesConfig.from_dict(patches_data_from_args(args, read_config(tmp_path / "p.toml")))
    assert cfg.engine == "dense" and cfg.sleep.inc == 0.01 and cfg.sleep.steps_first == 20
    assert cfg.sleep.max_rate_hz == PRESETS["patches"]["max_rate_hz"]  # the rest: the patches preset


# --------------------------------------------------------------- conformance
@pytest.fixture(scope="module")
def small_trace(golden_dir):
    from tests.conftest import GOLDEN_FILES
    return dict(np.load(golden_dir / GOLDEN_FILES[0]))


@pytest.mark.parametrize("key, value, message", [
    ("window", lambda d: d["window"].astype(np.float64) + 0.5, "window must hold integers"),
    ("steps", lambda d: np.float64(float(d["steps"]) + 0.5), "steps must hold integers"),
    ("mask_size", lambda d: np.float64(10.7), "mask_size must hold integers"),
    ("window", lambda d: d["window"] + 100, "window origins must lie in"),
    ("uniforms", lambda d: d["uniforms"] + np.float32(1.0), "uniforms must lie in [0, 1)"),
    ("inc", lambda d: np.float64(-1.0), "sleep.inc"),
])
def test_malformed_trace_exits_2_never_1(tmp_path, capsys, small_trace, key, value, message):
    d = dict(small_trace)
    d[key] = value(d)
    path = tmp_path / "bad.npz"
    np.savez(path, **d)
    with pytest.raises(TraceError, match=re.escape(message)):
        params_from_trace(load_trace(path))
    code, out, err = run_main(capsys, "conformance", path)
    assert code == 2 and message in err and "FAIL" not in out, err


# -------------------------------------------------------------------- SIGINT
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_exits_130_and_leaves_no_partial_file(tmp_path, signum):
    """Ctrl-C, or SIGTERM (kill, a batch system's time limit), stops the run cleanly."""
    out = tmp_path / "o"
    cfg = tmp_path / "c.toml"
    cfg.write_text("[experiment]\nseeds = [0, 1, 2, 3]\nmethods = ['sequential']\nupdates_per_task = 400\n"
                   "sizes = [784, 64, 10]\n[sleep]\nbeta = [1.0, 1.0]\n")
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", str(cfg), "--out", str(out), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out / "config.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    time.sleep(1.0)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    for path in out.rglob("*"):
        assert not (path.is_file() and path.name.startswith(".") and path.name != ".lock"), f"leftover {path}"
        if path.suffix == ".json":
            json.loads(path.read_text())  # every written file is whole
