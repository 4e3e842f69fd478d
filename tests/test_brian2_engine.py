"""The Brian2 engine against the fast engine: same input spikes, same spikes and weights.

Acceptance of issue 3: spike counts per step per layer equal, weights within 1e-9
(float64), on a small network and on a trained 784-1200-1200-10 network for 1000
steps, in runtime (Cython; NumPy for the small network) and cpp_standalone code
generation. What every engine must do (small networks against the dense reference
in every code generation target, runs in pieces, golden traces, bad input) is in
``test_engine_contract.py``; here: the Brian2 engine's own options and pitfalls.
Compiled code is cached in ``.cache/brian2`` of the working directory (or
``$SLEEP_REPLAY_BRIAN2_CACHE``): with a warm cache these tests take about 1.5 min on
2 cores; a cold cache adds about 1.5 min of Cython and 1.5 min of C++ compilation.
"""
import numpy as np
import pytest
import torch

import bridge
import snn
from ann import SleepMLP, TrainConfig, class_incremental_tasks, load_mnist_subset, train_task
from snn.brian2 import Brian2Engine, compiler_problem

from .conftest import GOLDEN_FILES, random_input, random_network

# Brian2 builds compile code: the slow tier (make test runs it, make test-quick does not)
pytestmark = pytest.mark.slow

WEIGHT_TOL = 1e-9


def run(engine_name, network, spikes, **options):
    eng = snn.get_engine(engine_name, **options)
    eng.build(network.copy())
    return eng, eng.run(spikes)


def assert_same(fast, other, tol=WEIGHT_TOL, spikes=True):
    np.testing.assert_array_equal(other.counts, fast.counts)
    for a, b in zip(fast.totals, other.totals):
        np.testing.assert_array_equal(a, b)
    for wf, wb in zip(fast.weights, other.weights):
        assert wb.shape == wf.shape and wb.dtype == wf.dtype
        assert np.abs(wf - wb).max() <= tol
    if spikes and fast.spikes is not None and other.spikes is not None:
        for a, b in zip(fast.spikes, other.spikes):
            assert a == b


# ------------------------------------------------------------ small network
# the monitors are the same Brian2 objects in every runtime target: NumPy code generation checks them
# without compiling Cython extensions that no other test needs (a recorded subset adds 7 to the 43 of
# a default build); that Cython runs what NumPy runs is the engine contract's test. cpp_standalone is
# the other device, with its own monitor readout.
@pytest.mark.parametrize("codegen", ["numpy", "cpp_standalone"])
def test_monitor_subsets_and_voltage_traces(codegen):
    net, spikes = random_network(), random_input(steps=250)
    _, fast = run("fast", net, spikes)
    subset = [1, 4, 7, 11]
    eng, res = run("brian2", net, spikes, codegen=codegen, record_neurons={"hidden1": subset},
                   record_v={"hidden1": [0, 4], "output": [2]})
    assert_same(fast, res, spikes=False)  # counts and totals still cover every neuron
    keep = np.isin(fast.spikes[1].indices, subset)
    rec = res.spikes[1]
    np.testing.assert_array_equal(rec.indices, fast.spikes[1].indices[keep])
    np.testing.assert_array_equal(rec.steps_of_spikes, fast.spikes[1].steps_of_spikes[keep])
    assert res.spikes[2] == fast.spikes[2]
    # the voltage is recorded after integration, before threshold: it crosses exactly when the neuron fires
    for name, l in (("hidden1", 1), ("output", 3)):
        trace = eng.voltage_traces[name]
        assert trace.v.shape == (spikes.steps, trace.indices.size)
        fired = fast.spikes[l].to_dense()[:, trace.indices]
        np.testing.assert_array_equal(trace.v >= net.threshold[l - 1], fired)
    assert fired.any()


