"""ANN <-> sleep network: reading weights out of a PyTorch model and back in.

The model's real forward computation is read with :mod:`torch.fx` (not the order
in which modules were registered). Supported graphs are a single chain of

* ``nn.Linear`` without bias (each module called once),
* ReLU: ``nn.ReLU`` (one module may be reused), ``F.relu``, ``torch.relu``, ``x.relu()``,
* passive operations: dropout (``nn.Dropout``, :class:`ann.ReferenceDropout`,
  ``F.dropout``), ``nn.Identity``, and flattening (``nn.Flatten``, ``torch.flatten``
  / ``x.flatten`` from dimension 1).

Integrate-and-fire neurons with a zero reset approximate ReLU units, so every
hidden Linear must be followed by a ReLU; biases have no sleep counterpart. Any
other operation (a scale, an offset, a residual connection, another layer type)
raises :class:`~bridge.errors.ModelError` naming the operation.
"""
from __future__ import annotations

import copy
import operator
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from ann.activations import iter_layer_activations
from ann.models import ReferenceDropout

from .errors import ModelError, UnsupportedOperationError

_PASSIVE = (nn.Dropout, ReferenceDropout, nn.Identity)
_LEAVES = (nn.Linear, nn.ReLU, nn.Flatten) + _PASSIVE
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
    """

    linears: list[nn.Linear]
    flattens_input: bool
    operations: list[str]

    @property
    def n_inputs(self) -> int:
        return self.linears[0].in_features


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
    """``"linear"``, ``"relu"``, ``"flatten"`` or ``"passive"``; raises for anything else."""
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.Linear):
            return "linear"
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
            "from Linear (no bias), ReLU, dropout, Identity and Flatten")
    if node.op == "call_function":
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
        "from a chain of Linear (no bias), ReLU, dropout, Identity and Flatten; a scale, an offset or any "
        "other operation has no spiking counterpart")


def unwrap_compiled(model: nn.Module) -> nn.Module:
    """The module a ``torch.compile`` wrapper holds (its ``_orig_mod``, which shares the
    Parameters), or ``model`` itself; the bridge reads and writes that module."""
    while isinstance(getattr(model, "_orig_mod", None), nn.Module):
        model = model._orig_mod
    return model


def read_model(model: nn.Module) -> ModelGraph:
    """Read ``model``'s forward computation with :mod:`torch.fx` and validate it.

    Raises :class:`~bridge.errors.ModelError` (a ``ValueError``) for biases,
    missing ReLUs between layers, reused Linear modules or non-finite weights, and
    :class:`~bridge.errors.UnsupportedOperationError` (also a ``TypeError``) naming
    any operation without a sleep counterpart.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    model = unwrap_compiled(model)  # torch.compile'd: the original module (same Parameters)
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # data-dependent control flow, unsupported Python
        raise ModelError(f"cannot read the model's forward computation with torch.fx "
                         f"({type(exc).__name__}: {exc}); write forward as a plain chain of layers") from exc
    modules = dict(model.named_modules())
    linears: list[nn.Linear] = []
    operations: list[str] = []
    flattens_input = False
    relu_after_last = True
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
        if kind == "linear":
            lin = modules[node.target]
            if any(lin is seen for seen in linears):
                raise ModelError(f"Linear module '{node.target}' is called more than once in forward; "
                                 "shared weights have no sleep counterpart")
            if linears and not relu_after_last:
                raise ModelError(f"Linear layer {len(linears)} is not followed by a ReLU; "
                                 "hidden layers must be ReLU units to map onto spiking neurons")
            if lin.bias is not None:
                raise ModelError(f"Linear layer {len(linears)} ({lin.in_features}->{lin.out_features}) has a bias; "
                                 "SRC needs bias-free layers (nn.Linear(..., bias=False))")
            linears.append(lin)
            relu_after_last = False
        elif kind == "relu":
            relu_after_last = True
        elif kind == "flatten" and not linears:
            flattens_input = True
        current = node
    if not linears:
        raise ModelError("model has no Linear layers")
    for l, lin in enumerate(linears):
        if lin.weight.dtype not in (torch.float32, torch.float64, torch.float16):
            raise ModelError(f"Linear layer {l} has {str(lin.weight.dtype).replace('torch.', '')} weights; sleep "
                             "reads float16, float32 or float64 weights: call model.float() before sleeping (and convert "
                             "back afterwards if you train in lower precision)")
        if not torch.isfinite(lin.weight).all():
            raise ModelError(f"Linear layer {l} has NaN or infinite weights")
    return ModelGraph(linears, flattens_input, operations)


def check_model(model: nn.Module) -> list[nn.Linear]:
    """Validate ``model`` for conversion and return its Linear layers in forward order
    (see :func:`read_model`)."""
    return read_model(model).linears


def export_weights(model: nn.Module) -> list[np.ndarray]:
    """Weights of ``model`` as float32 ``(out, in)`` NumPy arrays (copies), in forward order."""
    return [lin.weight.detach().cpu().numpy().astype(np.float32, copy=True) for lin in check_model(model)]


@torch.no_grad()
def layer_output_maxima(model: nn.Module, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Largest output of every layer over ``x``, with the model in eval mode.

    A layer's output is taken where the next Linear reads it (so after its ReLU
    and the test-time dropout scaling, as in the reference), and at the model's
    end for the last layer. ``x`` is cast to the model's dtype and device.
    Returns ``(L,)``.
    """
    model = unwrap_compiled(model)  # no compilation for a few forward passes
    linears = check_model(model)
    maxima = np.full(len(linears), -np.inf)
    for acts in iter_layer_activations(model, x, batch_size, linears=linears):
        for l, h in enumerate(acts):
            maxima[l] = max(maxima[l], float(h.max()))
    return maxima


def import_weights(model: nn.Module, weights: Sequence[np.ndarray], *, inplace: bool = False) -> nn.Module:
    """Put slept ``weights`` (``(out, in)`` per layer, forward order) into ``model``.

    Returns a deep copy of ``model`` holding them, or ``model`` itself when
    ``inplace`` (the same Parameter objects are overwritten, so optimizers built
    on ``model.parameters()`` stay valid). Shapes must match the model's Linear
    layers; values must be finite.
    """
    target = model if inplace else copy.deepcopy(model)
    linears = check_model(target)
    if len(weights) != len(linears):
        raise ValueError(f"got {len(weights)} weight matrices for a model with {len(linears)} Linear layers")
    for l, (lin, w) in enumerate(zip(linears, weights)):
        w = np.asarray(w)
        if tuple(w.shape) != tuple(lin.weight.shape):
            raise ValueError(f"weights[{l}] has shape {w.shape}, the model's layer {l} has {tuple(lin.weight.shape)}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"weights[{l}] contains NaN or infinite values")
    with torch.no_grad():
        for lin, w in zip(linears, weights):
            lin.weight.copy_(torch.as_tensor(np.asarray(w), dtype=lin.weight.dtype))
    return target
