"""Convolutional sleep networks on the brian2 engine: simulated unrolled (each synapse its own
``w``), the synapses of a learning convolution tied to one shared kernel updated between steps
(snn.brian2.conv): spikes and kernels as the dense engine's."""
import numpy as np
import pytest

import snn
from snn.errors import PlasticConvError

from .test_conv_network import GEOMETRIES, conv_network, input_for


@pytest.mark.slow
@pytest.mark.parametrize("geometry", [0, 1])
def test_frozen_conv_network_on_brian2_spikes_as_the_dense_engine(geometry):
    net = conv_network(seed=geometry, geometry=GEOMETRIES[geometry])
    net.plasticity_gain = np.zeros(net.n_layers)
    spikes = input_for(net, steps=120)
    ref = snn.get_engine("dense").build(net.copy()).run(spikes)
    assert (ref.counts[:, 1:].sum(0) > 0).all(), "every layer must fire"
    res = snn.get_engine("brian2", codegen="numpy").build(net.copy()).run(spikes)
    np.testing.assert_array_equal(res.counts, ref.counts)
    for a, b in zip(res.spikes, ref.spikes):
        assert a == b
    for w, w0 in zip(res.weights, net.weights):   # each layer's own weights (kernels), unchanged
        np.testing.assert_array_equal(w, w0)


@pytest.mark.slow
def test_fc_only_sleep_of_a_conv_network_on_brian2():
    """Conv layers with gain 0 (the frozen-extractor setting): the fc layer learns as on the dense engine."""
    net = conv_network(seed=1)
    net.plasticity_gain = np.array([0.0, 0.0, 0.0, 1.0])
    spikes = input_for(net, steps=120)
    ref = snn.get_engine("dense").build(net.copy()).run(spikes)
    res = snn.get_engine("brian2", codegen="numpy").build(net.copy()).run(spikes)
    np.testing.assert_array_equal(res.counts, ref.counts)
    assert not np.array_equal(ref.weights[-1], net.weights[-1])
    for w, w0 in zip(res.weights, ref.weights):
        assert w.shape == w0.shape and np.abs(w - w0).max() <= 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("mode,geometry", [("sum", 0), ("sequential", 1), ("sum", 2)])
def test_tied_kernels_on_brian2_equal_the_dense_engine(mode, geometry):
    """Every layer learns (conv kernels through the tied update, the fc layer per synapse):
    spike counts per step, every spike and the kernels as the dense engine's."""
    net = conv_network(seed=geometry, geometry=GEOMETRIES[geometry], mode=mode)
    spikes = input_for(net, steps=120)
    ref = snn.get_engine("dense").build(net.copy()).run(spikes)
    assert (ref.counts[:, 1:].sum(0) > 0).all()
    eng = snn.get_engine("brian2", codegen="numpy").build(net.copy())
    res = eng.run(spikes)
    np.testing.assert_array_equal(res.counts, ref.counts)
    for a, b in zip(res.spikes, ref.spikes):
        assert a == b
    assert not np.array_equal(ref.weights[0], net.weights[0])   # the kernel learned
    for w, w0 in zip(res.weights, ref.weights):
        assert w.shape == w0.shape and np.abs(w - w0).max() <= 1e-12
    # the synapses carry the kernel: unrolled synapse weights = the kernel copied to every position
    w_syn = np.asarray(eng.brian2_objects["synapses"][0].w[:]).reshape(net.sizes[0], net.sizes[1]).T
    np.testing.assert_array_equal(w_syn, net.layers[0].unroll(res.weights[0]))


@pytest.mark.slow
def test_tied_kernels_persist_between_runs():
    net = conv_network(seed=3)
    spikes = input_for(net, steps=100)
    one = snn.get_engine("brian2", codegen="numpy").build(net.copy()).run(spikes)
    eng = snn.get_engine("brian2", codegen="numpy").build(net.copy())
    a = eng.run(spikes.slice_steps(0, 40))
    b = eng.run(spikes.slice_steps(40, 100))
    np.testing.assert_array_equal(np.concatenate([a.counts, b.counts]), one.counts)
    for w, w0 in zip(b.weights, one.weights):
        np.testing.assert_array_equal(w, w0)


def test_brian2_standalone_refuses_a_learning_shared_kernel():
    with pytest.raises(PlasticConvError, match=r"cpp_standalone\) cannot make the shared kernel of layer 0 "
                                               r"\('conv1', conv\) learn"):
        snn.get_engine("brian2", codegen="cpp_standalone").build(conv_network())
