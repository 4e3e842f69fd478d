"""Convolution layers on the brian2 engine: unrolled synapses tied to one shared kernel.

Brian2 ``Synapses`` give every synapse its own ``w``. A convolution layer ``l`` is built
from :meth:`~snn.network.SleepNetwork.unrolled` (one synapse per (post, pre) pair,
``w = K[k]`` for the kernel entry ``k`` linking them, 0 off the windows), with its
per-synapse Hebbian rule switched off (``inc = dec = 0`` in Brian2). The kernel ``K``
itself is one shared array, updated by a ``NetworkOperation`` in the layer's schedule slot
after the reset (runtime codegen: ``"cython"``, ``"numpy"``):

    on each step, after layer l fired (spiked flags of layer l and of layer l - 1 set):
        K <- Conv2d.hebbian(K, fired, pre fired, inc_l, dec_l, rule, kernel_update)   # the oracle's own rule
        w[synapse] <- K[k(synapse)]  for every synapse of the layer

so the layer's next input reads the updated kernel, as in the dense engine (the update
of step t acts from step t + 1). ``kernel_update`` ``"sum"`` and ``"sequential"`` are the
oracle's (:mod:`snn.layers`), so the kernels equal the dense engine's given the same spikes.
cpp_standalone cannot run Python between steps: a learning kernel is refused there.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..layers import Conv2d
from ..network import SleepNetwork
from . import equations as eq
from .codegen import b2


def plastic_conv_layers(network: SleepNetwork) -> list[int]:
    """Weight layers (0-based) of ``network`` that are convolutions with a learning kernel."""
    return [l for l, layer in enumerate(network.layers)
            if isinstance(layer, Conv2d) and any(a > 0 for a in network.amplitudes(l))]


def synapse_kernel_index(layer: Conv2d) -> np.ndarray:
    """``(n_pre * n_post,)`` int64: the kernel entry (flat index into ``K``) of each synapse of
    the all-to-all, presynaptic-major Brian2 synapses (``-1``: the pair is no synapse)."""
    pre, widx = layer.receptive_field
    k = np.full((layer.n_out, layer.n_in), -1, dtype=np.int64)
    rows = np.broadcast_to(np.arange(layer.n_out).reshape(-1, 1), pre.shape)
    ok = pre >= 0
    k[rows[ok], pre[ok]] = widx[ok]
    return np.ascontiguousarray(k.T).ravel()   # synapse s = pre * n_post + post


class TiedKernels:
    """The shared kernels of the learning convolutions of a runtime Brian2 network.

    Args:
        network: the convolutional sleep network (its kernels, amplitudes, rule, kernel_update).
        objs: the Brian2 objects built from ``network.unrolled()``
            (:func:`snn.brian2.objects.build_network`).
        brian2_net: their ``Network``; a ``NetworkOperation`` per learning convolution is added.

    Attributes:
        kernels: ``{weight layer: K}``, the current kernels (the engine reads them as the layers' weights).
    """

    def __init__(self, network: SleepNetwork, objs: dict[str, Any], brian2_net: Any, dtype: np.dtype) -> None:
        self.kernels: dict[int, np.ndarray] = {}
        for l in plastic_conv_layers(network):
            layer = network.layers[l]
            self.kernels[l] = np.array(network.weights[l], dtype=dtype)
            kidx = synapse_kernel_index(layer)
            op = b2.NetworkOperation(self._update(network, l, layer, kidx, objs), clock=objs["clock"],
                                     when=eq.slot(l + 1), order=eq.LAYER_ORDER["reset"] + 1,
                                     name=f"layer{l + 1}_tied_kernel")
            brian2_net.add(op)

    def _update(self, network: SleepNetwork, l: int, layer: Conv2d, kidx: np.ndarray, objs: dict[str, Any]):
        post_group, pre_group = objs["groups"][l + 1], objs["groups"][l]
        w_syn = objs["synapses"][l].variables["w"]
        valid = kidx >= 0
        inc, dec = network.amplitudes(l)
        kernel = self.kernels[l]

        def update() -> None:
            fired = np.flatnonzero(np.asarray(post_group.spiked[:]))
            if fired.size == 0:
                return
            pre_on = np.asarray(pre_group.spiked[:], dtype=bool)
            layer.hebbian(kernel, fired, pre_on, inc, dec, network.rule, network.kernel_update)
            w = np.zeros(kidx.size, dtype=kernel.dtype)
            w[valid] = kernel.reshape(-1)[kidx[valid]]
            w_syn.set_value(w)
        return update


__all__ = ["TiedKernels", "plastic_conv_layers", "synapse_kernel_index"]
