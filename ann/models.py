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


def _int_pair(v: object, name: str, minimum: int) -> tuple[int, int]:
    """``v`` (an int or a pair of ints, each >= ``minimum``) as a pair; TrainingConfigError names ``name``."""
    pair = (v, v) if _is_int(v) else tuple(v) if isinstance(v, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(_is_int(p) and p >= minimum for p in pair):
        raise TrainingConfigError(f"{name} must be an integer >= {minimum} or a pair of them, got {v!r}")
    return int(pair[0]), int(pair[1])


def conv_output_shape(in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                      padding: tuple[int, int]) -> tuple[int, int]:
    """``(H_out, W_out)`` of a convolution or pooling window (``nn.Conv2d``'s formula, dilation 1)."""
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(in_hw, kernel, stride, padding))  # type: ignore


class SleepCNN(nn.Sequential):
    """Bias-free convolutional network: ``(conv - ReLU - avgpool) x n``, flatten, then a no-bias MLP.

    Parameters
    ----------
    image_shape: ``(channels, height, width)`` of one input image; the network takes flat
        ``(batch, prod(image_shape))`` inputs (as every data set here) and unflattens them first.
    channels: output channels of each convolution (default 16, 32).
    kernel_size, stride, padding: of every convolution (int or pair; default 5, 1, 0).
    pool_size: ``nn.AvgPool2d(pool_size)`` after each convolution's ReLU; 0 or 1: no pooling.
    fc_sizes: widths of the fully connected layers after flattening, the output last (default 10).
    dropout: probability of the dropout on the flattened features and on hidden fully
        connected layers (the reference's convention for its hidden layers; none on feature maps).
    dropout_mode, output_activation, init_range, generator: as :class:`SleepMLP` (initial weights of
        every layer uniform in ``[-init_range, init_range]``).

    Default: ``conv 16 5x5 - avgpool 2 - conv 32 5x5 - avgpool 2 - fc 10`` on 28 x 28 images
    (``784 -> 16x24x24 -> 16x12x12 -> 32x8x8 -> 32x4x4 = 512 -> 10``), no biases.
    Input ``(batch, prod(image_shape))`` -> output ``(batch, fc_sizes[-1])``.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        channels: Sequence[int] = (16, 32),
        *,
        kernel_size: int | Sequence[int] = 5,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        pool_size: int = 2,
        fc_sizes: Sequence[int] = (10,),
        dropout: float = 0.25,
        dropout_mode: str = "reference",
        output_activation: str = "relu",
        init_range: float = 0.01,
        generator: torch.Generator | None = None,
    ) -> None:
        for name, seq in (("image_shape", image_shape), ("channels", channels), ("fc_sizes", fc_sizes)):
            if isinstance(seq, (str, bytes)) or not isinstance(seq, (Sequence, np.ndarray)) or not all(
                    _is_int(s) and s > 0 for s in seq):
                raise TrainingConfigError(f"{name} must list positive integers, got {seq!r}")
        if len(image_shape) != 3:
            raise TrainingConfigError(f"image_shape must be (channels, height, width), got {image_shape!r}")
        if len(channels) < 1 or len(fc_sizes) < 1:
            raise TrainingConfigError(f"channels and fc_sizes need at least one entry, got {channels!r}, {fc_sizes!r}")
        kernel = _int_pair(kernel_size, "kernel_size", 1)
        stride_ = _int_pair(stride, "stride", 1)
        padding_ = _int_pair(padding, "padding", 0)
        if not _is_int(pool_size) or pool_size < 0:
            raise TrainingConfigError(f"pool_size must be an integer >= 0 (0 or 1: no pooling), got {pool_size!r}")
        if not _is_real(dropout) or not 0.0 <= dropout < 1.0:
            raise TrainingConfigError(f"dropout must be a number in [0, 1), got {dropout!r}")
        if dropout_mode not in DROPOUT_MODES:
            raise TrainingConfigError(f"dropout_mode must be one of {DROPOUT_MODES}, got {dropout_mode!r}")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise TrainingConfigError(f"output_activation must be one of {OUTPUT_ACTIVATIONS}, "
                                      f"got {output_activation!r}")
        if not _is_real(init_range) or not (math.isfinite(init_range) and init_range > 0):
            raise TrainingConfigError(f"init_range must be a finite number > 0, got {init_range!r}")

        def drop() -> list[nn.Module]:
            if dropout == 0:
                return []
            return [ReferenceDropout(dropout) if dropout_mode == "reference" else nn.Dropout(dropout)]

        c, h, w = (int(s) for s in image_shape)
        layers: list[nn.Module] = [nn.Unflatten(1, (c, h, w))]
        for l, c_out in enumerate(channels):
            h, w = conv_output_shape((h, w), kernel, stride_, padding_)
            if h < 1 or w < 1:
                raise TrainingConfigError(f"convolution {l + 1} leaves no output positions for image_shape "
                                          f"{tuple(image_shape)} (kernel {kernel}, stride {stride_}, padding {padding_})")
            layers += [nn.Conv2d(c, int(c_out), kernel, stride_, padding_, bias=False), nn.ReLU()]
            c = int(c_out)
            if pool_size > 1:
                h, w = h // pool_size, w // pool_size
                if h < 1 or w < 1:
                    raise TrainingConfigError(f"pooling after convolution {l + 1} leaves no output positions "
                                              f"(pool_size {pool_size})")
                layers.append(nn.AvgPool2d(int(pool_size)))
        layers += [nn.Flatten(), *drop()]
        widths = [c * h * w] + [int(s) for s in fc_sizes]
        for l, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(n_in, n_out, bias=False))
            if l < len(widths) - 2:
                layers += [nn.ReLU(), *drop()]
            elif output_activation == "relu":
                layers.append(nn.ReLU())
        super().__init__(*layers)
        self.image_shape = (int(image_shape[0]), int(image_shape[1]), int(image_shape[2]))
        self.channels = [int(ch) for ch in channels]
        self.fc_sizes = [int(s) for s in fc_sizes]
        self.kernel_size, self.stride, self.padding, self.pool_size = kernel, stride_, padding_, int(pool_size)
        self.dropout = float(dropout)
        self.dropout_mode = dropout_mode
        self.output_activation = output_activation
        self.sizes = [int(np.prod(self.image_shape)), *self.fc_sizes]  # input width, then the fc widths
        with torch.no_grad():
            for layer in self.weight_layers:
                layer.weight.uniform_(-init_range, init_range, generator=generator)

    @property
    def weight_layers(self) -> list[nn.Module]:
        """The Conv2d and Linear layers, input side first."""
        return [m for m in self if isinstance(m, (nn.Conv2d, nn.Linear))]

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]
