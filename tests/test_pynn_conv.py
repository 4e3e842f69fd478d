"""Convolutional sleep networks on the PyNN engines: simulated unrolled (each window position its
own synapses), so frozen kernels give the dense engine's spikes; a learning shared kernel is refused."""
import snn.pynn  # noqa: F401  (first: switches NEST's banner off before anything imports nest)

import numpy as np
import pytest

import snn
from snn.errors import InvalidNetworkError, PlasticConvError

from .test_conv_network import GEOMETRIES, conv_network, input_for


def frozen(net: snn.SleepNetwork) -> snn.SleepNetwork:
    net = net.copy()
    net.plasticity_gain = np.zeros(net.n_layers)
    return net


@pytest.mark.slow
@pytest.mark.parametrize("geometry", range(len(GEOMETRIES)))
def test_frozen_conv_network_on_nest_spikes_as_the_dense_engine(geometry):
    net = conv_network(seed=geometry, geometry=GEOMETRIES[geometry])
    spikes = input_for(net, steps=150)
    ref = snn.get_engine("dense").build(frozen(net)).run(spikes)
    assert (ref.counts[:, 1:].sum(0) > 0).all(), "every layer must fire"
    eng = snn.get_engine("pynn.nest", plasticity="frozen").build(net.copy())
    res = eng.run(spikes)
    np.testing.assert_array_equal(res.counts, ref.counts)   # spike counts per step and layer
    for a, b in zip(res.spikes, ref.spikes):
        assert a == b
    for w, w0 in zip(res.weights, net.weights):   # the kernels, as given
        np.testing.assert_array_equal(w, w0)
    # only the synapses within the windows exist: no connection for the unrolled zeros
    n_conn = sum(len(p) for p in eng.projections[0])
    assert n_conn == np.count_nonzero(net.layers[0].unroll(np.ones(net.layers[0].weight_shape)))


@pytest.mark.slow
def test_frozen_conv_network_on_pynn_brian2_spikes_as_the_dense_engine():
    net = frozen(conv_network(seed=2, geometry=GEOMETRIES[2]))
    spikes = input_for(net, steps=100)
    ref = snn.get_engine("dense").build(net.copy()).run(spikes)
    res = snn.get_engine("pynn.brian2", plasticity="frozen").build(net.copy()).run(spikes)
    np.testing.assert_array_equal(res.counts, ref.counts)
    for w, w0 in zip(res.weights, net.weights):
        np.testing.assert_array_equal(w, w0)


@pytest.mark.slow
def test_fc_only_sleep_of_a_conv_network_is_exact_on_nest():
    """The paper's frozen-extractor setting: conv layers with gain 0 are unrolled and fixed, the
    fc layer learns with the exact SRC rule; spikes and weights as the dense engine's."""
    net = conv_network(seed=1)
    net.plasticity_gain = np.array([0.0, 0.0, 0.0, 1.0])
    spikes = input_for(net, steps=150)
    ref = snn.get_engine("dense").build(net.copy()).run(spikes)
    res = snn.get_engine("pynn.nest").build(net.copy()).run(spikes)
    np.testing.assert_array_equal(res.counts, ref.counts)
    assert not np.array_equal(ref.weights[-1], net.weights[-1])   # the fc layer learned
    for w, w0 in zip(res.weights, ref.weights):
        assert w.shape == w0.shape and np.abs(w - w0).max() <= 1e-9


@pytest.mark.parametrize("plasticity", ["exact", "native"])
def test_plastic_shared_kernels_are_refused(plasticity):
    net = conv_network()
    with pytest.raises(PlasticConvError, match=r"layer 0 \('conv1', conv\).*not expressible in PyNN"):
        snn.get_engine("pynn.nest", plasticity=plasticity).build(net)
    assert issubclass(PlasticConvError, InvalidNetworkError)
