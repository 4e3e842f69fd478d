"""Sleep input: rate-coded spikes from the mean of the data seen so far.

SRC_SPEC.md section 3. With ``rescale = 1 / (dt * max_rate)``, input pixel k
spikes at a step iff ``u_k * rescale / 2 <= x_k`` for a uniform draw
``u_k in [0, 1)``, i.e. with probability ``min(1, 2 * dt * max_rate * x_k)``.

* ``masked_mean`` (reference): at each step only a square window of
  ``(mask_size + 1)^2`` pixels at a random position keeps the mean image; with
  0-based window origin ``(i0, j0)`` the kept flat pixels are ``i + side * j``
  for ``i in [i0, i0 + mask_size]``, ``j in [j0, j0 + mask_size]``.
* ``poisson`` (the paper's prose): every pixel keeps the mean image.

Draws come either from a seed (NumPy ``PCG64``, independent streams for window
positions and for the uniforms, so the result does not depend on chunking) or
from explicit arrays, e.g. a reference trace.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from snn.spikes import InputSpikes

from .errors import SleepDataError
from .params import SleepParams


def mean_image(x: np.ndarray) -> np.ndarray:
    """``(n_features,)`` float64 mean of ``x`` ``(n, n_features)`` over examples."""
    x = np.asarray(x)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"data must be a non-empty (n, features) array, got shape {x.shape}")
    return x.mean(axis=0, dtype=np.float64)


def window_pixels(origin: tuple[int, int], mask_size: int, side: int) -> np.ndarray:
    """Flat indices kept by the window at 0-based ``origin = (i0, j0)``."""
    i0, j0 = int(origin[0]), int(origin[1])
    i = np.arange(i0, i0 + mask_size + 1)
    j = np.arange(j0, j0 + mask_size + 1)
    return (i[None, :] + side * j[:, None]).ravel()


def _image_side(n_features: int) -> int:
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise ValueError(f"masked_mean input needs square images; {n_features} features are not a square "
                         "(use input_mode='poisson')")
    return side


def check_input_draws(
    n_features: int,
    params: SleepParams,
    steps: int,
    *,
    uniforms: np.ndarray | None = None,
    windows: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Validate explicit draws before any work; return them as arrays.

    uniforms: optional ``(steps, n_features)`` draws in [0, 1).
    windows: optional ``(steps, 2)`` 0-based window origins (masked mode only).
    Raises :class:`~bridge.errors.SleepDataError` (a ``ValueError``) naming the argument.
    """
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise SleepDataError(f"steps must be an integer >= 0, got {steps!r}")
    if uniforms is not None:
        uniforms = np.asarray(uniforms)
        if uniforms.shape != (steps, n_features):
            raise SleepDataError(f"uniforms must have shape ({steps}, {n_features}), got {uniforms.shape}")
        if not (np.issubdtype(uniforms.dtype, np.floating) or np.issubdtype(uniforms.dtype, np.integer)):
            raise SleepDataError(f"uniforms must hold numbers in [0, 1), got dtype {uniforms.dtype}")
        if uniforms.size and not (np.all(np.isfinite(uniforms)) and uniforms.min() >= 0 and uniforms.max() < 1):
            raise SleepDataError("uniforms must hold finite draws in [0, 1); got NaN, infinite or out-of-range "
                                 "values (a NaN draw would silently give no input spike)")
    if params.input_mode == "masked_mean":
        side = _image_side(n_features)
        hi = side - params.mask_size  # origins in [0, side - mask_size - 1]
        if hi < 1:
            raise SleepDataError(f"mask_size {params.mask_size} does not fit a {side} x {side} image")
        if windows is not None:
            windows = np.asarray(windows)
            if windows.shape != (steps, 2):
                raise SleepDataError(f"windows must have shape ({steps}, 2), got {windows.shape}")
            if not np.issubdtype(windows.dtype, np.integer):
                raise SleepDataError(f"windows must hold integer origins, got dtype {windows.dtype}")
            if windows.size and (windows.min() < 0 or windows.max() >= hi):
                raise SleepDataError(f"window origins must lie in [0, {hi - 1}]")
    return uniforms, windows


