"""ANN <-> sleep network: reading weights out of a PyTorch model and back in.

The model's real forward computation is read with :mod:`torch.fx` (not the order
in which modules were registered). Supported graphs are a single chain of

* ``nn.Linear`` without bias (each module called once),
* ``nn.Conv2d`` without bias (stride, zero padding) and ``nn.AvgPool2d``
  (:mod:`bridge.convert_conv`, docs/cnn.md), each its own layer of the sleep network,
* ReLU: ``nn.ReLU`` (one module may be reused), ``F.relu``, ``torch.relu``, ``x.relu()``,
* passive operations: dropout (``nn.Dropout``, :class:`ann.ReferenceDropout`,
  ``F.dropout``), ``nn.Identity``, flattening (``nn.Flatten``, ``torch.flatten``
  / ``x.flatten`` from dimension 1) and, first, ``nn.Unflatten(1, (C, H, W))`` (the
  model takes flat inputs and reshapes them into images).

Integrate-and-fire neurons with a zero reset approximate ReLU units, so every
hidden Linear or Conv2d must be followed by a ReLU; biases have no sleep
counterpart. Any other operation (a scale, an offset, a residual connection,
max pooling, batch normalization, another layer type) raises
:class:`~bridge.errors.ModelError` naming the operation.
"""
from __future__ import annotations

import copy
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from ann.activations import iter_layer_activations
from ann.models import ReferenceDropout

from .convert_conv import check_conv, check_pool, max_pool_error, pool_weights, sleep_layers
from .errors import ModelError, UnsupportedOperationError

_PASSIVE = (nn.Dropout, ReferenceDropout, nn.Identity)
_LEAVES = (nn.Linear, nn.Conv2d, nn.AvgPool2d, nn.ReLU, nn.Flatten, nn.Unflatten) + _PASSIVE
_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)
_SUPPORTED = "Linear and Conv2d (no bias), AvgPool2d, ReLU, dropout, Identity, Flatten and Unflatten"
_RELU_FUNCTIONS: tuple[Callable, ...] = (F.relu, torch.relu)
_PASSIVE_FUNCTIONS: tuple[Callable, ...] = (F.dropout,)
_FLATTEN_FUNCTIONS: tuple[Callable, ...] = (torch.flatten,)


@dataclass(frozen=True)
class ModelGraph:
    """What the bridge read from a model's forward computation.

    linears: the Linear layers in the order ``forward`` calls them.
    flattens_input: ``forward`` flattens its input before the first Linear, so
        image-shaped data ``(n, *shape)`` with ``prod(shape) == n_inputs`` is accepted.
    operations: one readable name per operation of the chain, in order.
    layers: the modules that become layers of the sleep network (Linear, Conv2d,
        AvgPool2d), in forward order; the Linear layers only for an MLP.
    input_shape: ``(C, H, W)`` of a leading ``nn.Unflatten`` (the model takes flat inputs), else ``None``.
    """

    linears: list[nn.Linear]
    flattens_input: bool
    operations: list[str]
    layers: list[nn.Module] = field(default_factory=list)
    input_shape: tuple[int, ...] | None = None

    @property
    def is_conv(self) -> bool:
        """The model has convolution or pooling layers."""
        return any(not isinstance(m, nn.Linear) for m in self.layers)

    @property
    def takes_images(self) -> bool:
        """The model's forward reads image-shaped input ``(n, C, H, W)`` (it starts with a
        convolution or pooling, without ``nn.Unflatten``): sleep data must come in that shape."""
        return not isinstance(self.layers[0], nn.Linear) and self.input_shape is None

    @property
    def n_inputs(self) -> int | None:
        """Input width; ``None`` when only image-shaped data tells it (:attr:`takes_images`)."""
        if self.input_shape is not None:
            return int(math.prod(self.input_shape))
        first = self.layers[0]
        return first.in_features if isinstance(first, nn.Linear) else None

    @property
    def weight_layers(self) -> list[nn.Module]:
        """The layers with trained weights (Linear, Conv2d), in forward order."""
        return [m for m in self.layers if not isinstance(m, nn.AvgPool2d)]


