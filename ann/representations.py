"""Wake-side representations of hidden layers (no spikes): the measures of the paper's
Figs 4-6 and of the reference code's analysis utilities (SRC_SPEC.md section 7).

Shapes: ``acts`` is ``(n_examples, n_units)`` activations of one layer in test
mode (:func:`ann.activations.hidden_activations`), ``labels`` ``(n_examples,)``
integer classes.

Measures
--------
* **Class correlation matrix** (reference "activation correlation"): the Pearson
  correlation of every pair of examples' activation vectors, averaged over the
  pairs of each class pair ``(a, b)``: a ``(C, C)`` matrix. On the diagonal an
  example is not paired with itself. Examples whose activations are constant
  (e.g. all units silent) have no correlation and are left out.
* **Within-class correlation**: mean of the diagonal; **between-class
  correlation**: mean of the off-diagonal entries.
* **Treves-Rolls sparseness** (population sparseness, Treves & Rolls 1991;
  Rolls & Tovee 1995): per example ``a = (mean_i r_i)^2 / mean_i(r_i^2)`` over the
  units ``i``; reported as ``1 - a`` (0: all units equally active, towards 1: a
  few units carry the activity), averaged over examples with any activity.
* **Active fraction**: fraction of units with activation ``> threshold`` (default
  0), averaged over examples.
* **Selective units**: the top-N units by mean activation over a class's (or a
  task's) examples; ties go to the lower unit index.
* **Input drive**: a unit's pre-activation ``(W_l h_{l-1})_i``, the summed
  weighted input from the layer below, averaged over examples.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from .activations import layer_activations, linear_layers
from .errors import DataError


def _check(acts: np.ndarray, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    acts = np.asarray(acts, dtype=np.float64)
    if acts.ndim != 2 or acts.shape[0] == 0 or acts.shape[1] == 0:
        raise DataError(f"activations must be a non-empty (n_examples, n_units) array, got shape {acts.shape}")
    if labels is None:
        return acts, None
    labels = np.asarray(labels)
    if labels.shape != (acts.shape[0],):
        raise DataError(f"labels must have shape ({acts.shape[0]},) to match the activations, got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"labels must be integers, got dtype {labels.dtype}")
    return acts, labels


def layer_modules(model: nn.Module) -> list[nn.Module]:
    """The modules that are the layers of the model's sleep network, in registration (= forward, for a
    stack such as :class:`ann.SleepCNN`) order: every ``nn.Conv2d``, ``nn.AvgPool2d`` and ``nn.Linear``
    (for an MLP: its Linear layers). Layer ``l``'s activation is what layer ``l + 1`` reads (a feature
    map after its ReLU, flattened ``(C, H, W)`` as ``nn.Flatten`` numbers it)."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.AvgPool2d, nn.Linear))]


def _is_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def input_width(model: nn.Module) -> int:
    """Width of the flat ``(n, width)`` inputs the model takes: the first Linear's ``in_features``, or for
    a CNN the pixels of its ``nn.Unflatten(1, (C, H, W))`` (:class:`DataError` for a CNN without one)."""
    if _is_conv(model):
        unflatten = next((m for m in model.modules() if isinstance(m, nn.Unflatten)), None)
        if unflatten is None:
            raise DataError("the CNN takes images: start it with nn.Unflatten(1, (C, H, W)) to analyse flat data")
        return int(np.prod(unflatten.unflattened_size))
    return linear_layers(model)[0].in_features


