"""Each optional extra's absence: the feature's user-facing entry point raises
:class:`~snn.errors.MissingExtraError` naming the extra and its ``pip`` command, while the
core keeps working. Absence is simulated in this process by blocking the extra's modules
(``None`` in ``sys.modules``) and forgetting the project modules that imported them;
everything is restored after each test. (The simulators: tests/test_extras.py; a whole
core-only install: tests/test_core_install.py.)"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import bridge
import snn
from ann import SleepMLP
from bridge.cli import main
from snn.errors import MissingExtraError
from .conftest import random_input, random_network


def block(monkeypatch, blocked: list[str], forget: tuple[str, ...] = ()) -> None:
    """Make ``import X`` fail for every module in ``blocked`` (and its submodules), and
    forget the modules under ``forget`` (project modules that hold the blocked ones), also
    as attributes of their parent packages, so the next use imports them again."""
    loaded = dict(sys.modules)
    prefixes = (*blocked, *forget)
    for name in sorted(loaded, reverse=True):
        if not any(name == p or name.startswith(p + ".") for p in prefixes):
            continue
        monkeypatch.delitem(sys.modules, name)
        parent, _, child = name.rpartition(".")
        # only attributes the parent really holds (NEST's module object serves some lazily: nothing to delete)
        if parent in loaded and getattr(loaded[parent], "__dict__", {}).get(child) is loaded[name]:
            monkeypatch.delattr(loaded[parent], child)
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: ImportError on import


def names_extra(info: pytest.ExceptionInfo, extra: str) -> None:
    assert f'pip install "sleep-replay[{extra}]"' in str(info.value), str(info.value)
    assert isinstance(info.value, ImportError)


@pytest.fixture(scope="module")
def slept_result() -> snn.SleepResult:
    engine = snn.get_engine("fast", record_spikes=True)
    engine.build(random_network())
    return engine.run(random_input(steps=50))


def test_tune_extra(monkeypatch, tmp_path, capsys):
    block(monkeypatch, ["optuna", "cmaes", "tomli_w"], forget=("bridge.tuning",))
    with pytest.raises(MissingExtraError) as info:
        bridge.tune("configs/search/tune_subset.toml", tmp_path)
    names_extra(info, "tune")
    # the command is still listed and says what to install, with any arguments (exit 2, one line)
    assert main(["tune", "configs/search/tune_subset.toml", "--trials", "3", "--out", str(tmp_path)]) == 2
    assert main(["rescore", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all('pip install "sleep-replay[tune]"' in line for line in err), err
    assert not any(tmp_path.iterdir())  # nothing ran


def test_dask_extra(monkeypatch, tmp_path):
    block(monkeypatch, ["dask", "distributed"])
    cfg = bridge.ExperimentConfig.from_dict({
        "experiment": {"sizes": [784, 8, 10], "seeds": [0], "class_groups": [[0, 1], [2, 3]],
                       "max_train_per_task": 20, "updates_per_task": 2, "methods": ["sequential"]},
        "sleep": {"beta": [1.0, 1.0]}})
    with pytest.raises(MissingExtraError) as info:
        bridge.run_experiment(cfg, tmp_path / "run", progress=False, workers=2)
    names_extra(info, "dask")
    assert not list((tmp_path / "run").rglob("seed_*.json"))  # no cell ran


def test_neo_extra(monkeypatch, tmp_path, slept_result):
    block(monkeypatch, ["neo", "quantities", "nixio"], forget=("snn.neo_layout", "snn.neo_export"))
    with pytest.raises(MissingExtraError) as info:
        slept_result.to_neo()
    names_extra(info, "neo")
    with pytest.raises(MissingExtraError) as info:
        from snn.neo_export import write_neo  # noqa: F401
    names_extra(info, "neo")


def test_nix_files_need_nixio(monkeypatch, tmp_path, slept_result):
    """With Neo but without nixio, .nix files name the extra; pickled Blocks still work."""
    block(monkeypatch, ["nixio"], forget=("snn.neo_layout", "snn.neo_export"))
    from snn.neo_export import read_neo, write_neo

    with pytest.raises(MissingExtraError) as info:
        write_neo(slept_result, tmp_path / "sleep.nix")
    names_extra(info, "neo")
    assert not (tmp_path / "sleep.nix").exists()
    assert len(read_neo(write_neo(slept_result, tmp_path / "sleep.pkl")).segments) == 1


def test_analysis_extra(monkeypatch, tmp_path, capsys):
    block(monkeypatch, ["scipy", "elephant"], forget=("bridge.analysis",))
    with pytest.raises(MissingExtraError) as info:
        from bridge.analysis import analyze_run  # noqa: F401
    names_extra(info, "analysis")
    assert main(["analyze", str(tmp_path)]) == 2
    assert 'pip install "sleep-replay[analysis]"' in capsys.readouterr().err


@pytest.mark.parametrize("module", ["h5py", "nir"])
def test_export_extra(monkeypatch, tmp_path, module):
    block(monkeypatch, [module], forget=("snn.export", "bridge.nir_check"))
    network = random_network()
    with pytest.raises(MissingExtraError) as info:
        snn.export.save_network(network, tmp_path / "net.h5")
    names_extra(info, "export")
    assert not list(tmp_path.iterdir())
    if module == "nir":  # checking a graph in snnTorch needs nir too
        with pytest.raises(MissingExtraError) as info:
            from bridge.nir_check import run_snntorch  # noqa: F401
        names_extra(info, "export")


def test_core_sleep_needs_no_extra(monkeypatch):
    """bridge.sleep and SleepReplay on the fast and dense engines with every extra blocked."""
    block(monkeypatch, ["optuna", "cmaes", "tomli_w", "dask", "distributed", "neo", "quantities", "nixio",
                        "scipy", "elephant", "h5py", "nir", "brian2", "pyNN", "nest", "snntorch", "nirtorch"])
    model = SleepMLP((784, 8, 10), generator=torch.Generator().manual_seed(0), init_range=0.1)
    x = np.random.default_rng(0).random((20, 784)) * 0.5
    for engine in ("fast", "dense"):
        out = bridge.sleep(model, x, bridge.SleepParams(beta=(0.5, 0.5)), steps=5, engine=engine)
        assert out.result.counts.shape == (5, 3)
    replay = bridge.SleepReplay(bridge.SleepParams(beta=(0.5, 0.5)), engine="fast")
    replay(model, x, steps=5)
    assert replay.tasks_seen == 1
