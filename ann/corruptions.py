"""Image corruptions for robustness tests: Gaussian noise, salt-and-pepper, Gaussian blur.

The distortions of Tadros, Krishnan, Ramyaa & Bazhenov (ICLR 2020, "Biologically
inspired sleep algorithm for increased generalization and adversarial robustness
in deep neural networks"), applied to images with intensities in [0, 1]:

* ``gaussian_noise`` (level = standard deviation s): ``x + N(0, s^2)`` per pixel,
  clipped to [0, 1].
* ``salt_pepper`` (level = fraction p in (0, 1]): every pixel is hit independently
  with probability p (as ``skimage.util.random_noise(mode="s&p")``); a hit pixel
  becomes 1 (salt) or 0 (pepper) with probability 1/2 each; other pixels are unchanged.
* ``blur`` (level = sigma in pixels): a separable Gaussian over the two image axes, as
  ``scipy.ndimage.gaussian_filter`` (kernel truncated at 4 sigma) with its default
  ``mode="reflect"`` boundary (pure numpy here, equal to scipy's to float32 rounding), which keeps every
  image's mean intensity (a normalized kernel, half-sample symmetric extension)
  and, as a convex combination of pixels, keeps values in [0, 1]. Deterministic.

Images are flat rows ``(n, H * W)`` (``image_shape`` gives ``(H, W)``, default
``(28, 28)``) or image-shaped ``(n, ..., H, W)``; the result has the input's
shape and is float32. Every random draw comes from ``seed`` (an int or a list of
ints, as :class:`numpy.random.SeedSequence` takes), so a corruption is
reproducible bit for bit.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import CorruptionError, DataError

#: corruption kinds, in the order tables list them
CORRUPTIONS = ("gaussian_noise", "salt_pepper", "blur")
#: what each kind's level is
LEVEL_MEANING = {"gaussian_noise": "standard deviation", "salt_pepper": "fraction of pixels", "blur": "sigma (pixels)"}
#: the name of the uncorrupted condition in tables
CLEAN = "clean"

Seed = int | Sequence[int]


def _rng(seed: Seed) -> np.random.Generator:
    entropy = [int(seed)] if isinstance(seed, numbers.Integral) else [int(s) for s in seed]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _images(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise DataError(f"images must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise DataError(f"images must be (n, H*W) rows or (n, ..., H, W) images, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def check_level(kind: str, level: Any, name: str = "level") -> float:
    """The level of a corruption as a float, or :class:`CorruptionError` naming ``name``:
    noise standard deviation > 0, salt-and-pepper fraction in (0, 1], blur sigma > 0."""
    if kind not in CORRUPTIONS:
        raise CorruptionError(f"{name}: unknown corruption {kind!r}; choose one of {CORRUPTIONS}")
    if not isinstance(level, numbers.Real) or isinstance(level, (bool, np.bool_)) or not math.isfinite(level):
        raise CorruptionError(f"{name} must be a finite number, got {level!r}")
    if level <= 0 or (kind == "salt_pepper" and level > 1):
        allowed = "in (0, 1]" if kind == "salt_pepper" else "> 0"
        raise CorruptionError(f"{name}: the {LEVEL_MEANING[kind]} of {kind} must be {allowed}, got {level!r}")
    return float(level)


def gaussian_noise(x: Any, std: float, seed: Seed) -> np.ndarray:
    """``clip(x + N(0, std^2), 0, 1)``, float32, same shape as ``x``."""
    std = check_level("gaussian_noise", std, "std")
    x = _images(x)
    noise = _rng(seed).standard_normal(x.shape, dtype=np.float32)
    return np.clip(x + np.float32(std) * noise, 0.0, 1.0).astype(np.float32, copy=False)


def salt_and_pepper(x: Any, fraction: float, seed: Seed) -> np.ndarray:
    """Each pixel hit with probability ``fraction``; a hit becomes 1 or 0 (1/2 each)."""
    fraction = check_level("salt_pepper", fraction, "fraction")
    x = _images(x)
    rng = _rng(seed)
    hit = rng.random(x.shape, dtype=np.float32) < fraction
    salt = rng.random(x.shape, dtype=np.float32) < 0.5
    out = x.copy()
    out[hit] = salt[hit].astype(np.float32)
    return out


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The normalized 1-d Gaussian kernel of standard deviation ``sigma`` pixels, float64,
    length ``2 r + 1`` with radius ``r = int(truncate * sigma + 0.5)`` (as
    ``scipy.ndimage.gaussian_filter`` builds it)."""
    radius = int(truncate * float(sigma) + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / float(sigma)) ** 2)
    return k / k.sum()