def check_data_width(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """``x`` as a 2-D array whose width is the model's input width, else :class:`DataError`."""
    x = np.asarray(x)
    n_in = input_width(model)
    if x.ndim != 2 or x.shape[0] == 0:
        raise DataError(f"data must be a non-empty (n_examples, n_features) array, got shape {x.shape}")
    if x.shape[1] != n_in:
        raise DataError(f"data has {x.shape[1]} features but the model takes {n_in} inputs")
    return x


def hidden_layer_activations(model: nn.Module, x: np.ndarray) -> list[np.ndarray]:
    """Activations of every hidden layer in test mode: one ``(n, width_l)`` float64
    array per hidden layer (after ReLU and the test-time dropout scale). For a CNN the
    hidden layers are every convolution and pooling layer and the hidden fc layers
    (:func:`layer_modules`; a feature map flattened to ``C H W`` units)."""
    x = check_data_width(model, x)
    layers = layer_modules(model)
    if len(layers) < 2:
        return []
    return [a.astype(np.float64) for a in layer_activations(model, x, n_layers=len(layers) - 1, linears=layers)]


def activations_by_class(acts: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """``{class: (n_c, n_units) activations}`` in ascending class order."""
    acts, labels = _check(acts, labels)
    return {int(c): acts[labels == c] for c in np.unique(labels)}


def class_mean_activations(acts: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, means)``: the sorted classes and the ``(C, n_units)`` mean activation per class."""
    by_class = activations_by_class(acts, labels)
    return np.array(list(by_class)), np.stack([a.mean(0) for a in by_class.values()])


def class_correlation_matrix(acts: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, R)``: ``R[a, b]`` is the mean Pearson correlation between the
    activation vectors of an example of class ``a`` and one of class ``b`` (distinct
    examples); ``NaN`` where no pair exists (e.g. one example of a class)."""
    acts, labels = _check(acts, labels)
    centred = acts - acts.mean(1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1)
    valid = norm > 0
    z = np.zeros_like(centred)
    z[valid] = centred[valid] / norm[valid, None]
    classes = np.unique(labels)
    onehot = ((labels[:, None] == classes[None, :]) & valid[:, None]).astype(np.float64)  # (n, C)
    proj = onehot.T @ z  # (C, n_units): summed unit vectors per class
    sums = proj @ proj.T  # sum of r over all ordered pairs (self pairs included)
    n_c = onehot.sum(0)
    pairs = np.outer(n_c, n_c)
    np.fill_diagonal(sums, np.diag(sums) - n_c)  # remove the self pairs (r = 1 each)
    np.fill_diagonal(pairs, n_c * (n_c - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(pairs > 0, sums / np.where(pairs > 0, pairs, 1), np.nan)
    return classes, r


def within_between(r: np.ndarray) -> dict[str, float]:
    """``{"within": mean of the diagonal, "between": mean off the diagonal}`` of a
    class correlation matrix (NaN entries ignored)."""
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] < 2:
        raise DataError(f"a class correlation matrix must be square with >= 2 classes, got shape {r.shape}")
    off = ~np.eye(len(r), dtype=bool)
    return {"within": float(np.nanmean(np.diag(r))), "between": float(np.nanmean(r[off]))}


def treves_rolls_sparseness(acts: np.ndarray) -> float:
    """Mean over examples of ``1 - (mean_i r_i)^2 / mean_i(r_i^2)`` (population
    sparseness; examples without activity are left out; NaN if none has any)."""
    acts, _ = _check(acts)
    sq = (acts**2).mean(1)
    active = sq > 0
    if not active.any():
        return float("nan")
    a = acts[active].mean(1) ** 2 / sq[active]
    return float(np.mean(1.0 - a))


def active_fraction(acts: np.ndarray, threshold: float = 0.0) -> float:
    """Mean over examples of the fraction of units with activation ``> threshold``."""
    acts, _ = _check(acts)
    return float((acts > threshold).mean())


def top_units(mean_activation: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest entries of ``mean_activation`` (ties: lower index
    first), in descending order of activation."""
    m = np.asarray(mean_activation, dtype=np.float64).reshape(-1)
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= m.size:
        raise DataError(f"top-N must be an integer in [1, {m.size}], got {n!r}")
    return np.argsort(-m, kind="stable")[:n]


def class_selective_units(acts: np.ndarray, labels: np.ndarray, n: int) -> dict[int, np.ndarray]:
    """``{class: the top-n units by mean activation over that class's examples}``."""
    classes, means = class_mean_activations(acts, labels)
    return {int(c): top_units(m, n) for c, m in zip(classes, means)}


def task_selective_units(acts: np.ndarray, labels: np.ndarray, class_groups: Sequence[Sequence[int]],
                         n: int) -> list[np.ndarray]:
    """Per task (a group of classes), the top-n units by mean activation over the
    task's examples."""
    acts, labels = _check(acts, labels)
    out = []
    for k, group in enumerate(class_groups):
        mask = np.isin(labels, list(group))
        if not mask.any():
            raise DataError(f"task {k + 1} (classes {list(group)}) has no examples in the data")
        out.append(top_units(acts[mask].mean(0), n))
    return out


def mean_input_drive(model: nn.Module, x: np.ndarray,
                     groups: Sequence[np.ndarray] | None = None) -> list[np.ndarray] | list[list[np.ndarray]]:
    """Per layer (hidden layers and output), the ``(width_l,)`` mean over ``x`` of the
    input drive ``(W_l h_{l-1})_i`` (test mode; ``h_0 = x``).

    groups: optional row-index arrays of ``x``; then one such list per group (one
    forward pass for all groups).
    """
    x = check_data_width(model, x)
    if _is_conv(model):
        return _conv_input_drive(model, x, groups)
    linears = linear_layers(model)
    acts = layer_activations(model, x)  # every layer; layer l's input is acts[l - 1]
    inputs = [np.asarray(x, dtype=np.float64)] + [a.astype(np.float64) for a in acts[:-1]]
    weights = [lin.weight.detach().cpu().double().numpy() for lin in linears]
    biases = [None if lin.bias is None else lin.bias.detach().cpu().double().numpy() for lin in linears]

    def drive(rows: np.ndarray | slice) -> list[np.ndarray]:
        out = []
        for w, b, h in zip(weights, biases, inputs):
            d = h[rows].mean(0) @ w.T  # mean of a linear map = map of the mean
            out.append(d if b is None else d + b)
        return out

    if groups is None:
        return drive(slice(None))
    return [drive(np.asarray(g, dtype=np.int64)) for g in groups]


@torch.no_grad()
def _conv_input_drive(model: nn.Module, x: np.ndarray,
                      groups: Sequence[np.ndarray] | None) -> list[np.ndarray] | list[list[np.ndarray]]:
    """:func:`mean_input_drive` of a CNN: every layer of :func:`layer_modules` is linear without its
    ReLU (bias-free convolution, average pooling, Linear), so the mean drive is the layer applied to
    the mean of its input."""
    layers = layer_modules(model)
    acts = layer_activations(model, x, linears=layers)
    inputs = [np.asarray(x, dtype=np.float64)] + [a.astype(np.float64) for a in acts[:-1]]
    shapes: list[tuple[int, ...]] = []
    hooks = [m.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].shape[1:])))
             for m in layers]
    was_training = model.training
    model.eval()
    try:
        weight = next(p for p in model.parameters())
        model(torch.as_tensor(np.asarray(x[:1]), dtype=weight.dtype, device=weight.device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)

    def drive(rows: np.ndarray | slice) -> list[np.ndarray]:
        out = []
        for m, h, shape in zip(layers, inputs, shapes):
            mean = torch.as_tensor(h[rows].mean(0), dtype=torch.float64).reshape(1, *shape)
            w = {k: v.detach().cpu().double() for k, v in m.state_dict().items()}
            out.append(torch.func.functional_call(m, w, (mean,)).flatten().numpy())
        return out

    if groups is None:
        return drive(slice(None))
    return [drive(np.asarray(g, dtype=np.int64)) for g in groups]


def representation_summary(acts: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The scalar measures of one layer: within- and between-class correlation,
    Treves-Rolls sparseness (1 - a) and the active fraction."""
    _, r = class_correlation_matrix(acts, labels)
    wb = within_between(r)
    return {"within_class_correlation": wb["within"], "between_class_correlation": wb["between"],
            "treves_rolls_sparseness": treves_rolls_sparseness(acts), "active_fraction": active_fraction(acts)}


__all__ = [
    "activations_by_class", "active_fraction", "check_data_width", "class_correlation_matrix",
    "class_mean_activations", "class_selective_units", "hidden_layer_activations", "input_width",
    "layer_modules", "mean_input_drive",
    "representation_summary", "task_selective_units", "top_units", "treves_rolls_sparseness", "within_between",
]