class _Tracer(fx.Tracer):
    """Keeps the supported layers (and any torch.nn layer) as single graph nodes."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, _LEAVES) or super().is_leaf_module(m, qualname)


def _function_name(fn: Any) -> str:
    """``operator.mul``, ``torch.sigmoid``, ``torch.nn.functional.gelu``, or module.qualname."""
    name = getattr(fn, "__name__", None) or repr(fn)
    for prefix, namespace in (("operator", operator), ("torch", torch), ("torch.nn.functional", F)):
        if getattr(namespace, name, None) is fn:
            return f"{prefix}.{name}"
    module = getattr(fn, "__module__", None) or ""
    qualname = getattr(fn, "__qualname__", None) or name
    return f"{module}.{qualname}" if module else qualname


def _describe(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        return f"{type(modules[node.target]).__name__} ('{node.target}')"
    if node.op == "call_function":
        return _function_name(node.target)
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    return f"{node.op} {node.target}"


def _flatten_from_dim1(node: fx.Node) -> bool:
    start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
    end = node.kwargs.get("end_dim", node.args[2] if len(node.args) > 2 else -1)
    return start == 1 and end == -1


def _kind(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    """``"linear"``, ``"conv"``, ``"pool"``, ``"relu"``, ``"flatten"``, ``"unflatten"`` or
    ``"passive"``; raises for anything else."""
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.Linear):
            return "linear"
        if isinstance(m, nn.Conv2d):
            check_conv(m, node.target)
            return "conv"
        if isinstance(m, nn.AvgPool2d):
            check_pool(m, node.target)
            return "pool"
        if isinstance(m, _MAX_POOLS):
            raise max_pool_error(node.target, type(m).__name__)
        if isinstance(m, nn.Unflatten):
            return "unflatten"
        if isinstance(m, nn.ReLU):
            return "relu"
        if isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise UnsupportedOperationError(
                    f"unsupported operation {_describe(node, modules)}: only nn.Flatten(start_dim=1, end_dim=-1) "
                    "keeps one example per row")
            return "flatten"
        if isinstance(m, _PASSIVE):
            return "passive"
        raise UnsupportedOperationError(
            f"unsupported layer {type(m).__name__} ('{node.target}'): the sleep network can only be built "
            f"from {_SUPPORTED}")
    if node.op == "call_function":
        if node.target in (F.max_pool2d, torch.max_pool2d):
            raise max_pool_error(str(node.name), _function_name(node.target))
        if node.target in _RELU_FUNCTIONS:
            return "relu"
        if node.target in _PASSIVE_FUNCTIONS:
            return "passive"
        if node.target in _FLATTEN_FUNCTIONS and _flatten_from_dim1(node):
            return "flatten"
    if node.op == "call_method":
        if node.target in ("relu", "relu_"):
            return "relu"
        if node.target == "flatten" and _flatten_from_dim1(node):
            return "flatten"
    raise UnsupportedOperationError(
        f"unsupported operation {_describe(node, modules)} in forward: the sleep network can only be built "
        f"from a chain of {_SUPPORTED}; a scale, an offset or any other operation has no spiking counterpart")


def read_model(model: nn.Module) -> ModelGraph:
    """Read ``model``'s forward computation with :mod:`torch.fx` and validate it.

    Raises :class:`~bridge.errors.ModelError` (a ``ValueError``) for biases,
    missing ReLUs between layers, reused Linear modules or non-finite weights, and
    :class:`~bridge.errors.UnsupportedOperationError` (also a ``TypeError``) naming
    any operation without a sleep counterpart.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # data-dependent control flow, unsupported Python
        raise ModelError(f"cannot read the model's forward computation with torch.fx "
                         f"({type(exc).__name__}: {exc}); write forward as a plain chain of layers") from exc
    modules = dict(model.named_modules())
    layers: list[nn.Module] = []
    operations: list[str] = []
    flattens_input = False
    input_shape: tuple[int, ...] | None = None
    relu_after_last = True
    spatial = False  # the chain holds (C, H, W) feature maps (after Unflatten, Conv2d or AvgPool2d)
    current: fx.Node | None = None
    for node in graph.nodes:
        if node.op == "placeholder":
            if current is not None:
                raise ModelError(f"forward takes more than one input ({node.target!r}); the sleep network has one")
            current = node
            continue
        if node.op == "output":
            if node.args[0] is not current:
                raise ModelError("forward must return the output of its last operation as one tensor")
            break
        if node.op == "get_attr":
            raise UnsupportedOperationError(
                f"unsupported operation: forward reads the tensor '{node.target}' directly; "
                "use nn.Linear(..., bias=False) layers")
        if node.all_input_nodes != [current]:
            raise UnsupportedOperationError(
                f"unsupported operation {_describe(node, modules)} in forward: the sleep network needs a single "
                "chain of layers, each using only the previous one's output")
        kind = _kind(node, modules)
        operations.append(_describe(node, modules))
        if kind in ("linear", "conv"):
            m = modules[node.target]
            what = "Linear" if kind == "linear" else "Conv2d"
            if any(m is seen for seen in layers):
                raise ModelError(f"{what} module '{node.target}' is called more than once in forward; "
                                 "shared weights have no sleep counterpart")
            if layers and not relu_after_last:
                raise ModelError(f"{what} layer {len(layers)} is not followed by a ReLU; "
                                 "hidden layers must be ReLU units to map onto spiking neurons")
            if kind == "linear" and m.bias is not None:
                raise ModelError(f"Linear layer {len(layers)} ({m.in_features}->{m.out_features}) has a bias; "
                                 "SRC needs bias-free layers (nn.Linear(..., bias=False))")
            if kind == "linear" and spatial:
                raise ModelError(f"Linear layer {len(layers)} ('{node.target}') reads (C, H, W) feature maps; "
                                 "put nn.Flatten() before it")
            layers.append(m)
            relu_after_last, spatial = False, kind == "conv" or spatial
        elif kind == "pool":
            if not relu_after_last:
                raise ModelError(f"{type(layers[-1]).__name__} layer {len(layers) - 1} is not followed by a ReLU "
                                 f"before the pooling '{node.target}'; the spiking neurons represent ReLU outputs")
            layers.append(modules[node.target])
            spatial = True
        elif kind == "relu":
            relu_after_last = True
        elif kind == "flatten":
            flattens_input = flattens_input or not layers
            spatial = False
        elif kind == "unflatten":
            input_shape = _input_shape(modules[node.target], node.target, layers)
            spatial = True
        current = node
    if not any(isinstance(m, (nn.Linear, nn.Conv2d)) for m in layers):
        raise ModelError("model has no Linear layers")
    for l, m in enumerate(layers):
        if not isinstance(m, nn.AvgPool2d) and not torch.isfinite(m.weight).all():
            raise ModelError(f"{type(m).__name__} layer {l} has NaN or infinite weights")
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    return ModelGraph(linears, flattens_input, operations, layers, input_shape)