def _blur_axis(x: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """``x`` (float64) correlated with ``kernel`` along ``axis``, half-sample symmetric
    ("reflect") extension of any length (``np.pad`` mode ``symmetric`` repeats the mirror)."""
    radius = len(kernel) // 2
    width = [(0, 0)] * x.ndim
    width[axis] = (radius, radius)
    padded = np.pad(x, width, mode="symmetric")
    n = x.shape[axis]
    out = np.zeros_like(x)
    for k, w in enumerate(kernel):       # one shifted slice per tap: memory of one image stack
        out += w * np.take(padded, np.arange(k, k + n), axis=axis)
    return out


def gaussian_blur(x: Any, sigma: float, image_shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels over the two image axes; rows
    ``(n, H*W)`` are viewed as ``image_shape`` images. Keeps each image's mean and the range [0, 1].

    Pure numpy (the core install has no scipy): a separable, normalized Gaussian kernel
    truncated at 4 sigma and the ``mode="reflect"`` boundary of
    ``scipy.ndimage.gaussian_filter``, which it equals to float32 rounding (tested);
    accumulated in float64, rounded to float32 after each axis as scipy does."""
    sigma = check_level("blur", sigma, "sigma")
    x = _images(x)
    view = _image_view(x, image_shape)
    kernel = gaussian_kernel(sigma)
    rows = _blur_axis(view.astype(np.float64), kernel, view.ndim - 2).astype(np.float32)
    blurred = _blur_axis(rows.astype(np.float64), kernel, view.ndim - 1).astype(np.float32)
    return np.clip(blurred, 0.0, 1.0).reshape(x.shape).astype(np.float32, copy=False)


def _image_view(x: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    if x.ndim >= 3:
        return x
    h, w = (int(v) for v in image_shape)
    if h * w != x.shape[1]:
        raise DataError(f"rows of {x.shape[1]} values are not {h} x {w} images; give image_shape")
    return x.reshape(len(x), h, w)


@dataclass(frozen=True)
class Corruption:
    """One test condition: a corruption ``kind`` (one of :data:`CORRUPTIONS`) at ``level``."""

    kind: str
    level: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", check_level(self.kind, self.level, f"{self.kind} level"))

    @property
    def label(self) -> str:
        """``"blur 2"``, ``"salt_pepper 0.4"``: the condition's name in tables and files."""
        return f"{self.kind} {self.level:g}"

    def apply(self, x: Any, seed: Seed, image_shape: tuple[int, int] = (28, 28)) -> np.ndarray:
        """The corrupted images (float32, shape of ``x``); ``seed`` fixes the noise."""
        if self.kind == "gaussian_noise":
            return gaussian_noise(x, self.level, seed)
        if self.kind == "salt_pepper":
            return salt_and_pepper(x, self.level, seed)
        return gaussian_blur(x, self.level, image_shape)


def corruption_list(levels: Mapping[str, Iterable[Any]], name: str = "corruptions") -> list[Corruption]:
    """``{kind: [level, ...]}`` -> the conditions, kinds in :data:`CORRUPTIONS` order
    and levels as given; :class:`CorruptionError` names ``name.kind[i]`` for a bad entry."""
    if not isinstance(levels, Mapping) or not levels:
        raise CorruptionError(f"{name} must be a non-empty table of kind = [levels], got {levels!r}")
    unknown = sorted(set(levels) - set(CORRUPTIONS))
    if unknown:
        raise CorruptionError(f"{name}: unknown corruption(s) {unknown}; choose from {CORRUPTIONS}")
    out = []
    for kind in (k for k in CORRUPTIONS if k in levels):
        values = levels[kind]
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, np.ndarray)) or not len(values):
            raise CorruptionError(f"{name}.{kind} must be a non-empty list of levels, got {values!r}")
        seen = set()
        for i, v in enumerate(values):
            level = check_level(kind, v, f"{name}.{kind}[{i}]")
            if level in seen:
                raise CorruptionError(f"{name}.{kind} lists level {v!r} twice")
            seen.add(level)
            out.append(Corruption(kind, level))
    return out


def corrupt_mixed(x: Any, conditions: Sequence[Corruption | None], seed: Seed,
                  image_shape: tuple[int, int] = (28, 28)) -> tuple[np.ndarray, np.ndarray]:
    """Every image gets one of ``conditions`` (``None`` = clean) drawn uniformly at
    random; returns the images and the index of each image's condition. For
    training on a mixture of distortions (fine-tuning on noisy data)."""
    if not conditions:
        raise CorruptionError("corrupt_mixed needs at least one condition")
    x = _images(x)
    base = [int(seed)] if isinstance(seed, numbers.Integral) else [int(s) for s in seed]
    which = _rng(base + [len(conditions)]).integers(0, len(conditions), size=len(x))
    out = x.copy()
    for c, cond in enumerate(conditions):
        idx = np.flatnonzero(which == c)
        if cond is not None and len(idx):
            out[idx] = cond.apply(x[idx], base + [c], image_shape)
    return out, which


__all__ = ["CLEAN", "CORRUPTIONS", "LEVEL_MEANING", "Corruption", "check_level", "corrupt_mixed", "corruption_list",
           "gaussian_blur", "gaussian_kernel", "gaussian_noise", "salt_and_pepper"]
