"""Layers of the sleep network: what each kind computes, in one place.

A layer of the sleep network is a population of integrate-and-fire neurons with
its incoming synapses. Three kinds (docs/cnn.md):

* :class:`Dense`: every pre neuron to every post neuron, weights ``(n_out, n_in)``
  (PyTorch ``nn.Linear.weight``); the paper's layer.
* :class:`Conv2d`: a 2-D convolution (stride, zero padding; no dilation, one
  group). A post neuron ``(c_out, y, x)`` receives from the pre neurons
  ``(c_in, y * s_y - p_y + k_y, x * s_x - p_x + k_x)`` through the shared kernel
  weight ``w[c_out, c_in, k_y, k_x]`` (``nn.Conv2d.weight``). Kernel positions that
  fall on the zero padding have no pre neuron and no synapse.
* :class:`Pool2d`: average pooling as a fixed linear layer: post ``(c, y, x)``
  receives from ``(c, y * s_y + k_y, x * s_x + k_x)`` through the fixed weights
  ``(kh, kw)`` (``1 / (kh kw)`` for ``nn.AvgPool2d``); never plastic.

Neurons of a layer of shape ``(C, H, W)`` are numbered ``c H W + y W + x``
(PyTorch's flatten order), so a dense layer after a convolution reads them as
``nn.Flatten`` does. Every layer offers its synaptic input of a step
(:meth:`drive`, ``W s``), the Hebbian update of its weights (:meth:`hebbian`) and
its dense equivalent (:meth:`unroll`, ``(n_out, n_in)``). These NumPy forms are the
oracle (the ``dense`` engine); the compiled engines are checked against them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Union

import numpy as np

from .errors import InvalidNetworkError
from .plasticity import KERNEL_UPDATES, hebbian_rows, summed_update, weight_factor


def _ints(value, name: str, n: int, minimum: int) -> tuple[int, ...]:
    """``value`` (an int, or ``n`` ints) as an ``n``-tuple of ints >= ``minimum``."""
    vals = (value,) * n if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        vals = tuple(vals)
    except TypeError:
        vals = None
    if vals is None or len(vals) != n or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in vals):
        raise InvalidNetworkError(f"{name} must be {n} integers >= {minimum}, got {value!r}")
    return tuple(int(v) for v in vals)


def _out_hw(in_hw, kernel, stride, padding) -> tuple[int, int]:
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(in_hw, kernel, stride, padding))  # type: ignore


@dataclass(frozen=True)
class Dense:
    """Fully connected layer: ``n_in`` pre to ``n_out`` post neurons, weights ``(n_out, n_in)``."""

    n_in: int
    n_out: int
    kind: ClassVar[str] = "dense"
    plastic: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _ints(self.n_in, "Dense.n_in", 1, 1), _ints(self.n_out, "Dense.n_out", 1, 1)

    @property
    def weight_shape(self) -> tuple[int, int]:
        return (self.n_out, self.n_in)

    def unroll(self, w: np.ndarray) -> np.ndarray:
        """The ``(n_out, n_in)`` weights (the layer's own)."""
        return np.asarray(w)

    def drive(self, w: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Synaptic input ``W s`` ``(n_out,)`` of the pre spikes ``s`` ``(n_in,)`` (0/1, weight dtype)."""
        return w @ s

    def hebbian(self, w: np.ndarray, fired: np.ndarray, pre_on: np.ndarray, inc, dec, rule: str,
                kernel_update: str) -> None:
        """Update ``w`` in place after the post neurons ``fired`` (ascending indices) fired (SRC_SPEC.md 4)."""
        w[fired] = hebbian_rows(w[fired], pre_on, inc, dec, rule)


@dataclass(frozen=True)
class _Windowed:
    """A layer whose post neuron ``(c, y, x)`` reads a window of its pre layer ``(C, H, W)``."""

    in_shape: tuple[int, int, int]

    @property
    def n_in(self) -> int:
        return math.prod(self.in_shape)

    @property
    def n_out(self) -> int:
        return math.prod(self.out_shape)

    @cached_property
    def receptive_field(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pre, widx)``, both ``(n_out, K)`` int64: entry ``k`` of post neuron ``i`` is its
        pre neuron (``-1`` on the zero padding: no synapse) and the flat index of its weight.
        ``k`` runs over the window in C order (input channel, then ``k_y``, then ``k_x``)."""
        c_out, h_out, w_out = self.out_shape
        c_in, h_in, w_in = self.in_shape
        kh, kw = self.kernel
        (sy, sx), (py, px) = self.stride, self.padding
        co, y, x = (a.reshape(-1, 1) for a in np.meshgrid(np.arange(c_out), np.arange(h_out), np.arange(w_out),
                                                          indexing="ij"))
        ci, ky, kx = (a.reshape(1, -1) for a in np.meshgrid(np.arange(self._window_channels), np.arange(kh),
                                                            np.arange(kw), indexing="ij"))
        if self.kind == "pool":
            ci = co  # one channel: its own
        iy, ix = y * sy - py + ky, x * sx - px + kx
        inside = (iy >= 0) & (iy < h_in) & (ix >= 0) & (ix < w_in)
        pre = np.where(inside, (ci * h_in + iy) * w_in + ix, -1).astype(np.int64)
        k = (np.arange(pre.shape[1])).reshape(1, -1)
        widx = (co * pre.shape[1] + k) if self.kind == "conv" else np.broadcast_to(k, pre.shape)
        return pre, np.ascontiguousarray(widx, dtype=np.int64)

    def unroll(self, w: np.ndarray) -> np.ndarray:
        """The dense ``(n_out, n_in)`` weights of this layer (0 where no synapse)."""
        w = np.asarray(w)
        pre, widx = self.receptive_field
        out = np.zeros((self.n_out, self.n_in), dtype=w.dtype)
        rows = np.broadcast_to(np.arange(self.n_out).reshape(-1, 1), pre.shape)
        ok = pre >= 0
        out[rows[ok], pre[ok]] = w.reshape(-1)[widx[ok]]
        return out

    def drive(self, w: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Synaptic input ``(n_out,)``: each post neuron's window of pre spikes ``s`` times its weights."""
        pre, widx = self.receptive_field
        s_ext = np.append(s, s.dtype.type(0))  # index -1 (padding) reads 0
        return (w.reshape(-1)[widx] * s_ext[pre]).sum(axis=1)


@dataclass(frozen=True)
class Conv2d(_Windowed):
    """2-D convolution: ``in_shape`` ``(C_in, H, W)`` -> ``(out_channels, H_out, W_out)``; weights
    ``(out_channels, C_in, kh, kw)``, shared by every output position (``nn.Conv2d``, no bias)."""

    out_channels: int = 1
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    kind: ClassVar[str] = "conv"
    plastic: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_shape", _ints(self.in_shape, "Conv2d.in_shape", 3, 1))
        _ints(self.out_channels, "Conv2d.out_channels", 1, 1)
        for name, low in (("kernel", 1), ("stride", 1), ("padding", 0)):
            object.__setattr__(self, name, _ints(getattr(self, name), f"Conv2d.{name}", 2, low))
        if min(self.out_shape[1:]) < 1:
            raise InvalidNetworkError(f"Conv2d: kernel {self.kernel} leaves no output positions on input "
                                      f"{self.in_shape} (padding {self.padding})")

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (int(self.out_channels), *_out_hw(self.in_shape[1:], self.kernel, self.stride, self.padding))

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (int(self.out_channels), self.in_shape[0], *self.kernel)

    @property
    def _window_channels(self) -> int:
        return self.in_shape[0]

    def hebbian(self, w: np.ndarray, fired: np.ndarray, pre_on: np.ndarray, inc, dec, rule: str,
                kernel_update: str) -> None:
        """Update the shared kernel ``w`` in place after the post neurons ``fired`` (ascending) fired.

        Every post spike at ``(c_out, y, x)`` gives each kernel weight of channel ``c_out`` the
        update of SRC_SPEC.md section 4 for its pre neuron at that position (``+inc f(w)`` if it
        fired this step, ``-dec f(w)`` if not; none on the padding). ``kernel_update``
        ``"sum"``: the updates of all post spikes are added, ``f`` taken at the kernel as it is
        after the step's input, and applied once (:func:`~snn.plasticity.summed_update`);
        ``"sequential"``: post spikes in ascending order, each from the kernel the previous left.
        """
        pre, widx = self.receptive_field
        flat = w.reshape(-1)  # a view: updates land in w
        on_ext = np.append(np.asarray(pre_on, dtype=bool), False)
        p, k = pre[fired], widx[fired]
        valid, on = p >= 0, on_ext[p]
        if kernel_update == "sum":
            n_on = np.bincount(k[valid & on], minlength=flat.size)
            n_off = np.bincount(k[valid & ~on], minlength=flat.size)
            flat[:] = summed_update(flat, n_on, n_off, inc, dec, rule)
            return
        if kernel_update != "sequential":
            raise InvalidNetworkError(f"unknown kernel_update {kernel_update!r}; choose one of {KERNEL_UPDATES}")
        for row in range(len(fired)):  # one post spike after the other
            idx, o = k[row][valid[row]], on[row][valid[row]]
            cur = flat[idx]
            f = weight_factor(cur, rule)
            flat[idx] = np.where(o, cur + inc * f, cur - dec * f)


@dataclass(frozen=True)
class Pool2d(_Windowed):
    """Average pooling as a fixed layer: ``(C, H, W)`` -> ``(C, H_out, W_out)``, windows ``kernel``
    every ``stride`` (``nn.AvgPool2d(kernel, stride)``, no padding); weights ``kernel``-shaped,
    ``1 / (kh kw)`` for an average, never plastic."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None
    kind: ClassVar[str] = "pool"
    plastic: ClassVar[bool] = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_shape", _ints(self.in_shape, "Pool2d.in_shape", 3, 1))
        object.__setattr__(self, "kernel", _ints(self.kernel, "Pool2d.kernel", 2, 1))
        stride = self.kernel if self.stride is None else self.stride
        object.__setattr__(self, "stride", _ints(stride, "Pool2d.stride", 2, 1))
        if min(self.out_shape[1:]) < 1:
            raise InvalidNetworkError(f"Pool2d: window {self.kernel} does not fit input {self.in_shape}")

    @property
    def padding(self) -> tuple[int, int]:
        return (0, 0)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.in_shape[0], *_out_hw(self.in_shape[1:], self.kernel, self.stride, (0, 0)))

    @property
    def weight_shape(self) -> tuple[int, int]:
        return tuple(self.kernel)  # type: ignore[return-value]

    @property
    def _window_channels(self) -> int:
        return 1

    def average_weights(self, dtype=np.float64) -> np.ndarray:
        """The fixed weights of an average: ``1 / (kh kw)`` everywhere."""
        return np.full(self.kernel, 1.0 / math.prod(self.kernel), dtype=dtype)

    def hebbian(self, *args, **kwargs) -> None:
        """Pooling weights are fixed: no update."""


Layer = Union[Dense, Conv2d, Pool2d]
LAYER_TYPES = (Dense, Conv2d, Pool2d)

__all__ = ["Conv2d", "Dense", "KERNEL_UPDATES", "LAYER_TYPES", "Layer", "Pool2d"]
