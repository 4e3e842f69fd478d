"""Convolution and pooling layers of a PyTorch model -> layers of the sleep network.

Supported (docs/cnn.md): ``nn.Conv2d`` without bias, with any kernel size, stride
and zero padding (``groups=1``, ``dilation=1``, ``padding_mode="zeros"``), and
``nn.AvgPool2d`` without padding (``ceil_mode=False``, no ``divisor_override``). Each
becomes its own layer of integrate-and-fire neurons: a convolution with its shared
kernel, a pooling layer with the fixed weights ``1 / (kh kw)`` (as Diehl et al.
2015 turned subsampling layers into spiking layers). ``nn.MaxPool2d`` has no such
counterpart and is refused, as is any other attribute or layer, by a
:class:`~bridge.errors.ModelError` naming the field.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from torch import nn

import snn

from .errors import ModelError, UnsupportedOperationError


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def check_conv(conv: nn.Conv2d, name: str) -> None:
    """Refuse a Conv2d the sleep network cannot hold, naming the attribute."""
    where = f"Conv2d ('{name}')"
    if conv.bias is not None:
        raise ModelError(f"{where} has a bias; SRC needs bias-free layers (nn.Conv2d(..., bias=False))")
    if isinstance(conv.padding, str):
        raise ModelError(f"{where} has padding={conv.padding!r}; give the zero padding as integers "
                         "(e.g. padding=2 for a 5x5 kernel keeping the size)")
    for field, value, ok in (("groups", conv.groups, conv.groups == 1),
                             ("dilation", tuple(conv.dilation), tuple(conv.dilation) == (1, 1)),
                             ("padding_mode", conv.padding_mode, conv.padding_mode == "zeros")):
        if not ok:
            raise ModelError(f"{where} has {field}={value!r}; the sleep network supports groups=1, dilation=1 and "
                             "padding_mode='zeros' only")


def check_pool(pool: nn.AvgPool2d, name: str) -> None:
    """Refuse an AvgPool2d the sleep network cannot hold, naming the attribute."""
    where = f"AvgPool2d ('{name}')"
    for field, value, ok in (("padding", pool.padding, _pair(pool.padding) == (0, 0)),
                             ("ceil_mode", pool.ceil_mode, not pool.ceil_mode),
                             ("divisor_override", pool.divisor_override, pool.divisor_override is None)):
        if not ok:
            raise ModelError(f"{where} has {field}={value!r}; the sleep network supports padding=0, "
                             "ceil_mode=False and no divisor_override (a fixed average of each window)")


def max_pool_error(name: str, kind: str = "MaxPool2d") -> UnsupportedOperationError:
    """The error for max pooling: it has no fixed linear spiking counterpart."""
    return UnsupportedOperationError(
        f"unsupported layer {kind} ('{name}'): the maximum over a window is not a fixed linear layer and has no "
        "spiking counterpart in SRC; use nn.AvgPool2d (an average-pooling layer of integrate-and-fire neurons, "
        "Diehl et al. 2015)")


def pool_weights(pool: nn.AvgPool2d) -> np.ndarray:
    """The fixed weights of an average-pooling layer, ``(kh, kw)`` float32 ``1 / (kh kw)``."""
    kh, kw = _pair(pool.kernel_size)
    return np.full((kh, kw), 1.0 / (kh * kw), dtype=np.float32)


def sleep_layers(modules: Sequence[nn.Module], input_shape: tuple[int, ...] | None, n_inputs: int) -> list:
    """The :mod:`snn.layers` of the model's ``modules`` (Conv2d, AvgPool2d, Linear, in forward
    order) for inputs of ``input_shape`` ``(C, H, W)`` (``None`` for a model that starts fully
    connected, with ``n_inputs`` inputs). Raises :class:`ModelError` when shapes do not chain."""
    layers: list = []
    shape: tuple[int, ...] | None = tuple(input_shape) if input_shape is not None else None
    n = n_inputs if shape is None else math.prod(shape)
    for l, m in enumerate(modules):
        if isinstance(m, nn.Linear):
            if m.in_features != n:
                raise ModelError(f"Linear layer {l} takes {m.in_features} inputs but the layer before it has "
                                 f"{n} outputs" + (f" ({shape[0]} x {shape[1]} x {shape[2]})" if shape else ""))
            layers.append(snn.Dense(m.in_features, m.out_features))
            shape, n = None, m.out_features
            continue
        if shape is None or len(shape) != 3:
            raise ModelError(f"layer {l} ({type(m).__name__}) needs image-shaped input (channels, height, width); "
                             "start the model with nn.Unflatten(1, (C, H, W)) or pass (n, C, H, W) data")
        try:
            if isinstance(m, nn.Conv2d):
                if m.in_channels != shape[0]:
                    raise ModelError(f"Conv2d layer {l} takes {m.in_channels} channels but gets {shape[0]}")
                layer = snn.Conv2d(shape, m.out_channels, _pair(m.kernel_size), _pair(m.stride), _pair(m.padding))
            else:
                layer = snn.Pool2d(shape, _pair(m.kernel_size), _pair(m.stride or m.kernel_size))
        except snn.errors.InvalidNetworkError as exc:
            raise ModelError(f"layer {l} ({type(m).__name__}) on input {shape}: {exc}") from None
        layers.append(layer)
        shape, n = layer.out_shape, layer.n_out
    return layers
