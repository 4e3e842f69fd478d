"""snn.export.nir: the frozen sleep network as a NIR graph, checked in snnTorch."""
import json
import math

import nir
import numpy as np
import pytest
import torch

import snn
from bridge.nir_check import compare_records, run_snntorch
from snn.errors import InvalidNetworkError, OutputExistsError, SpikeFileError
from snn.export.nir import (
    SNNTORCH_DT, from_nir, inclusive_threshold, read_nir, strict_threshold, tau_from_decay, to_nir, write_nir,
)

from .conftest import random_input, random_network


def frozen(net: snn.SleepNetwork) -> snn.SleepNetwork:
    net = net.copy()
    net.inc = net.dec = 0.0
    return net


def fast_spikes(net, spikes, dtype="float64"):
    return snn.get_engine("fast", dtype=dtype).build(frozen(net)).run(spikes).spikes


def test_graph_structure_and_mapping():
    net = random_network()
    g = to_nir(net, "generic")
    assert [type(g.nodes[k]).__name__ for k in ("input", "fc1", "lif1", "fc3", "lif3", "output")] == \
        ["Input", "Linear", "LIF", "Linear", "LIF", "Output"]
    assert ("lif1", "fc2") in g.edges and ("lif3", "output") in g.edges
    for l, w in enumerate(net.weights, start=1):
        assert np.array_equal(g.nodes[f"fc{l}"].weight, net.alpha[l - 1] * w)
        lif = g.nodes[f"lif{l}"]
        dt = net.dt_ms * 1e-3
        assert np.allclose(lif.tau, dt / (1 - net.decay), rtol=1e-14)
        assert np.allclose(lif.r * dt / lif.tau, 1.0, rtol=1e-14)
        assert np.all(lif.v_reset == 0) and np.all(lif.v_leak == 0)
        th = net.threshold[l - 1]
        # strict '>' at the float64 just below the threshold is '>=' at the threshold
        assert np.all(lif.v_threshold < th) and np.all(np.nextafter(lif.v_threshold, np.inf) == th)


def test_leak_mappings_and_no_leak():
    assert tau_from_decay(0.999, 1e-3, "euler") == pytest.approx(1.0)
    assert tau_from_decay(0.999, 1e-3, "exp") == pytest.approx(0.9995, rel=1e-6)
    net = random_network()
    net.decay = 1.0
    g = to_nir(net, "generic")
    assert isinstance(g.nodes["lif1"], nir.IF)
    assert from_nir(g).decay == 1.0
    with pytest.raises(InvalidNetworkError, match="leak must be one of"):
        to_nir(net, "generic", leak="rk4")


def test_strict_threshold_float32():
    th = 0.1  # not a float32 number
    v_thr = strict_threshold(th, "float32")
    c32 = np.float32(th) if float(np.float32(th)) >= th else np.nextafter(np.float32(th), np.float32(np.inf))
    for v in (np.nextafter(c32, np.float32(-np.inf)), c32, np.nextafter(c32, np.float32(np.inf))):
        assert bool(v > np.float32(v_thr)) == bool(v >= th)
    assert inclusive_threshold(strict_threshold(0.7)) == 0.7


def test_round_trip_same_network(tmp_path):
    net = random_network(rule="plain")
    net.layer_names = ["pixels", "h1", "h2", "classes"]
    for g in (to_nir(net, "generic"), read_nir(write_nir(tmp_path / "net.nir", net, target="generic"))):
        back = from_nir(g)
        for name in ("decay", "inc", "dec", "rule", "dt_ms", "layer_names", "sizes"):
            assert getattr(back, name) == getattr(net, name), name
        assert np.array_equal(back.alpha, net.alpha) and np.array_equal(back.threshold, net.threshold)
        for a, b in zip(back.weights, net.weights):
            assert np.allclose(a, b, rtol=4e-16, atol=0)
        spikes = random_input()
        assert all(x == y for x, y in zip(fast_spikes(net, spikes), fast_spikes(back, spikes)))


def test_round_trip_float32_threshold_keeps_exact_threshold():
    net = random_network()
    net.threshold = np.array([0.1, 0.3, 0.7])
    back = from_nir(to_nir(net, threshold_precision="float32", dt=SNNTORCH_DT))
    assert np.array_equal(back.threshold, net.threshold)


def test_foreign_graph_without_metadata():
    """A graph made elsewhere: r dt / tau folds into the weights, alpha = 1."""
    w = np.array([[0.5, -0.25], [1.0, 0.75], [0.1, 0.2]])
    tau, dt = 0.02, 1e-3
    n = 3
    g = nir.NIRGraph(
        nodes={"in": nir.Input(input_type=np.array([2])), "w": nir.Linear(weight=w),
               "n": nir.LIF(tau=np.full(n, tau), r=np.full(n, 2 * tau / dt), v_leak=np.zeros(n),
                            v_threshold=np.full(n, 0.5), v_reset=np.zeros(n)),
               "out": nir.Output(output_type=np.array([n]))},
        edges=[("in", "w"), ("w", "n"), ("n", "out")])
    net = from_nir(g)
    assert np.allclose(net.weights[0], 2 * w) and np.array_equal(net.alpha, [1.0])
    assert net.decay == pytest.approx(1 - dt / tau) and net.threshold[0] == np.nextafter(0.5, 1)
    assert from_nir(g, leak="exp").decay == pytest.approx(math.exp(-dt / tau))


