"""Paired comparison of two methods over seeds: per-seed values, mean +- SD, the gain and paired tests.

All methods of a seed share the initial weights and the data order of every task
(:mod:`.runner`), and a seed fixes the sleep input too, so the final accuracies of
two methods (or of one method under two sleep presets, with the same training
settings) on the same seed are *paired*: the gain of B over A on seed s is
``b[s] - a[s]``, and its spread over seeds is what a claim "B beats A" has to
beat. This module turns per-seed values (from ``summary.json`` files or cell
records) into that comparison:

* :func:`per_seed_accuracy`: a method's final accuracy per seed from a summary.
* :func:`paired_stats`: n, mean +- SD (sample SD, as in ``summary.json``) of A,
  B and the gain B - A, how many seeds B is ahead, and two-sided paired tests
  from :mod:`scipy.stats` (``ttest_rel`` and the Wilcoxon signed-rank test;
  with 5 seeds Wilcoxon cannot go below p = 0.0625).
* :func:`comparison_markdown`: the per-seed table and the table of seed sets.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from snn.extras import require


def per_seed_accuracy(summary: Mapping[str, Any], method: str) -> dict[int, float]:
    """Final accuracy (%) per seed of ``method`` in a run's ``summary.json`` (a dict).
    ``KeyError`` names the method and the methods the summary has."""
    methods = summary.get("methods", {})
    if method not in methods:
        raise KeyError(f"method {method!r} is not in this summary (it has {sorted(methods)})")
    per_seed = methods[method]["final_accuracy"]["per_seed"]
    return {int(seed): float(value) for seed, value in per_seed.items()}


def _mean_sd(values: np.ndarray) -> tuple[float, float | None]:
    return float(values.mean()), (float(values.std(ddof=1)) if values.size > 1 else None)


def _p_value(test, *args, **kwargs) -> float | None:
    """p of a scipy test, or ``None`` where it is undefined (no spread, too few seeds)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float(test(*args, **kwargs).pvalue)
    except ValueError:
        return None
    return p if math.isfinite(p) else None


def paired_stats(a: Mapping[int, float], b: Mapping[int, float], seeds: Sequence[int]) -> dict[str, Any]:
    """Statistics of B against A over ``seeds`` (paired by seed).

    Returns ``n``, ``seeds``, ``a``/``b``/``gain`` (per-seed lists, gain = b - a),
    ``a_mean``, ``a_sd``, ``b_mean``, ``b_sd``, ``gain_mean``, ``gain_sd`` (sample SD,
    ``None`` for one seed), ``b_ahead`` / ``ties`` (seeds where B > A / B == A) and
    the two-sided p values ``t_p`` (paired t test) and ``wilcoxon_p`` (Wilcoxon
    signed-rank test; zero differences dropped, exact for small n without ties);
    a p value is ``None`` where the test is undefined (e.g. every gain equal).
    ``ValueError`` names a seed missing from ``a`` or ``b``.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("paired_stats needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds repeat: {seeds}")
    for name, values in (("A", a), ("B", b)):
        missing = [s for s in seeds if s not in values]
        if missing:
            raise ValueError(f"method {name} has no value for seed(s) {missing}")
    av = np.array([a[s] for s in seeds], dtype=float)
    bv = np.array([b[s] for s in seeds], dtype=float)
    gain = bv - av
    a_mean, a_sd = _mean_sd(av)
    b_mean, b_sd = _mean_sd(bv)
    g_mean, g_sd = _mean_sd(gain)
    varied = gain.size > 1 and np.ptp(gain) > 0
    stats = require("scipy.stats", what="paired tests of seed comparisons")
    return {
        "n": len(seeds), "seeds": seeds, "a": av.tolist(), "b": bv.tolist(), "gain": gain.tolist(),
        "a_mean": a_mean, "a_sd": a_sd, "b_mean": b_mean, "b_sd": b_sd, "gain_mean": g_mean, "gain_sd": g_sd,
        "b_ahead": int((gain > 0).sum()), "ties": int((gain == 0).sum()),
        "t_p": _p_value(stats.ttest_rel, bv, av) if varied else None,
        "wilcoxon_p": _p_value(stats.wilcoxon, bv, av) if np.any(gain != 0) else None,
    }


def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+.2f}" if signed else f"{x:.2f}"


def _mean_pm(mean: float, sd: float | None, signed: bool = False) -> str:
    return f"{_num(mean, signed)} +- {_num(sd)}"


def format_p(p: float | None) -> str:
    """A p value with two significant digits (``3.7e-06``, ``0.062``), never rounded to 0."""
    return "-" if p is None else f"{p:.2g}"


def comparison_markdown(a_label: str, b_label: str, a: Mapping[int, float], b: Mapping[int, float],
                        seed_sets: Mapping[str, Sequence[int]]) -> str:
    """Two markdown tables: one row per seed (A, B, gain) over every seed of
    ``seed_sets``, then one row per seed set (e.g. ``{"0-4": [...], "100-104":
    [...], "all 10": [...]}``) with :func:`paired_stats`."""
    seeds = list(dict.fromkeys(s for group in seed_sets.values() for s in group))
    lines = [f"| seed | {a_label} | {b_label} | gain |", "|---|---|---|---|"]
    lines += [f"| {s} | {_num(a[s])} | {_num(b[s])} | {_num(b[s] - a[s], True)} |" for s in seeds]
    lines += ["", f"| seeds | n | {a_label} | {b_label} | gain, mean +- SD | B ahead | paired t p | Wilcoxon p |",
              "|---|---|---|---|---|---|---|---|"]
    for name, group in seed_sets.items():
        st = paired_stats(a, b, group)
        lines.append(f"| {name} | {st['n']} | {_mean_pm(st['a_mean'], st['a_sd'])} | "
                     f"{_mean_pm(st['b_mean'], st['b_sd'])} | {_mean_pm(st['gain_mean'], st['gain_sd'], True)} | "
                     f"{st['b_ahead']}/{st['n']} | {format_p(st['t_p'])} | {format_p(st['wilcoxon_p'])} |")
    return "\n".join(lines) + "\n"