def test_two_engines_alive_at_once():
    net_a, net_b = random_network(seed=0), random_network(seed=3)
    spikes = random_input(steps=150)
    a = snn.get_engine("brian2").build(net_a.copy())
    b = snn.get_engine("brian2").build(net_b.copy())
    ra, rb = a.run(spikes), b.run(spikes)
    assert_same(run("fast", net_a, spikes)[1], ra)
    assert_same(run("fast", net_b, spikes)[1], rb)


# that a cpp_standalone run restores Brian2's global device and preferences is checked by
# test_engine_contract.py::test_spikes_and_weights_equal_dense (every Brian2 code generation target)


def test_cache_dir_is_project_controlled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLEEP_REPLAY_BRIAN2_CACHE", raising=False)
    assert Brian2Engine().cache_dir == tmp_path / ".cache" / "brian2"
    monkeypatch.setenv("SLEEP_REPLAY_BRIAN2_CACHE", str(tmp_path / "elsewhere"))
    assert Brian2Engine().cache_dir == tmp_path / "elsewhere"
    assert Brian2Engine(cache_dir=tmp_path / "x").cache_dir == tmp_path / "x"


# ------------------------------------------------------------ trained 784-1200-1200-10
@pytest.fixture(scope="module")
def trained_sleep():
    """A quickly trained 784-1200-1200-10 network and 1000 steps of realistic sleep input."""
    data = load_mnist_subset()
    task = class_incremental_tasks(data)[0]
    model = SleepMLP((784, 1200, 1200, 10), generator=torch.Generator().manual_seed(0))
    train_task(model, task.x_train, task.y_train, TrainConfig(epochs=1), seed=0)
    params = bridge.preset("mnist")
    spec = bridge.build_sleep_network(model, task.x_train, params)
    spikes = bridge.make_input_spikes(spec.mean_image, params, 1000, seed=0)
    _, fast = run("fast", spec.network, spikes)
    return spec.network, spikes, fast


@pytest.mark.parametrize("codegen", ["cython", "cpp_standalone"])
def test_trained_784_1200_1200_10_matches_fast_engine(trained_sleep, codegen):
    network, spikes, fast = trained_sleep
    assert network.sizes == [784, 1200, 1200, 10] and spikes.steps >= 1000
    assert fast.counts[:, 1].sum() > 100 and fast.counts[:, 2].sum() > 100, "sleep activity expected"
    _, res = run("brian2", network, spikes, codegen=codegen)
    assert_same(fast, res)


# ------------------------------------------------------------ front door and golden traces
def test_front_door_gives_the_same_slept_model():
    data = load_mnist_subset()
    task = class_incremental_tasks(data, max_train_per_task=200)[0]
    model = SleepMLP((784, 40, 30, 10), generator=torch.Generator().manual_seed(1))
    train_task(model, task.x_train, task.y_train, TrainConfig(epochs=2), seed=0)
    params = bridge.preset("mnist").replace(beta=(4.0, 6.0, 6.0))
    fast = bridge.sleep(model, task.x_train, params, steps=400, engine="fast", seed=3)
    b2out = bridge.sleep(model, task.x_train, params, steps=400, engine="brian2", seed=3)
    assert fast.result.counts[:, 1:].sum() > 0
    np.testing.assert_array_equal(b2out.result.counts, fast.result.counts)
    for lf, lb in zip(fast.model.linears, b2out.model.linears):
        np.testing.assert_array_equal(lb.weight.detach().numpy(), lf.weight.detach().numpy())


def test_golden_trace_cli(golden_dir):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "conformance", str(golden_dir / GOLDEN_FILES[1]),
                           "--engine", "brian2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout


# ------------------------------------------------------------ bad input
def test_unknown_names_and_options():
    with pytest.raises(ValueError, match="unknown codegen 'weave'"):
        snn.get_engine("brian2", codegen="weave")
    with pytest.raises(ValueError, match="unknown fallback codegen"):
        snn.get_engine("brian2", codegen="cython", fallback="gpu")
    with pytest.raises(ValueError, match="unknown layer 'hidden9'"):
        snn.get_engine("brian2", record_v={"hidden9": [0]}).build(random_network())
    with pytest.raises(ValueError, match=r"must lie in \[0, 20\)"):
        snn.get_engine("brian2", record_neurons={"hidden1": [20]}).build(random_network())


