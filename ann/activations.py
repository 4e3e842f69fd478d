"""Per-layer activations of a feed-forward network in test mode (wake side, no spikes).

A *layer* is one ``nn.Linear`` with what follows it up to the next Linear
(ReLU, dropout, flatten). Layer ``l``'s activation is what Linear ``l + 1``
reads, i.e. after its ReLU and the test-time dropout scaling (as in the
reference code); the last layer's activation is the model's output. The model
is run in eval mode under ``torch.no_grad`` and its train/eval mode is restored.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` modules of ``model``, in registration (= forward, for a stack) order."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def count_layers(model: nn.Module) -> int:
    """Number of ``nn.Linear`` layers of ``model``."""
    return len(linear_layers(model))


class _Enough(Exception):
    """Stops a forward pass once the requested layers are recorded."""


@torch.no_grad()
def iter_layer_activations(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 1000,
                           n_layers: int | None = None,
                           linears: Sequence[nn.Linear] | None = None) -> Iterator[list[torch.Tensor]]:
    """Yield, per batch of ``x`` (``(n, n_in)``), the activations of the first
    ``n_layers`` layers (default: all): a list of ``(batch, width_l)`` tensors.

    Layer ``l``'s activation is what Linear ``l + 1`` reads (recorded by a forward
    pre-hook), the last layer's is the model's output; later layers are not
    computed. ``x`` is cast to the dtype and device of the first Linear's weight.
    ``linears``: the model's Linear layers in forward order, if not the
    registration order; or any layers whose inputs are the activations (e.g. a
    CNN's Conv2d, AvgPool2d and Linear layers; feature maps are flattened to
    ``(batch, C H W)``). Eval mode, no gradients; the mode is restored.
    """
    linears = list(linears) if linears is not None else linear_layers(model)
    total = len(linears)
    if total == 0:
        raise ValueError("model has no Linear layers")
    n_layers = total if n_layers is None else int(n_layers)
    if not 1 <= n_layers <= total:
        raise ValueError(f"n_layers must be in [1, {total}], got {n_layers}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    weight = next(m.weight for m in linears if isinstance(getattr(m, "weight", None), torch.Tensor))
    xt = torch.as_tensor(np.asarray(x), dtype=weight.dtype, device=weight.device)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(xt), batch_size):
            acts: list[torch.Tensor | None] = [None] * n_layers
            hooks = []
            for j, lin in enumerate(linears[1 : n_layers + 1], start=1):
                def record(module: nn.Module, args: tuple, j: int = j) -> None:
                    acts[j - 1] = args[0].flatten(1)
                    if j == n_layers:
                        raise _Enough
                hooks.append(lin.register_forward_pre_hook(record))
            try:
                out = model(xt[start : start + batch_size])
                acts[-1] = out.flatten(1)
            except _Enough:
                pass
            finally:
                for h in hooks:
                    h.remove()
            yield acts  # type: ignore[misc]
    finally:
        model.train(was_training)


def layer_activations(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 1000,
                      n_layers: int | None = None,
                      linears: Sequence[nn.Module] | None = None) -> list[np.ndarray]:
    """Activations of every layer (or the first ``n_layers``) over all of ``x``,
    in test mode: a list of ``(n, width_l)`` arrays (the model's dtype).
    ``linears``: the layers, as for :func:`iter_layer_activations` (default: the Linear layers)."""
    per_batch = list(iter_layer_activations(model, x, batch_size, n_layers, linears))
    if not per_batch:
        widths = [m.out_features for m in linear_layers(model)]
        return [np.zeros((0, w), dtype=np.float32) for w in widths[: n_layers or len(widths)]]
    return [torch.cat([b[l] for b in per_batch]).cpu().numpy() for l in range(len(per_batch[0]))]


def hidden_activations(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 1000) -> list[np.ndarray]:
    """Activations of the hidden layers only (every layer but the output), test mode:
    a list of ``(n, width_l)`` arrays, one per hidden layer."""
    n = count_layers(model) - 1
    return layer_activations(model, x, batch_size, n) if n > 0 else []