def _input_shape(unflatten: nn.Unflatten, name: str, layers: list[nn.Module]) -> tuple[int, ...]:
    """``(C, H, W)`` of a leading ``nn.Unflatten(1, (C, H, W))``; refuses any other Unflatten."""
    shape = tuple(int(s) for s in unflatten.unflattened_size)
    if layers or unflatten.dim not in (1, -1) or len(shape) != 3 or min(shape) < 1:
        raise UnsupportedOperationError(
            f"unsupported operation Unflatten ('{name}'): only a first nn.Unflatten(1, (C, H, W)) that turns flat "
            f"inputs into images is supported, got dim={unflatten.dim}, size={unflatten.unflattened_size}")
    return shape


def check_model(model: nn.Module) -> list[nn.Linear]:
    """Validate ``model`` for conversion and return its Linear layers in forward order
    (see :func:`read_model`)."""
    return read_model(model).linears


def export_weights(model: nn.Module) -> list[np.ndarray]:
    """Weights of every layer of the sleep network as float32 NumPy arrays (copies), in forward
    order: ``(out, in)`` per Linear; for a CNN also ``(C_out, C_in, kh, kw)`` per Conv2d and the
    fixed ``(kh, kw)`` average per AvgPool2d (:func:`bridge.convert_conv.pool_weights`)."""
    return [pool_weights(m) if isinstance(m, nn.AvgPool2d) else m.weight.detach().cpu().numpy().astype(
        np.float32, copy=True) for m in read_model(model).layers]


