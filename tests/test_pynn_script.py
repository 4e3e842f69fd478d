"""snn.export.pynn_script: a standalone PyNN model (data file + script) of the frozen network."""
import ast
import subprocess
import sys

import numpy as np
import pytest

import snn
from snn.errors import OutputExistsError
from snn.errors import EngineOptionError
from snn.export.pynn_script import SCRIPT, network_arrays, read_pynn_spikes, read_pynn_weights, write_pynn_model

from .conftest import random_input, random_network

#: what the standalone script may import: the standard library, NumPy and PyNN (with NEST,
#: whose module loading and connections the native plasticity uses)
ALLOWED_IMPORTS = {"argparse", "importlib", "os", "shutil", "subprocess", "sys", "warnings", "numpy", "pyNN", "nest"}


def frozen_network() -> snn.SleepNetwork:
    net = random_network()
    net.inc = net.dec = 0.0
    return net


def test_script_needs_only_numpy_and_pynn():
    imported = set()
    for node in ast.walk(ast.parse(SCRIPT)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS
    assert "import_module(f\"pyNN.{args.simulator}\")" in SCRIPT


def test_data_file_in_mv_with_both_threshold_forms(tmp_path):
    net = frozen_network()
    arrays = network_arrays(net)
    for l, w in enumerate(net.weights, start=1):
        assert np.array_equal(arrays[f"weights_{l}"], net.alpha[l - 1] * w)
    assert np.array_equal(arrays["threshold"], net.threshold)
    assert np.array_equal(np.nextafter(arrays["threshold_strict"], np.inf), net.threshold)
    assert np.exp(-net.dt_ms / float(arrays["tau_m_ms"])) == pytest.approx(net.decay, rel=1e-15)
    write_pynn_model(tmp_path, net)
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        write_pynn_model(tmp_path, net)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["network.npz", "run_pynn.py"]


def test_standalone_script_on_nest_reproduces_frozen_spikes(tmp_path):
    net = frozen_network()
    spikes = random_input(steps=300)
    model = tmp_path / "model"
    paths = write_pynn_model(model, net, spikes)
    out = tmp_path / "spikes.npz"
    # run from another folder, as a user would, with the environment's python
    proc = subprocess.run([sys.executable, str(paths["script"]), "--simulator", "nest", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = read_pynn_spikes(out)
    ref = snn.get_engine("fast").build(net).run(spikes).spikes
    assert ref[-1].indices.size > 0 and ref[1].indices.size > 0
    for layer, (a, b) in enumerate(zip(ref, got)):
        assert a == b, f"layer {layer}: {a.indices.size} spikes (fast) vs {b.indices.size} (PyNN script on NEST)"


@pytest.mark.filterwarnings("ignore::UserWarning")   # PyNN's Projection.save uses NEST's old API
def test_projection_save_on_nest_scales_weights_by_1e3(tmp_path):
    """The pitfall docs/neuromorphic.md warns about: PyNN 0.13's ``Projection.save`` on
    NEST writes IF_curr_delta weights 1000x too small; ``network.npz`` holds them in mV."""
    net = frozen_network()
    engine = snn.get_engine("pynn.nest", plasticity="frozen").build(net)
    excitatory = engine.projections[0][0]
    excitatory.save("weight", str(tmp_path / "w.txt"), format="array")
    saved = np.loadtxt(tmp_path / "w.txt")                  # (pre, post), NaN where not connected
    mv = network_arrays(net)["weights_1"].T
    used = ~np.isnan(saved) & (mv > 0)
    assert used.sum() > 10
    assert np.allclose(saved[used], 1e-3 * mv[used], rtol=1e-12)


def run_script(script, tmp_path, out):
    proc = subprocess.run([sys.executable, str(script), "--simulator", "nest", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_standalone_script_runs_the_native_plastic_sleep(tmp_path):
    """plasticity='native': the whole plastic sleep with plain PyNN on NEST (the script
    compiles src_synapse from nest_module/ on its first run): the dense engine's spikes
    in every layer and its slept weights; the same weights as the engine pynn.nest.native,
    to the last bit (the same synapse, the same order of updates)."""
    net = random_network()
    spikes = random_input(steps=300)
    paths = write_pynn_model(tmp_path / "model", net, spikes, plasticity="native")
    assert sorted(p.name for p in (tmp_path / "model" / "nest_module").iterdir()) == ["src_synapse.h",
                                                                                      "srcmodule.cpp"]
    out = tmp_path / "spikes.npz"
    proc = run_script(paths["script"], tmp_path, out)
    assert "compiling NEST's src_synapse" in proc.stdout
    ref = snn.get_engine("dense").build(net.copy()).run(spikes)
    assert ref.counts[:, 1:].sum() > 500
    for layer, (a, b) in enumerate(zip(ref.spikes, read_pynn_spikes(out))):
        assert a == b, f"layer {layer}"
    script_weights = read_pynn_weights(out)
    for a, b in zip(ref.weights, script_weights):
        assert np.abs(a - b).max() <= 1e-12
    native = snn.get_engine("pynn.nest.native").build(net.copy()).run(spikes)
    for layer, (a, b) in enumerate(zip(native.weights, script_weights)):
        assert np.array_equal(a, b), f"layer {layer + 1}: max |dw| {np.abs(a - b).max():.1e}"
    # second run: the module is reused
    assert "compiling" not in run_script(paths["script"], tmp_path, tmp_path / "again.npz").stdout


def test_native_export_carries_the_rule_and_refuses_unknown_modes(tmp_path):
    net = random_network(rule="plain")
    net.plasticity_gain = np.array([1.0, 0.5, 0.0])
    arrays = network_arrays(net, "native")
    assert str(arrays["plasticity"]) == "native" and np.isinf(arrays["w_scale"])
    assert np.array_equal(arrays["inc"], net.inc * net.plasticity_gain)
    assert np.array_equal(arrays["dec"], net.dec * net.plasticity_gain)
    for l, w in enumerate(net.weights, start=1):
        assert np.array_equal(arrays[f"src_weights_{l}"], w)
    assert str(network_arrays(net)["plasticity"]) == "frozen"
    with pytest.raises(EngineOptionError, match="plasticity"):
        write_pynn_model(tmp_path, net, plasticity="exact")
    frozen_out = tmp_path / "frozen.npz"
    np.savez(frozen_out, sizes=np.array([3, 2]))
    with pytest.raises(snn.errors.InvalidSpikesError, match="plasticity='frozen'"):
        read_pynn_weights(frozen_out)