def test_unsupported_graphs():
    net = random_network(sizes=(6, 4, 3))
    g = to_nir(net, "generic")
    g.nodes["lif1"].v_threshold[0] += 0.1
    with pytest.raises(InvalidNetworkError, match="same for every neuron"):
        from_nir(g)
    g = to_nir(net, "generic")
    g.nodes["lif2"].v_leak[:] = -0.1
    with pytest.raises(InvalidNetworkError, match="v_leak must be 0"):
        from_nir(g)
    g = to_nir(net, "generic")
    g.nodes["fc2"] = nir.Scale(scale=np.ones(3))
    with pytest.raises(InvalidNetworkError, match="expected Linear"):
        from_nir(g)
    g = to_nir(net, "generic")
    g.edges.append(("lif1", "output"))
    with pytest.raises(InvalidNetworkError, match="not a chain"):
        from_nir(g)
    with pytest.raises(TypeError, match="needs a nir.NIRGraph"):
        from_nir(net)


def test_nir_files(tmp_path):
    path = write_nir(tmp_path / "a.nir", random_network(), target="generic")
    with pytest.raises(OutputExistsError):
        write_nir(path, random_network(), target="generic")
    data = path.read_bytes()
    (tmp_path / "cut.nir").write_bytes(data[: len(data) // 3])
    with pytest.raises(SpikeFileError, match="not a readable NIR file"):
        read_nir(tmp_path / "cut.nir")
    with pytest.raises(SpikeFileError, match="no such file"):
        read_nir(tmp_path / "none.nir")


# ----------------------------------------------------- checked in snnTorch
@pytest.mark.parametrize("precision,dtype,engine_dtype", [
    ("float64", torch.float64, "float64"), ("float32", torch.float32, "float32"),
])
def test_snntorch_spikes_equal_frozen_engine(precision, dtype, engine_dtype):
    net = frozen(random_network())
    spikes = random_input(steps=300)
    graph = to_nir(net, dt=SNNTORCH_DT, threshold_precision=precision)
    got = run_snntorch(graph, spikes, dtype=dtype)
    ref = fast_spikes(net, spikes, engine_dtype)
    assert ref[-1].indices.size > 0
    agreement = compare_records(ref, got, net.layer_names)
    assert all(a.equal for a in agreement), agreement


def test_snntorch_threshold_compensation_matters():
    """Potentials that land exactly on the threshold: '>=' fires, NIR's raw '>' would not."""
    net = snn.SleepNetwork(weights=[np.full((3, 4), 0.25), np.full((2, 3), 0.125)], alpha=[1.0, 1.0],
                           threshold=[1.0, 0.375], decay=0.5, inc=0.0, dec=0.0)
    spikes = snn.SpikeRecord.from_dense(np.ones((6, 4), dtype=bool))
    ref = fast_spikes(net, spikes)
    assert ref[1].counts[0] == 3 and ref[2].counts[0] == 2
    graph = to_nir(net, dt=SNNTORCH_DT, threshold_precision="float32")
    assert all(a == b for a, b in zip(ref, run_snntorch(graph, spikes)))
    for l in (1, 2):  # without the compensation the first step is silent
        graph.nodes[f"lif{l}"].v_threshold = np.full(graph.nodes[f"lif{l}"].v_threshold.size, net.threshold[l - 1])
    assert run_snntorch(graph, spikes)[1].counts[0] == 0


# ----------------------------------------------------- the importer is part of an export (issue 25, point 13)
def test_default_export_is_not_silently_wrong_in_snntorch():
    """``to_nir(net)`` used to write dt = 1 ms, which snnTorch imports without a word and
    runs with other spikes (795/61/0 instead of 8284/8374/168 per layer on the trained
    network). An export now names its importer; the snnTorch target gives its spikes
    exactly, and what the 1 ms graph would do there is measured, not assumed."""
    net = frozen(random_network())
    spikes = random_input(steps=300)
    with pytest.raises(InvalidNetworkError, match="target='snntorch'"):
        to_nir(net)
    with pytest.raises(InvalidNetworkError, match="target="):
        write_nir("unused.nir", net)
    with pytest.raises(InvalidNetworkError, match="unknown NIR target 'loihi'"):
        to_nir(net, "loihi")
    ref = fast_spikes(net, spikes, "float32")
    graph = to_nir(net, "snntorch")
    assert all(a.equal for a in compare_records(ref, run_snntorch(graph, spikes), net.layer_names))
    wrong = run_snntorch(to_nir(net, "generic"), spikes)   # a 1 ms graph in snnTorch (its dt is 1e-4 s)
    assert not all(a.equal for a in compare_records(ref, wrong, net.layer_names))
    meta = json.loads(graph.metadata["sleep_replay"])
    assert meta["target"] == "snntorch" and meta["dt"] == SNNTORCH_DT and meta["threshold_precision"] == "float32"


def test_affine_export_with_zero_bias_round_trips():
    net = random_network()
    graph = to_nir(net, "generic", synapse="affine")
    fcs = [graph.nodes[f"fc{l}"] for l in range(1, net.n_layers + 1)]
    assert all(isinstance(fc, nir.Affine) and np.all(fc.bias == 0) for fc in fcs)
    for fc, w, a in zip(fcs, net.weights, net.alpha):
        np.testing.assert_array_equal(fc.weight, a * w)
    back = from_nir(graph)
    for w, b in zip(net.weights, back.weights):
        assert np.abs(w - b).max() <= 1e-15
    with pytest.raises(InvalidNetworkError, match="synapse must be one of"):
        to_nir(net, "generic", synapse="conv")
    explicit = to_nir(net, dt=2e-3, leak="exp")   # no target: an explicit dt is an explicit choice
    assert json.loads(explicit.metadata["sleep_replay"])["target"] is None