def network_layers(model: nn.Module, image_shape: Sequence[int] | None = None) -> list | None:
    """The :mod:`snn.layers` of ``model``'s sleep network, or ``None`` for an MLP (every layer
    dense, the :class:`snn.SleepNetwork` default). ``image_shape``: ``(C, H, W)`` of the data,
    for a model that takes images without ``nn.Unflatten`` (:attr:`ModelGraph.takes_images`)."""
    graph = read_model(model)
    if not graph.is_conv:
        return None
    shape = graph.input_shape or (tuple(image_shape) if image_shape is not None else None)
    return sleep_layers(graph.layers, shape, graph.n_inputs or 0)


def model_inputs(graph: ModelGraph, x: np.ndarray, image_shape: Sequence[int] | None) -> np.ndarray:
    """Flat ``x`` ``(n, n_inputs)`` in the shape ``forward`` reads (images when it takes images)."""
    if graph.takes_images:
        if image_shape is None:
            raise ModelError("the model starts with a convolution and takes images (n, C, H, W): give the data "
                             "image-shaped, or start the model with nn.Unflatten(1, (C, H, W))")
        return x.reshape(len(x), *image_shape)
    return x


@torch.no_grad()
def layer_output_maxima(model: nn.Module, x: np.ndarray, batch_size: int = 1000, *,
                        image_shape: Sequence[int] | None = None) -> np.ndarray:
    """Largest output of every layer of the sleep network over ``x``, with the model in eval mode.

    A layer's output is taken where the next layer reads it (so after its ReLU
    and the test-time dropout scaling, as in the reference), and at the model's
    end for the last layer; for a convolution or pooling layer, the maximum over
    positions and channels (Diehl et al. 2015). ``x`` ``(n, n_inputs)`` is cast to the
    model's dtype and device (``image_shape``: see :func:`network_layers`). Returns ``(L,)``.
    """
    graph = read_model(model)
    maxima = np.full(len(graph.layers), -np.inf)
    for acts in iter_layer_activations(model, model_inputs(graph, x, image_shape), batch_size,
                                       linears=graph.layers):
        for l, h in enumerate(acts):
            maxima[l] = max(maxima[l], float(h.max()))
    return maxima


def import_weights(model: nn.Module, weights: Sequence[np.ndarray], *, inplace: bool = False) -> nn.Module:
    """Put slept ``weights`` (one array per layer of the sleep network, forward order, as
    :func:`export_weights` gives them) into ``model``.

    Returns a deep copy of ``model`` holding them, or ``model`` itself when
    ``inplace`` (the same Parameter objects are overwritten, so optimizers built
    on ``model.parameters()`` stay valid). Shapes must match the model's layers;
    values must be finite; a pooling layer's fixed weights must be unchanged.
    """
    target = model if inplace else copy.deepcopy(model)
    layers = read_model(target).layers
    if len(weights) != len(layers):
        what = "Linear" if all(isinstance(m, nn.Linear) for m in layers) else "sleep-network"
        raise ValueError(f"got {len(weights)} weight matrices for a model with {len(layers)} {what} layers")
    for l, (m, w) in enumerate(zip(layers, weights)):
        w = np.asarray(w)
        want = pool_weights(m) if isinstance(m, nn.AvgPool2d) else m.weight
        if tuple(w.shape) != tuple(want.shape):
            raise ValueError(f"weights[{l}] has shape {w.shape}, the model's layer {l} has {tuple(want.shape)}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"weights[{l}] contains NaN or infinite values")
        if isinstance(m, nn.AvgPool2d) and not np.allclose(w, want, rtol=0, atol=1e-7):
            raise ValueError(f"weights[{l}] of the pooling layer differ from its fixed average {want.flat[0]:g}; "
                             "pooling weights cannot change")
    with torch.no_grad():
        for m, w in zip(layers, weights):
            if not isinstance(m, nn.AvgPool2d):
                m.weight.copy_(torch.as_tensor(np.asarray(w), dtype=m.weight.dtype))
    return target
