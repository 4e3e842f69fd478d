"""Convolution and pooling layers of the sleep network (snn.layers): their semantics against
PyTorch and the unrolled dense network, the kernel update modes, and fast = dense exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import snn
from snn.errors import InvalidNetworkError
from snn.plasticity import weight_factor

#: (input shape, out channels, kernel, stride, padding) of the convolutions tried
GEOMETRIES = [((2, 9, 9), 3, (3, 3), (1, 1), (1, 1)), ((1, 10, 8), 4, (4, 3), (2, 1), (0, 2)),
              ((3, 7, 7), 2, (2, 2), (2, 2), (1, 0))]


def conv_network(seed=0, mode="sum", rule="reference", geometry=GEOMETRIES[0], pool=True, scale=0.4,
                 threshold=(0.8, 0.5, 0.6, 0.6)) -> snn.SleepNetwork:
    """conv - pool - conv - dense with weights straddling 0, busy enough that every layer fires."""
    rng = np.random.default_rng(seed)
    in_shape, c_out, kernel, stride, padding = geometry
    layers = [snn.Conv2d(in_shape, c_out, kernel, stride, padding)]
    if pool:
        layers.append(snn.Pool2d(layers[-1].out_shape, 2))
    layers.append(snn.Conv2d(layers[-1].out_shape, 3, (2, 1), 1, (1, 0)))
    layers.append(snn.Dense(layers[-1].n_out, 5))
    weights = [layer.average_weights() if layer.kind == "pool" else
               rng.normal(0, scale, layer.weight_shape) + rng.normal(0, 0.002, layer.weight_shape)
               for layer in layers]
    n = len(layers)
    return snn.SleepNetwork(weights, alpha=[1.5, 2.0, 2.0, 2.0][:n], threshold=list(threshold)[-n:], decay=0.99,
                            inc=0.05, dec=0.01, rule=rule, layers=layers, kernel_update=mode)


def input_for(net, steps=300, p=0.2, seed=1) -> snn.InputSpikes:
    return snn.SpikeRecord.from_dense(np.random.default_rng(seed).random((steps, net.sizes[0])) < p)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv_and_pool_layers_compute_what_pytorch_computes(geometry):
    in_shape, c_out, kernel, stride, padding = geometry
    rng = np.random.default_rng(0)
    conv = snn.Conv2d(in_shape, c_out, kernel, stride, padding)
    w = rng.normal(size=conv.weight_shape)
    x = rng.random(in_shape)
    want = F.conv2d(torch.tensor(x)[None], torch.tensor(w), stride=stride, padding=padding)[0]
    assert conv.out_shape == tuple(want.shape)
    np.testing.assert_allclose(conv.drive(w, x.ravel()), want.numpy().ravel(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.unroll(w) @ x.ravel(), want.numpy().ravel(), rtol=1e-12, atol=1e-12)
    pool = snn.Pool2d(conv.out_shape, 2)
    h = rng.random(conv.out_shape)
    want = F.avg_pool2d(torch.tensor(h)[None], 2)[0]
    assert pool.out_shape == tuple(want.shape)
    np.testing.assert_allclose(pool.drive(pool.average_weights(), h.ravel()), want.numpy().ravel(), atol=1e-12)
    np.testing.assert_allclose(pool.unroll(pool.average_weights()) @ h.ravel(), want.numpy().ravel(), atol=1e-12)


def test_sum_update_is_the_sum_of_the_unrolled_per_synapse_updates():
    """One step of the 'sum' mode: every kernel weight changes by the sum, over the post spikes,
    of the update its copy in the unrolled network gets (f taken at the same weights)."""
    rng = np.random.default_rng(3)
    conv = snn.Conv2d((2, 6, 6), 3, (3, 3), (1, 1), (1, 1))
    w = rng.normal(0, 0.005, conv.weight_shape)
    pre_on = rng.random(conv.n_in) < 0.4
    fired = np.flatnonzero(rng.random(conv.n_out) < 0.3)
    inc, dec = 0.05, 0.01
    got = w.copy()
    conv.hebbian(got, fired, pre_on, inc, dec, "reference", "sum")
    pre, widx = conv.receptive_field
    want = w.copy().ravel()
    for i in fired:
        for p, k in zip(pre[i], widx[i]):
            if p >= 0:  # the padding has no synapse, and no update
                f = weight_factor(w.ravel()[k:k + 1])[0]
                want[k] += inc * f if pre_on[p] else -dec * f
    np.testing.assert_allclose(got.ravel(), want, rtol=0, atol=1e-15)


def test_sequential_update_takes_post_spikes_one_after_the_other():
    rng = np.random.default_rng(4)
    conv = snn.Conv2d((1, 5, 5), 2, (3, 3), (1, 1), (0, 0))
    w = rng.normal(0, 0.003, conv.weight_shape)
    pre_on = rng.random(conv.n_in) < 0.5
    fired = np.array([0, 4, 8, 9, 17])
    got = w.copy()
    conv.hebbian(got, fired, pre_on, 0.05, 0.01, "reference", "sequential")
    pre, widx = conv.receptive_field
    want = w.copy().ravel()
    for i in fired:
        for p, k in zip(pre[i], widx[i]):
            f = weight_factor(want[k:k + 1])[0]
            want[k] = want[k] + 0.05 * f if pre_on[p] else want[k] - 0.01 * f
    np.testing.assert_array_equal(got.ravel(), want)
    summed = w.copy()
    conv.hebbian(summed, fired, pre_on, 0.05, 0.01, "reference", "sum")
    assert not np.allclose(summed, got)  # the two modes differ when post spikes share a weight


@pytest.mark.parametrize("mode", snn.KERNEL_UPDATES)
@pytest.mark.parametrize("rule", ["reference", "plain"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_fast_equals_dense_on_conv_networks(mode, rule, geometry):
    net = conv_network(mode=mode, rule=rule, geometry=geometry)
    spikes = input_for(net)
    results = []
    for name in ("dense", "fast"):
        eng = snn.get_engine(name, dtype="float64")
        eng.build(net)
        results.append(eng.run(spikes))
    dense, fast = results
    assert (dense.counts[:, 1:].sum(0) > 0).all()  # every layer fires
    np.testing.assert_array_equal(fast.counts, dense.counts)
    for a, b in zip(fast.spikes, dense.spikes):
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
    for l, (a, b) in enumerate(zip(fast.weights, dense.weights)):
        assert a.shape == net.weights[l].shape
        assert np.abs(a - b).max() <= 1e-12, l
    assert any(np.abs(a - w).max() > 1e-3 for a, w in zip(fast.weights, net.weights))  # the kernels learned
    np.testing.assert_array_equal(fast.weights[1], net.weights[1])  # pooling weights are fixed


@pytest.mark.parametrize("mode", snn.KERNEL_UPDATES)
def test_fast_equals_dense_in_float32_and_in_pieces(mode):
    net = conv_network(seed=2, mode=mode, geometry=GEOMETRIES[1])
    spikes = input_for(net, steps=200, seed=5)
    dense = snn.get_engine("dense", dtype="float32").build(net).run(spikes)
    fast = snn.get_engine("fast", dtype="float32").build(net).run(spikes)
    np.testing.assert_array_equal(fast.counts, dense.counts)
    assert max(np.abs(a - b).max() for a, b in zip(fast.weights, dense.weights)) <= 1e-5
    eng = snn.get_engine("fast", dtype="float32", chunk_steps=7).build(net)
    first, second = eng.run(spikes.slice_steps(0, 90)), eng.run(spikes.slice_steps(90, 200))
    np.testing.assert_array_equal(np.concatenate([first.counts, second.counts]), fast.counts)
    np.testing.assert_array_equal(second.weights[0], fast.weights[0])


def test_frozen_conv_network_spikes_as_its_unrolled_dense_network():
    net = conv_network(seed=1)
    net.plasticity_gain = np.zeros(net.n_layers)
    dense = net.unrolled()
    assert dense.is_dense and [w.shape for w in dense.weights] == [(n, m) for m, n in zip(net.sizes, net.sizes[1:])]
    spikes = input_for(net)
    a = snn.get_engine("fast").build(net).run(spikes)
    b = snn.get_engine("fast").build(dense).run(spikes)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.weights[0], net.weights[0])


def test_recording_potentials_and_drive_of_conv_layers():
    net = conv_network(seed=3)
    spikes = input_for(net, steps=50)
    rec = {"conv1": [0, 5, 17], "pool1": [1, 2]}
    fast = snn.get_engine("fast", record_v=rec, record_drive=rec).build(net).run(spikes)
    plain = snn.get_engine("fast").build(net).run(spikes)
    np.testing.assert_array_equal(fast.counts, plain.counts)
    # drive of conv1 neuron i at step t: its window of input spikes times the kernel (weights of that step)
    frozen = net.copy()
    frozen.plasticity_gain = np.zeros(net.n_layers)
    drive = snn.get_engine("fast", record_drive={"conv1": [0, 5, 17]}).build(frozen).run(spikes)
    dense_in = np.zeros((50, net.sizes[0]))
    for t in range(50):
        dense_in[t, spikes.step(t)] = 1
    want = (net.unrolled_weights(0)[[0, 5, 17]] @ dense_in.T).T
    np.testing.assert_allclose(drive.input_drive["conv1"].drive, want, atol=1e-12)
    assert fast.voltages["pool1"].v.shape == (50, 2)


def test_conv_network_checks_and_names():
    net = conv_network()
    assert net.layer_names == ["input", "conv1", "pool1", "conv2", "output"]
    assert net.plasticity_gain.tolist() == [1.0, 0.0, 1.0, 1.0] and not net.is_dense
    with pytest.raises(InvalidNetworkError, match=r"plasticity_gain\[1\] = 1 is for a pool layer"):
        snn.SleepNetwork(net.weights, net.alpha, net.threshold, layers=net.layers, plasticity_gain=[1, 1, 1, 1])
    with pytest.raises(InvalidNetworkError, match="kernel_update"):
        snn.SleepNetwork(net.weights, net.alpha, net.threshold, layers=net.layers, kernel_update="mean")
    bad = list(net.weights)
    bad[0] = bad[0][:, :, :2]
    with pytest.raises(InvalidNetworkError, match=r"weights\[0\] has shape \(3, 2, 2, 3\), but layer 0 \(conv\)"):
        snn.SleepNetwork(bad, net.alpha, net.threshold, layers=net.layers)
    with pytest.raises(InvalidNetworkError, match="shape mismatch"):
        snn.SleepNetwork(net.weights[:1] + net.weights[2:], net.alpha[:3], net.threshold[:3],
                         layers=[net.layers[0], *net.layers[2:]])
    with pytest.raises(InvalidNetworkError, match="Conv2d.stride"):
        snn.Conv2d((1, 5, 5), 2, 3, 0)
    with pytest.raises(InvalidNetworkError, match="no output positions"):
        snn.Conv2d((1, 5, 5), 2, 7)
    with pytest.raises(InvalidNetworkError, match="2-D"):
        snn.SleepNetwork([np.zeros((2, 1, 3, 3))], [1.0], [1.0])


def test_pynn_engines_refuse_a_learning_kernel():
    """pynn.* take conv networks unrolled, frozen kernels only (tests/test_pynn_conv.py)."""
    from snn.errors import PlasticConvError
    for engine in ("pynn.nest",):
        with pytest.raises(PlasticConvError, match=f"engine '{engine}' cannot make the shared kernel of layer 0 "
                                                   r"\('conv1', conv\) learn"):
            snn.get_engine(engine).build(conv_network())


def test_exports_refuse_conv_networks_and_take_the_unrolled_one(tmp_path):
    from snn.export import save_network
    from snn.export.pynn_script import write_pynn_model
    net = conv_network()
    for call in (lambda: save_network(tmp_path / "n.h5", net), lambda: write_pynn_model(tmp_path / "p", net)):
        with pytest.raises(InvalidNetworkError, match="dense layers only.*'conv1'"):
            call()
    frozen = net.unrolled()
    save_network(tmp_path / "n.h5", frozen)
