"""ANN <-> sleep network: reading weights out of a PyTorch model and back in.

Supported models are feed-forward stacks of ``nn.Linear`` (without bias) with
``nn.ReLU`` between them, optionally with dropout (``nn.Dropout`` or
:class:`ann.ReferenceDropout`), ``nn.Flatten`` and ``nn.Identity``. Integrate-
and-fire neurons with a zero reset approximate ReLU units, so every hidden
Linear must be followed by a ReLU; biases have no sleep counterpart.
"""
from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ann.models import ReferenceDropout

_PASSIVE = (nn.Dropout, ReferenceDropout, nn.Flatten, nn.Identity)


def _leaf_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if not list(m.children())]


def check_model(model: nn.Module) -> list[nn.Linear]:
    """Validate ``model`` for conversion and return its Linear layers in order.

    Raises ``TypeError`` for unsupported layer types and ``ValueError`` for
    biases, missing ReLUs between layers or non-finite weights.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    linears: list[nn.Linear] = []
    relu_after_last = True
    for m in _leaf_modules(model):
        if isinstance(m, nn.Linear):
            if linears and not relu_after_last:
                raise ValueError(f"Linear layer {len(linears)} is not followed by a ReLU; "
                                 "hidden layers must be ReLU units to map onto spiking neurons")
            if m.bias is not None:
                raise ValueError(f"Linear layer {len(linears)} ({m.in_features}->{m.out_features}) has a bias; "
                                 "SRC needs bias-free layers (nn.Linear(..., bias=False))")
            linears.append(m)
            relu_after_last = False
        elif isinstance(m, nn.ReLU):
            relu_after_last = True
        elif not isinstance(m, _PASSIVE):
            raise TypeError(f"unsupported layer {type(m).__name__}: the sleep network can only be built "
                            "from Linear (no bias), ReLU and dropout layers")
    if not linears:
        raise ValueError("model has no Linear layers")
    for l, lin in enumerate(linears):
        if not torch.isfinite(lin.weight).all():
            raise ValueError(f"Linear layer {l} has NaN or infinite weights")
    return linears


def export_weights(model: nn.Module) -> list[np.ndarray]:
    """Weights of ``model`` as float32 ``(out, in)`` NumPy arrays (copies)."""
    return [lin.weight.detach().cpu().numpy().astype(np.float32, copy=True) for lin in check_model(model)]


@torch.no_grad()
def layer_output_maxima(model: nn.Module, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Largest output of every layer over ``x``, with the model in eval mode.

    A layer's output is taken just before the next Linear (so after its ReLU and
    the test-time dropout scaling, as in the reference), and at the model's end
    for the last layer. Returns ``(L,)``.
    """
    leaves = _leaf_modules(model)
    n_layers = len(check_model(model))
    maxima = np.full(n_layers, -np.inf)
    was_training = model.training
    model.eval()
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    for start in range(0, len(xt), batch_size):
        h = xt[start : start + batch_size]
        layer = -1
        for m in leaves:
            if isinstance(m, nn.Linear):
                if layer >= 0:
                    maxima[layer] = max(maxima[layer], float(h.max()))
                layer += 1
            h = m(h)
        maxima[layer] = max(maxima[layer], float(h.max()))
    model.train(was_training)
    return maxima


def import_weights(model: nn.Module, weights: Sequence[np.ndarray], *, inplace: bool = False) -> nn.Module:
    """Put slept ``weights`` (``(out, in)`` per layer) into ``model``.

    Returns a deep copy of ``model`` holding them, or ``model`` itself when
    ``inplace``. Shapes must match the model's Linear layers; values must be finite.
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