def test_option_errors_are_typed(tmp_path, monkeypatch):
    with pytest.raises(snn.errors.EngineOptionError, match="unknown codegen 'weave'.*cpp_standalone"):
        Brian2Engine(codegen="weave")
    with pytest.raises(snn.errors.EngineOptionError, match="unknown fallback codegen 'gpu'"):
        Brian2Engine(fallback="gpu")
    with pytest.raises(snn.errors.EngineOptionError, match="unknown layer 'input'"):
        Brian2Engine(record_neurons={"input": [0]}).build(random_network())
    with pytest.raises(snn.errors.EngineOptionError, match="neuron subset for layer 'output' is empty"):
        Brian2Engine(record_v={"output": []}).build(random_network())
    with pytest.raises(snn.errors.EngineStateError, match="build"):
        Brian2Engine().weights
    monkeypatch.setenv("PATH", str(tmp_path))  # no make, no g++
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(snn.errors.ToolNotFoundError, match=r"'make' and 'g\+\+'"):
        Brian2Engine(codegen="cpp_standalone").build(random_network())


def test_missing_brian2_names_the_extra():
    """Without Brian2 the registry reports the missing "brian2" extra, not another error."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['brian2'] = None\n"
            "import snn\n"
            "try:\n    snn.get_engine('brian2')\n"
            "except snn.errors.MissingExtraError as exc:\n    print('MissingExtraError:', exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "MissingExtraError: engine 'brian2' needs the 'brian2' extra" in proc.stdout
    assert 'pip install "sleep-replay[brian2]"' in proc.stdout


@pytest.mark.parametrize("codegen", ["cpp_standalone", "cython"])
def test_missing_compiler(codegen, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no make, no g++
    monkeypatch.delenv("CXX", raising=False)
    assert compiler_problem(codegen) is not None and compiler_problem("numpy") is None
    with pytest.raises(RuntimeError, match="not available.*fallback='numpy'"):
        snn.get_engine("brian2", codegen=codegen).build(random_network())
    # fall back only when asked to
    net, spikes = random_network(), random_input(steps=100)
    eng, res = run("brian2", net, spikes, codegen=codegen, fallback="numpy")
    assert eng.codegen == "numpy" and eng.requested_codegen == codegen
    assert_same(run("fast", net, spikes)[1], res)


def test_run_cli_brian2_gives_the_same_summary_as_fast(tmp_path, capsys):
    """`sleep-replay run --engine brian2` reproduces the fast engine's accuracies (in this process:
    the entry point as a process is tested by ``test_golden_trace_cli``)."""
    import json

    from bridge.cli import main

    (tmp_path / "c.toml").write_text("""
[experiment]
sizes = [784, 64, 48, 10]
init_range = 0.1
seeds = [0]
methods = ["src"]
class_groups = [[0, 1], [2, 3]]
max_train_per_task = 200
updates_per_task = 20
[sleep]
preset = "mnist"
beta = [2.0, 4.0, 4.0]
steps_first = 200
steps_per_task = 60
""")
    finals = {}
    for engine in ("fast", "brian2"):
        out = tmp_path / engine
        code = main(["run", str(tmp_path / "c.toml"), "--engine", engine, "--out", str(out), "--no-progress"])
        assert code == 0, capsys.readouterr().err
        cell = json.loads((out / "cells" / "src" / "seed_0.json").read_text())
        finals[engine] = (cell["accuracy_matrix"], cell["sleep_spikes_per_step"])
    assert sum(sum(c[1:]) for c in finals["fast"][1]) > 0, "the test network must spike in its hidden layers"
    assert finals["brian2"] == finals["fast"]
