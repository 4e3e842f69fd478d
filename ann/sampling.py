"""Seeded, class-stratified subsets of a training set: a validation holdout and
limited-data fractions.

Both work per class, so every class keeps its share, and both are reproducible
from their seed (an int or a list of ints, as :class:`numpy.random.SeedSequence`
takes). Indices are returned sorted, i.e. in the data set's own order.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np

from .errors import DataError

Seed = int | Sequence[int]


def _rng(seed: Seed) -> np.random.Generator:
    entropy = [int(seed)] if isinstance(seed, numbers.Integral) else [int(s) for s in seed]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or len(y) == 0:
        raise DataError(f"labels must be a non-empty 1-D integer array, got shape {y.shape} dtype {y.dtype}")
    return y


def class_holdout(y: np.ndarray, fraction: float, seed: Seed) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``round(fraction * n_c)`` examples of every class c (a seeded draw);
    returns ``(kept, held)`` index arrays. Each class keeps at least one example on
    each side, else :class:`~ann.errors.DataError` says which class."""
    y = _labels(y)
    if not 0 < fraction < 1:
        raise DataError(f"holdout fraction must be in (0, 1), got {fraction!r}")
    rng = _rng(seed)
    held = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n_held = int(round(fraction * len(idx)))
        if not 1 <= n_held < len(idx):
            raise DataError(f"holding out {fraction:g} of the {len(idx)} examples of class {c} leaves "
                            f"{len(idx) - n_held} training and {n_held} held-out examples; both need at least 1")
        held.append(rng.permutation(idx)[:n_held])
    held_idx = np.sort(np.concatenate(held))
    mask = np.ones(len(y), dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx


def class_fraction(y: np.ndarray, percent: float, seed: Seed,
                   class_totals: dict[int, int] | None = None) -> np.ndarray:
    """Indices of ``percent`` % of every class: ``max(1, round(percent / 100 * N_c))``
    examples of class c, where ``N_c`` is ``class_totals[c]`` (e.g. the class's size
    in the whole training set before a validation holdout) or its count in ``y``.

    The draw is the first examples of one seeded permutation per class, so for one
    seed a smaller percentage is a subset of a larger one (nested subsets).
    :class:`~ann.errors.DataError` if a class has fewer examples than asked for.
    """
    y = _labels(y)
    if (not isinstance(percent, numbers.Real) or isinstance(percent, bool) or not math.isfinite(percent)
            or not 0 < percent <= 100):
        raise DataError(f"percent must be a number in (0, 100], got {percent!r}")
    rng = _rng(seed)
    chosen = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        order = rng.permutation(idx)  # drawn for every class, so one class's count never shifts another's draw
        total = len(idx) if class_totals is None else int(class_totals[int(c)])
        n = max(1, int(round(percent / 100.0 * total)))
        if n > len(idx):
            raise DataError(f"{percent:g} % of class {c} is {n} examples but only {len(idx)} are available")
        chosen.append(order[:n])
    return np.sort(np.concatenate(chosen))
