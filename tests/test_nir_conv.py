"""NIR export of convolutional sleep networks (Conv2d, pooling, Flatten, LIF), checked in snnTorch."""
from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch

import snn
from bridge.nir_check import compare_records, run_snntorch
from snn.errors import InvalidNetworkError
from snn.export.nir import SNNTORCH_DT, from_nir, read_nir, to_nir, write_nir

from .test_conv_network import GEOMETRIES, conv_network, input_for


def frozen(net: snn.SleepNetwork) -> snn.SleepNetwork:
    net = net.copy()
    net.plasticity_gain = np.zeros(net.n_layers)
    return net


def engine_spikes(net, spikes, dtype):
    return snn.get_engine("fast", dtype=dtype).build(frozen(net)).run(spikes).spikes


def test_conv_graph_nodes_shapes_and_weights():
    net = conv_network(geometry=GEOMETRIES[1])   # conv (4x3 kernel, stride (2, 1), padding (0, 2)) - pool - conv - fc
    g = to_nir(net, "snntorch")
    assert list(g.nodes) == ["input", "conv1", "lif1", "pool2", "lif2", "conv3", "lif3", "flatten4", "fc4", "lif4",
                             "output"]
    assert list(g.nodes["input"].input_type["input"]) == [1, 10, 8]
    conv = g.nodes["conv1"]
    assert isinstance(conv, nir.Conv2d) and tuple(conv.stride) == (2, 1) and tuple(conv.padding) == (0, 2)
    assert conv.groups == 1 and tuple(conv.dilation) == (1, 1) and np.all(conv.bias == 0)
    np.testing.assert_array_equal(conv.weight, net.alpha[0] * net.weights[0])
    assert list(conv.output_type["output"]) == list(net.layers[0].out_shape)
    assert g.nodes["lif1"].v_threshold.shape == net.layers[0].out_shape
    pool = g.nodes["pool2"]   # channel c -> channel c only, alpha * 1/4 on the window
    c = net.layers[1].in_shape[0]
    assert isinstance(pool, nir.Conv2d) and pool.weight.shape == (c, c, 2, 2) and tuple(pool.stride) == (2, 2)
    np.testing.assert_array_equal(pool.weight[np.arange(c), np.arange(c)], np.full((c, 2, 2), net.alpha[1] / 4))
    assert np.count_nonzero(pool.weight) == c * 4
    flat = g.nodes["flatten4"]
    assert flat.start_dim == 0 and list(flat.output_type["output"]) == [net.layers[3].n_in]
    np.testing.assert_array_equal(g.nodes["fc4"].weight, net.alpha[3] * net.weights[3])
    meta = json.loads(g.metadata["sleep_replay"])
    assert [x["kind"] for x in meta["layers"]] == ["conv", "pool", "conv", "dense"] and meta["pool"] == "conv"
    # the generic reading: AvgPool2d, the layer's gain alpha in the neuron node's r
    g = to_nir(net, "generic")
    pool, lif = g.nodes["pool2"], g.nodes["lif2"]
    assert isinstance(pool, nir.AvgPool2d) and list(pool.kernel_size) == [2, 2] and list(pool.stride) == [2, 2]
    np.testing.assert_allclose(lif.r * 1e-3 / lif.tau, net.alpha[1], rtol=1e-12)


def test_dense_graphs_are_unchanged_by_the_conv_export():
    from .conftest import random_network
    g = to_nir(random_network(), "snntorch")
    assert list(g.nodes) == ["input", "fc1", "lif1", "fc2", "lif2", "fc3", "lif3", "output"]
    assert "layers" not in json.loads(g.metadata["sleep_replay"])


@pytest.mark.parametrize("pool", ["conv", "avgpool"])
def test_conv_round_trip_and_files(tmp_path, pool):
    net = conv_network(geometry=GEOMETRIES[0], mode="sequential")
    back = from_nir(read_nir(write_nir(tmp_path / "c.nir", net, target="generic", pool=pool)))
    assert [type(x) for x in back.layers] == [type(x) for x in net.layers] and back.layers == net.layers
    assert back.layer_names == net.layer_names and back.kernel_update == "sequential"
    np.testing.assert_array_equal(back.plasticity_gain, net.plasticity_gain)
    np.testing.assert_array_equal(back.threshold, net.threshold)
    for a, b in zip(back.weights, net.weights):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)


def test_conv_export_errors():
    net = conv_network()
    with pytest.raises(InvalidNetworkError, match="pool must be one of"):
        to_nir(net, "snntorch", pool="max")
    with pytest.raises(InvalidNetworkError, match="target="):
        to_nir(net)
    odd = net.copy()
    odd.weights[1] = np.array([[0.2, 0.3], [0.25, 0.25]])
    with pytest.raises(InvalidNetworkError, match="non-uniform weights.*pool='conv'"):
        to_nir(odd, "generic")
    g = to_nir(net, "generic")
    g.nodes["pool2"] = nir.Scale(scale=np.ones(3))   # not what to_nir writes for a pool layer
    with pytest.raises(InvalidNetworkError, match="do not form a pool layer"):
        from_nir(g)


@pytest.mark.slow
@pytest.mark.parametrize("geometry", range(len(GEOMETRIES)))
def test_snntorch_spikes_equal_the_engine_on_random_conv_networks(geometry):
    """snnTorch's own import (float32) gives the fast engine's float32 spikes, every layer,
    for both forms of pooling; float64 (weights, beta and thresholds reloaded) the float64 ones."""
    net = conv_network(seed=geometry, geometry=GEOMETRIES[geometry])
    spikes = input_for(net, steps=120)
    ref32, ref64 = engine_spikes(net, spikes, "float32"), engine_spikes(net, spikes, "float64")
    assert all(r.indices.size > 0 for r in ref32)
    for graph, dtype, ref in [(to_nir(net, "snntorch"), torch.float32, ref32),
                              (to_nir(net, "snntorch", pool="avgpool"), torch.float32, ref32),
                              (to_nir(net, dt=SNNTORCH_DT, pool="conv"), torch.float64, ref64)]:
        agreement = compare_records(ref, run_snntorch(graph, spikes, dtype=dtype), net.layer_names)
        assert [a.n_diff for a in agreement] == [0] * len(agreement), agreement


@pytest.mark.slow
def test_snntorch_spikes_equal_the_engine_on_a_trained_cnn():
    """The acceptance check of issue 26: a SleepCNN trained briefly, converted through the
    bridge, exported for snnTorch: 0 differing spike events in every layer."""
    import ann
    import bridge
    from bridge.sleep_input import make_input_spikes
    tasks = ann.class_incremental_tasks(ann.load_mnist_subset(), [(0, 1)])
    model = ann.SleepCNN(channels=(4, 8), generator=torch.Generator().manual_seed(0))
    ann.train_task(model, tasks[0].x_train, tasks[0].y_train, ann.TrainConfig(epochs=2), seed=0)
    params = bridge.preset("mnist").replace(beta=(2.0, 1.0, 2.0, 1.0, 2.0))
    spec = bridge.build_sleep_network(model, tasks[0].x_train, params)
    net = spec.network
    assert [x.kind for x in net.layers] == ["conv", "pool", "conv", "pool", "dense"]
    spikes = make_input_spikes(spec.mean_image, params, 100, seed=3)
    ref = engine_spikes(net, spikes, "float32")
    got = run_snntorch(to_nir(net, "snntorch"), spikes)
    agreement = compare_records(ref, got, net.layer_names)
    assert all(a.n_a > 0 for a in agreement), agreement
    assert [a.n_diff for a in agreement] == [0] * len(agreement), agreement
