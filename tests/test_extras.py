"""Install like a library: heavy simulators are extras, and an engine asked for without
its extra fails with an error naming the extra (simulated by blocking the import)."""
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

import bridge
import snn
from ann import SleepMLP
from snn.errors import MissingExtraError

ROOT = Path(__file__).resolve().parents[1]

#: engine name -> (pip extra, top-level simulator modules it needs)
NEEDS = {
    "brian2": ("brian2", ["brian2"]),
    "pynn.nest": ("pynn", ["pyNN", "nest"]),
    "pynn.brian2": ("pynn", ["pyNN", "brian2"]),
}


def block_modules(monkeypatch, engine: str, blocked: list[str]) -> None:
    """Make ``import X`` fail for every blocked module (and forget the engine's own
    modules, so they are imported again), as if the extra were not installed."""
    engine_pkg = snn.ENGINES[engine].target.split(":")[0]
    for name in list(sys.modules):
        if name == engine_pkg or name.startswith(engine_pkg + ".") or any(
                name == b or name.startswith(b + ".") for b in blocked):
            monkeypatch.delitem(sys.modules, name)
    for b in blocked:
        monkeypatch.setitem(sys.modules, b, None)  # None in sys.modules: ImportError on import


@pytest.mark.parametrize("engine", sorted(NEEDS))
def test_missing_extra_error_names_the_extra(monkeypatch, engine):
    extra, blocked = NEEDS[engine]
    assert snn.ENGINES[engine].extra == extra
    block_modules(monkeypatch, engine, blocked)
    model = SleepMLP((784, 8, 10), generator=torch.Generator().manual_seed(0), init_range=0.1)
    x = np.random.default_rng(0).random((20, 784)) * 0.5
    params = bridge.SleepParams(beta=(0.5, 0.5))
    with pytest.raises(MissingExtraError, match=rf'pip install "sleep-replay\[{extra}\]"') as info:
        bridge.sleep(model, x, params, steps=5, engine=engine)
    assert isinstance(info.value, ImportError)


def test_engines_without_extras_still_work_when_simulators_are_blocked(monkeypatch):
    block_modules(monkeypatch, "brian2", ["brian2", "pyNN", "nest"])
    model = SleepMLP((784, 8, 10), generator=torch.Generator().manual_seed(0), init_range=0.1)
    x = np.random.default_rng(0).random((20, 784)) * 0.5
    out = bridge.sleep(model, x, bridge.SleepParams(beta=(0.5, 0.5)), steps=5, engine="fast")
    assert out.result.counts.shape == (5, 3)


def test_pyproject_declares_a_torch_range_and_simulator_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"]
    torch_req = [d for d in deps if d.replace(" ", "").startswith("torch")]
    assert torch_req and all("==" not in d for d in torch_req), torch_req
    simulators = ("brian2", "pynn", "nest-simulator", "nixio")
    assert not [d for d in deps if d.lower().startswith(simulators)], "simulators must be extras"
    extras = project["optional-dependencies"]
    assert any(d.lower().startswith("brian2") for d in extras["brian2"])
    assert {"pynn", "nest-simulator", "brian2"} <= {d.lower().split("=")[0].split(">")[0].split("<")[0].strip()
                                                    for d in extras["pynn"]}
    all_extra = " ".join(extras["all"])
    for name in ("brian2", "pynn", "neo"):
        assert f"sleep-replay[{name}" in all_extra or name in all_extra


def test_makefile_installs_every_extra_for_demo_and_test():
    makefile = (ROOT / "Makefile").read_text()
    assert '.[all,test' in makefile  # every extra and the test tools (and the docs tools)
