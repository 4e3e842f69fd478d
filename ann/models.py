"""The awake network: a fully connected ReLU MLP without biases.

SRC_SPEC.md section 1: reference net 784-1200-1200-10, no biases, ReLU on the
hidden layers, dropout 0.25 on the hidden layers, weights uniform in
[-0.01, 0.01]. The reference's dropout is *non-inverted*: training multiplies by
a 0/1 mask, test time multiplies by ``1 - p``. :class:`ReferenceDropout`
implements that; ``dropout_mode="inverted"`` uses ``torch.nn.Dropout``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

OUTPUT_ACTIVATIONS = ("relu", "linear")
DROPOUT_MODES = ("reference", "inverted")


class ReferenceDropout(nn.Module):
    """Non-inverted dropout: ``x * mask`` in training, ``x * (1 - p)`` in eval."""

    def __init__(self, p: float = 0.25) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
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

    Parameters
    ----------
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
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s <= 0 for s in sizes):
            raise ValueError(f"sizes must list >= 2 positive widths, got {sizes}")
        if dropout_mode not in DROPOUT_MODES:
            raise ValueError(f"dropout_mode must be one of {DROPOUT_MODES}, got {dropout_mode!r}")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {OUTPUT_ACTIVATIONS}, got {output_activation!r}")
        if not init_range > 0:
            raise ValueError(f"init_range must be > 0, got {init_range}")
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
        """Build a model holding the given ``(out, in)`` weight arrays."""
        weights = [torch.as_tensor(w, dtype=torch.float32) for w in weights]
        sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        model = cls(sizes, **options)
        with torch.no_grad():
            for lin, w in zip(model.linears, weights):
                lin.weight.copy_(w)
        return model
