"""The awake network: a fully connected ReLU MLP without biases.

SRC_SPEC.md section 1: reference net 784-1200-1200-10, no biases, ReLU on the
hidden layers, dropout 0.25 on the hidden layers, weights uniform in
[-0.01, 0.01]. The reference's dropout is *non-inverted*: training multiplies by
a 0/1 mask, test time multiplies by ``1 - p``. :class:`ReferenceDropout`
implements that; ``dropout_mode="inverted"`` uses ``torch.nn.Dropout``.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .errors import InvalidWeightsError, TrainingConfigError

OUTPUT_ACTIVATIONS = ("relu", "linear")
DROPOUT_MODES = ("reference", "inverted")


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _is_real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _weight_tensors(weights: Sequence) -> list[torch.Tensor]:
    """float32 ``(out, in)`` tensors of ``weights``, checked: 2-D, real, finite, chaining."""
    if isinstance(weights, (str, bytes, torch.Tensor, np.ndarray)) or not isinstance(weights, Sequence) or not weights:
        raise InvalidWeightsError(f"weights must be a non-empty list of (out, in) arrays, got {type(weights).__name__}")
    out = []
    for l, w in enumerate(weights):
        if isinstance(w, torch.Tensor):
            if w.is_complex() or w.dtype == torch.bool:
                raise InvalidWeightsError(f"weights[{l}] must be real numbers, got dtype {w.dtype}")
            t = w.detach().to(device="cpu", dtype=torch.float32)
        else:
            a = np.asarray(w)
            if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)) or a.dtype == bool:
                raise InvalidWeightsError(f"weights[{l}] must be real numbers, got dtype {a.dtype}")
            t = torch.as_tensor(a, dtype=torch.float32)
        if t.ndim != 2 or 0 in t.shape:
            raise InvalidWeightsError(f"weights[{l}] must be a non-empty 2-D (out, in) array, got shape {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise InvalidWeightsError(f"weights[{l}] contains NaN or infinite values")
        if out and t.shape[1] != out[-1].shape[0]:
            raise InvalidWeightsError(f"weights[{l}] has {t.shape[1]} inputs but weights[{l - 1}] has "
                                      f"{out[-1].shape[0]} outputs")
        out.append(t)
    return out


class ReferenceDropout(nn.Module):
    """Non-inverted dropout: ``x * mask`` in training, ``x * (1 - p)`` in eval."""

    def __init__(self, p: float = 0.25) -> None:
        super().__init__()
        if not _is_real(p) or not 0.0 <= p < 1.0:
            raise TrainingConfigError(f"dropout probability must be a number in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0:
            return x
        if self.training:
            return x * (torch.rand_like(x) > self.p).to(x.dtype)
        return x * (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SleepMLP(nn.Sequential):
    """No-bias ReLU MLP, a ``nn.Sequential`` of Linear / ReLU / dropout.

    Args:
        sizes: layer widths, input first (default 784-1200-1200-10).
        dropout: dropout probability on hidden layers (reference 0.25).
        dropout_mode: ``"reference"`` (non-inverted, default) or ``"inverted"``.
        output_activation: ``"relu"`` (reference, for squared-error training) or
            ``"linear"`` (logits, for cross-entropy).
        init_range: weights are drawn uniform in ``[-init_range, init_range]``.
        generator: ``torch.Generator`` for the initial weights (reproducibility).

    Input ``(batch, sizes[0])`` -> output ``(batch, sizes[-1])``.
    """

    def __init__(
        self,
        sizes: Sequence[int] = (784, 1200, 1200, 10),
        *,
        dropout: float = 0.25,
        dropout_mode: str = "reference",
        output_activation: str = "relu",
        init_range: float = 0.01,
        generator: torch.Generator | None = None,
    ) -> None:
        if (isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)) or len(sizes) < 2
                or not all(_is_int(s) and s > 0 for s in sizes)):
            raise TrainingConfigError(f"sizes must list >= 2 positive integer widths, got {sizes!r}")
        sizes = [int(s) for s in sizes]
        if not _is_real(dropout) or not 0.0 <= dropout < 1.0:
            raise TrainingConfigError(f"dropout must be a number in [0, 1), got {dropout!r}")
        if dropout_mode not in DROPOUT_MODES:
            raise TrainingConfigError(f"dropout_mode must be one of {DROPOUT_MODES}, got {dropout_mode!r}")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise TrainingConfigError(f"output_activation must be one of {OUTPUT_ACTIVATIONS}, "
                                      f"got {output_activation!r}")
        if not _is_real(init_range) or not (math.isfinite(init_range) and init_range > 0):
            raise TrainingConfigError(f"init_range must be a finite number > 0, got {init_range!r}")
        layers: list[nn.Module] = []
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out, bias=False))
            last = l == len(sizes) - 2
            if not last:
                layers.append(nn.ReLU())
                if dropout > 0:
                    layers.append(ReferenceDropout(dropout) if dropout_mode == "reference" else nn.Dropout(dropout))
            elif output_activation == "relu":
                layers.append(nn.ReLU())
        super().__init__(*layers)
        self.sizes = sizes
        self.dropout = float(dropout)
        self.dropout_mode = dropout_mode
        self.output_activation = output_activation
        with torch.no_grad():
            for lin in self.linears:
                lin.weight.uniform_(-init_range, init_range, generator=generator)

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]

    @classmethod
    def from_weights(cls, weights: Sequence, **options) -> "SleepMLP":
        """Build a model holding the given ``(out, in)`` weight arrays (NumPy arrays or
        tensors; layer l's ``in`` must equal layer l-1's ``out``).
        :class:`~ann.errors.InvalidWeightsError` names the first bad layer."""
        weights = _weight_tensors(weights)
        sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        model = cls(sizes, **options)
        with torch.no_grad():
            for lin, w in zip(model.linears, weights):
                lin.weight.copy_(w)
        return model