def iter_input_spikes(
    mean: np.ndarray,
    params: SleepParams,
    steps: int,
    *,
    seed: int | None = 0,
    uniforms: np.ndarray | None = None,
    windows: np.ndarray | None = None,
    chunk_steps: int = 2000,
) -> Iterator[InputSpikes]:
    """Input spikes for ``steps`` steps, yielded in consecutive pieces of at most
    ``chunk_steps`` steps, so memory stays bounded for any sleep length.

    The pieces concatenated are exactly :func:`make_input_spikes` (the same draws
    whatever ``chunk_steps``). Arguments: see :func:`make_input_spikes`; they are
    all checked before the first piece is made.
    """
    mean = np.asarray(mean, dtype=np.float64)
    if mean.ndim != 1:
        raise ValueError(f"mean image must be 1-D, got shape {mean.shape}")
    if not np.all(np.isfinite(mean)):
        raise ValueError("mean image contains NaN or infinite values")
    if np.any(mean < 0):
        raise ValueError("mean image has negative intensities: input rates cannot be negative")
    if not isinstance(chunk_steps, (int, np.integer)) or chunk_steps < 1:
        raise ValueError(f"chunk_steps must be an integer >= 1, got {chunk_steps!r}")
    uniforms, windows = check_input_draws(mean.size, params, steps, uniforms=uniforms, windows=windows)
    return _generate(mean, params, int(steps), seed, uniforms, windows, int(chunk_steps))


#: steps of uniform draws made at once inside a piece (bounds the temporary arrays)
GENERATION_BLOCK = 2000


def _generate(mean: np.ndarray, params: SleepParams, steps: int, seed: int | None, uniforms: np.ndarray | None,
              windows: np.ndarray | None, chunk_steps: int) -> Iterator[InputSpikes]:
    n = mean.size
    seq = np.random.SeedSequence(seed)
    win_rng, u_rng = (np.random.default_rng(s) for s in seq.spawn(2))
    masked = params.input_mode == "masked_mean"
    if masked:
        side = _image_side(n)
        hi = side - params.mask_size
        offsets = window_pixels((0, 0), params.mask_size, side)
    half_rescale = params.rescale / 2
    block = min(chunk_steps, GENERATION_BLOCK)
    for piece_start in range(0, steps, chunk_steps):
        piece_stop = min(piece_start + chunk_steps, steps)
        blocks = []
        for start in range(piece_start, piece_stop, block):
            stop = min(start + block, piece_stop)
            u = uniforms[start:stop] if uniforms is not None else u_rng.random((stop - start, n))
            drive = np.empty((stop - start, n))
            if masked:
                # window origins drawn piece by piece give the same numbers as one draw
                win = windows[start:stop] if windows is not None else win_rng.integers(0, hi, size=(stop - start, 2))
                drive.fill(0.0)
                origin = win[:, 0] + side * win[:, 1]
                cols = origin[:, None] + offsets[None, :]
                np.put_along_axis(drive, cols, mean[cols], axis=1)
            else:
                drive[:] = mean
            spikes = u.astype(np.float64) * half_rescale <= drive
            t, k = np.nonzero(spikes)
            indptr = np.zeros(stop - start + 1, dtype=np.int64)
            np.cumsum(np.bincount(t, minlength=stop - start), out=indptr[1:])
            blocks.append(InputSpikes(n, indptr, k))
        yield blocks[0] if len(blocks) == 1 else InputSpikes.concatenate(blocks)


def make_input_spikes(
    mean: np.ndarray,
    params: SleepParams,
    steps: int,
    *,
    seed: int | None = 0,
    uniforms: np.ndarray | None = None,
    windows: np.ndarray | None = None,
    chunk_steps: int = 2000,
) -> InputSpikes:
    """Input spikes for ``steps`` steps, all in memory (see :func:`iter_input_spikes`
    for long sleeps).

    mean: ``(n_features,)`` mean intensities in [0, 1].
    seed: seed of the draws (ignored for whatever ``uniforms``/``windows`` give).
    uniforms: optional ``(steps, n_features)`` draws in [0, 1).
    windows: optional ``(steps, 2)`` 0-based window origins (masked mode).
    chunk_steps: steps generated at once (does not change the result).
    """
    pieces = list(iter_input_spikes(mean, params, steps, seed=seed, uniforms=uniforms, windows=windows,
                                    chunk_steps=chunk_steps))
    if not pieces:
        return InputSpikes.empty(np.asarray(mean).size, 0)
    return pieces[0] if len(pieces) == 1 else InputSpikes.concatenate(pieces)
