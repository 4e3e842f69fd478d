"""Reactivation during sleep: do the units that a task (or class) drives most in
the awake network fire more during sleep? (the paper's Fig 5; SRC_SPEC.md section 7)

* :func:`selective_reactivation`: the sleep spike counts of each set of selective
  units (top-N units by mean ANN activation for a task or class) against random
  subsets of equal size of the same layer. The test is the one-sided
  Mann-Whitney U test (``scipy.stats.mannwhitneyu``, ``alternative="greater"``) of
  the selective units' counts against the other units' counts: its null
  distribution is exactly that of the rank sum of a random subset of equal size.
  The p-values are Bonferroni-corrected over the sets tested together.
  The random-subset mean and SD (of a subset's mean count, drawn without
  replacement) are exact: ``mean(c)`` and ``sd(c) / sqrt(N) * sqrt((n - N) / (n - 1))``.
* :func:`class_reactivation` (the reference's digit-reactivation utility): per test
  example, the Pearson r between its ANN activation vector of a layer and that
  layer's sleep spike-count vector; mean and SD per class.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from snn.extras import require

from ..errors import AnalysisError

stats = require("scipy.stats")


def bonferroni(p: Sequence[float], m: int | None = None) -> list[float]:
    """Bonferroni-corrected p-values ``min(1, p * m)`` (``m`` = number of tests,
    default ``len(p)``)."""
    m = len(p) if m is None else int(m)
    return [float(min(1.0, q * m)) for q in p]


def _counts(sleep_counts: np.ndarray) -> np.ndarray:
    c = np.asarray(sleep_counts, dtype=np.float64)
    if c.ndim != 1 or c.size < 2:
        raise AnalysisError(f"sleep spike counts must be a 1-D array of >= 2 units, got shape {c.shape}")
    return c


def selective_reactivation(sleep_counts: np.ndarray, unit_sets: Mapping[str, Sequence[int]]) -> dict[str, dict]:
    """Sleep firing of each named set of units against random subsets of equal size.

    sleep_counts: ``(n_units,)`` spikes of every unit of one layer over the sleep.
    unit_sets: ``{name: unit indices}`` (e.g. ``{"task1": top units, ...}``).
    Returns ``{name: {"n_units", "selective_mean", "random_mean", "random_sd",
    "ratio", "u_statistic", "p", "p_bonferroni"}}`` (counts are spikes per unit
    over the sleep; ``ratio`` = selective / random mean, None if the layer is
    silent; p is None when the test is undefined, e.g. every unit has the same count).
    """
    c = _counts(sleep_counts)
    n = c.size
    out: dict[str, dict] = {}
    pvals: list[float] = []
    for name, units in unit_sets.items():
        idx = np.unique(np.asarray(units, dtype=np.int64).reshape(-1))
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise AnalysisError(f"units of {name!r} must be a non-empty subset of [0, {n})")
        if idx.size == n:
            raise AnalysisError(f"units of {name!r} are the whole layer: nothing to compare with")
        rest = np.setdiff1d(np.arange(n), idx)
        k = idx.size
        random_mean = float(c.mean())
        random_sd = float(c.std() / np.sqrt(k) * np.sqrt((n - k) / (n - 1)))
        if np.ptp(c) == 0:
            u, p = None, None
        else:
            res = stats.mannwhitneyu(c[idx], c[rest], alternative="greater")
            u, p = float(res.statistic), float(res.pvalue)
        out[name] = {"n_units": int(k), "selective_mean": float(c[idx].mean()), "random_mean": random_mean,
                     "random_sd": random_sd, "ratio": float(c[idx].mean() / random_mean) if random_mean > 0 else None,
                     "u_statistic": u, "p": p}
        if p is not None:
            pvals.append(p)
    m = len(pvals)
    for entry in out.values():
        entry["p_bonferroni"] = None if entry["p"] is None else bonferroni([entry["p"]], m)[0]
        entry["n_tests"] = m
    return out


def _zscore_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows centred and scaled to unit norm (zero rows where constant), and which rows are valid."""
    centred = a - a.mean(1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1)
    valid = norm > 0
    z = np.zeros_like(centred)
    z[valid] = centred[valid] / norm[valid, None]
    return z, valid


def class_reactivation(acts: np.ndarray, labels: np.ndarray, sleep_counts: np.ndarray) -> dict[int, dict]:
    """``{class: {"mean", "sd", "n"}}`` of the Pearson r between each example's
    activation vector ``acts[i]`` (``(n_examples, n_units)``) and ``sleep_counts``
    (``(n_units,)``). Examples with constant activations are left out; a silent (or
    uniform) layer gives ``mean = sd = None``."""
    acts = np.asarray(acts, dtype=np.float64)
    labels = np.asarray(labels)
    c = _counts(sleep_counts)
    if acts.ndim != 2 or acts.shape[1] != c.size:
        raise AnalysisError(f"activations must be (n_examples, {c.size}) to match the spike counts, got {acts.shape}")
    if labels.shape != (acts.shape[0],):
        raise AnalysisError(f"labels must have shape ({acts.shape[0]},), got {labels.shape}")
    cz = c - c.mean()
    cn = np.linalg.norm(cz)
    z, valid = _zscore_rows(acts)
    out: dict[int, dict] = {}
    for cls in np.unique(labels):
        mask = (labels == cls) & valid
        if cn == 0 or not mask.any():
            out[int(cls)] = {"mean": None, "sd": None, "n": int(mask.sum())}
            continue
        r = z[mask] @ (cz / cn)
        out[int(cls)] = {"mean": float(r.mean()), "sd": float(r.std(ddof=1)) if r.size > 1 else 0.0, "n": int(r.size)}
    return out


__all__ = ["bonferroni", "class_reactivation", "selective_reactivation"]
