"""Weight changes made by a sleep: per layer statistics and histograms of
``dW = W_after - W_before`` (SRC_SPEC.md section 7)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import AnalysisError


def weight_change(before: Sequence[np.ndarray], after: Sequence[np.ndarray], bins: int = 41) -> list[dict]:
    """Per layer: ``{"mean", "sd", "mean_abs", "fraction_changed", "fraction_increased",
    "fraction_decreased", "sign_flips", "histogram": {"edges", "counts"}}`` of ``dW``.

    The histogram has ``bins`` equal bins over ``[-m, m]``, ``m = max |dW|``
    (``[-1, 1]`` when nothing changed); ``sign_flips`` is the fraction of weights
    whose sign changed (an excitatory connection became inhibitory or back).
    """
    if len(before) != len(after):
        raise AnalysisError(f"{len(before)} layers before but {len(after)} after")
    out = []
    for l, (b, a) in enumerate(zip(before, after)):
        b, a = np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)
        if b.shape != a.shape:
            raise AnalysisError(f"layer {l + 1}: weights of shape {b.shape} before but {a.shape} after")
        d = (a - b).ravel()
        m = float(np.abs(d).max()) if d.size else 0.0
        counts, edges = np.histogram(d, bins=int(bins), range=(-m, m) if m > 0 else (-1.0, 1.0))
        out.append({
            "mean": float(d.mean()), "sd": float(d.std()), "mean_abs": float(np.abs(d).mean()),
            "fraction_changed": float((d != 0).mean()), "fraction_increased": float((d > 0).mean()),
            "fraction_decreased": float((d < 0).mean()),
            "sign_flips": float((np.sign(a) != np.sign(b)).mean()),
            "histogram": {"edges": edges.tolist(), "counts": counts.astype(int).tolist()},
        })
    return out


__all__ = ["weight_change"]
