"""NIR nodes of convolution and pooling layers (docs/cnn.md, "Engines and exports").

:func:`snn.export.nir.to_nir` writes a network with :class:`~snn.layers.Conv2d` and
:class:`~snn.layers.Pool2d` layers as a chain of NIR nodes, one synapse node and one
neuron node per layer::

    Input(C, H, W) -> Conv2d(alpha_1 K_1) -> LIF(C_1, H_1, W_1) -> <pool> -> LIF(...)
                   -> ... -> Flatten -> Linear(alpha_l W_l) -> LIF(n_l) -> ... -> Output

* convolution: ``nir.Conv2d`` with ``weight = alpha_l K_l`` ``(C_out, C_in, kh, kw)``,
  the layer's stride and zero padding, dilation 1, one group, a zero bias (snnTorch's
  importer needs one) and ``input_shape = (H, W)``; the neuron node's parameters have the
  layer's shape ``(C_out, H_out, W_out)``.
* pooling: with ``pool="conv"`` (the snnTorch preset) a ``nir.Conv2d`` that maps each
  channel to itself (``weight[c, c] = alpha_l P_l``, 0 across channels, stride = the
  window's, zero bias; snnTorch's importer builds no grouped convolutions, it reads the
  input channels from ``weight.shape[1]``): the same float products as a convolution
  (the zeros add exactly 0), so snnTorch gives the sleep engines' spikes. With
  ``pool="avgpool"`` (the continuous-time reading, ``"generic"``) a ``nir.AvgPool2d``
  (kernel, stride, padding 0) computing the window mean; the rest of the layer's gain,
  ``alpha_l P_l (kh kw)`` (``alpha_l`` for an average), is the neuron node's input
  resistance ``r`` (``r = gain tau / dt``). Pooling weights must be uniform (an average
  times a constant) for this form.
* a dense layer reading feature maps: ``nir.Flatten(input_type=(C, H, W), start_dim=0)``
  (NIR counts dimensions without the batch) before its ``Linear``; PyTorch's flatten order
  is the sleep network's neuron order.

The neuron nodes, the leak, the threshold compensation, dt and the metadata are those
of the dense export; the metadata also lists the layers (``"layers"``), from which
:func:`snn.export.nir.from_nir` restores the network.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidNetworkError
from ..extras import require
from ..layers import Conv2d, Dense, Layer, Pool2d

nir = require("nir", what="NIR export")

#: NIR forms of a pooling layer: a depthwise ``Conv2d`` or an ``AvgPool2d``
POOL_NODES = ("conv", "avgpool")


def layer_spec(layer: Layer) -> dict[str, Any]:
    """The JSON form of ``layer`` kept in the graph metadata."""
    if isinstance(layer, Dense):
        return {"kind": "dense", "n_in": layer.n_in, "n_out": layer.n_out}
    if isinstance(layer, Conv2d):
        return {"kind": "conv", "in_shape": list(layer.in_shape), "out_channels": layer.out_channels,
                "kernel": list(layer.kernel), "stride": list(layer.stride), "padding": list(layer.padding)}
    return {"kind": "pool", "in_shape": list(layer.in_shape), "kernel": list(layer.kernel),
            "stride": list(layer.stride)}


def layer_from_spec(spec: dict[str, Any]) -> Layer:
    """Inverse of :func:`layer_spec`; raises :class:`~snn.errors.InvalidNetworkError`."""
    try:
        kind = spec["kind"]
        if kind == "dense":
            return Dense(int(spec["n_in"]), int(spec["n_out"]))
        if kind == "conv":
            return Conv2d(tuple(spec["in_shape"]), int(spec["out_channels"]), tuple(spec["kernel"]),
                          tuple(spec["stride"]), tuple(spec["padding"]))
        if kind == "pool":
            return Pool2d(tuple(spec["in_shape"]), tuple(spec["kernel"]), tuple(spec["stride"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidNetworkError(f"NIR metadata layer {spec!r} is incomplete: {exc}") from exc
    raise InvalidNetworkError(f"NIR metadata layer kind {spec.get('kind')!r} is not dense, conv or pool")


def shape_of(layers: list[Layer], l: int) -> tuple[int, ...]:
    """Shape of layer ``l``'s neurons (``l = 0``: the input): ``(C, H, W)`` after a
    convolution or pooling (and the input of one), ``(n,)`` otherwise."""
    if l == 0:
        first = layers[0]
        return tuple(first.in_shape) if not isinstance(first, Dense) else (first.n_in,)
    layer = layers[l - 1]
    return tuple(layer.out_shape) if not isinstance(layer, Dense) else (layer.n_out,)


def _typed(node: Any, layer: Layer) -> Any:
    """``node`` with the layer's input and output types set: nir 1.0 infers a ``Conv2d``'s
    types from ``weight.shape[1:3]`` alone (wrong for non-square kernels and for groups > 1),
    so they are given, not inferred."""
    node.input_shape = tuple(layer.in_shape[1:])
    node.input_type = {"input": np.array(layer.in_shape)}
    node.output_type = {"output": np.array(layer.out_shape)}
    return node


def synapse_nodes(layers: list[Layer], l: int, weight: np.ndarray, alpha: float, pool: str, synapse: str
                  ) -> tuple[list[tuple[str, Any]], float]:
    """NIR nodes ``[(name, node), ...]`` carrying layer ``l``'s (1-based) synapses, and the
    gain left to the neuron node (1 except for an ``AvgPool2d`` pooling layer)."""
    layer = layers[l - 1]
    w = np.asarray(weight, dtype=np.float64)
    if isinstance(layer, Conv2d):
        return [(f"conv{l}", _typed(nir.Conv2d(input_shape=None, weight=alpha * w, stride=tuple(layer.stride),
                                               padding=tuple(layer.padding), dilation=(1, 1), groups=1,
                                               bias=np.zeros(layer.out_channels)), layer))], 1.0
    if isinstance(layer, Pool2d):
        if pool not in POOL_NODES:
            raise InvalidNetworkError(f"pool must be one of {POOL_NODES}, got {pool!r}")
        channels = layer.in_shape[0]
        if pool == "conv":
            kernel = np.zeros((channels, channels, *layer.kernel))
            kernel[np.arange(channels), np.arange(channels)] = alpha * w
            return [(f"pool{l}", _typed(nir.Conv2d(input_shape=None, weight=kernel, stride=tuple(layer.stride),
                                                   padding=(0, 0), dilation=(1, 1), groups=1,
                                                   bias=np.zeros(channels)), layer))], 1.0
        if not np.all(w == w.flat[0]):
            raise InvalidNetworkError(f"layer {l} (pool) has non-uniform weights, which nir.AvgPool2d cannot "
                                      "carry; export with pool='conv'")
        return [(f"pool{l}", nir.AvgPool2d(kernel_size=np.array(layer.kernel), stride=np.array(layer.stride),
                                           padding=np.array([0, 0])))], float(alpha * w.flat[0] * w.size)
    nodes: list[tuple[str, Any]] = []
    if len(shape_of(layers, l - 1)) == 3:   # a dense layer reading feature maps
        nodes.append((f"flatten{l}", nir.Flatten(input_type={"input": np.array(shape_of(layers, l - 1))},
                                                 start_dim=0, end_dim=-1)))
    n = layer.n_out
    nodes.append((f"fc{l}", nir.Affine(weight=alpha * w, bias=np.zeros(n)) if synapse == "affine"
                  else nir.Linear(weight=alpha * w)))
    return nodes, 1.0


def retype_conv_nodes(graph: Any, layers: list[Layer]) -> None:
    """Give the ``Conv2d`` nodes ``conv{l}``/``pool{l}`` of a graph written by
    :func:`snn.export.nir.to_nir` their layers' types again (after ``nir.read(...,
    type_check=False)``)."""
    for l, layer in enumerate(layers, start=1):
        for name in (f"conv{l}", f"pool{l}"):
            if isinstance(graph.nodes.get(name), nir.Conv2d) and not isinstance(layer, Dense):
                _typed(graph.nodes[name], layer)


def read_synapses(nodes: list[tuple[str, Any]], layer: Layer, gain: np.ndarray) -> np.ndarray:
    """Layer weights (before dividing by ``alpha``) from the synapse nodes written by
    :func:`synapse_nodes` for ``layer``; ``gain`` is the neuron node's ``r dt / tau``."""
    kinds = [type(node).__name__ for _, node in nodes]
    names = [name for name, _ in nodes]
    g = float(np.asarray(gain).reshape(-1)[0])
    if isinstance(layer, Conv2d) and kinds == ["Conv2d"]:
        return np.array(nodes[0][1].weight, dtype=np.float64)
    if isinstance(layer, Pool2d) and kinds == ["Conv2d"]:
        return np.array(nodes[0][1].weight, dtype=np.float64)[0, 0]  # channel 0's window (all are equal)
    if isinstance(layer, Pool2d) and kinds == ["AvgPool2d"]:
        return np.full(layer.kernel, g / np.prod(layer.kernel))
    if isinstance(layer, Dense) and kinds[-1] in ("Linear", "Affine") and kinds[:-1] in ([], ["Flatten"]):
        return np.array(nodes[-1][1].weight, dtype=np.float64)
    raise InvalidNetworkError(f"NIR nodes {names} ({kinds}) do not form a {layer.kind} layer as to_nir() writes it")


__all__ = ["POOL_NODES", "layer_from_spec", "layer_spec", "read_synapses", "retype_conv_nodes", "shape_of",
           "synapse_nodes"]
