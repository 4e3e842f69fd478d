"""Data-based weight normalization (Diehl et al. 2015), SRC_SPEC.md section 2."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def data_based_normalization(weight_maxima: Sequence[float], activation_maxima: Sequence[float]) -> np.ndarray:
    """Normalization constants ``norm_l`` of the reference.

    With ``s_l = max(max(0, max W_l), max(0, max a_l))``, ``previous = 1`` and for
    each layer ``applied_l = s_l / previous; norm_l = 1 / applied_l;
    previous = applied_l``. The sleep network uses ``alpha_l = norm_l * alpha_scale``
    and the weights unscaled.

    weight_maxima, activation_maxima: ``(L,)`` largest weight and largest
    (test-mode) output of each layer on the data seen so far.
    """
    wmax = np.asarray(weight_maxima, dtype=np.float64)
    amax = np.asarray(activation_maxima, dtype=np.float64)
    if wmax.shape != amax.shape or wmax.ndim != 1:
        raise ValueError(f"need one weight and one activation maximum per layer, got {wmax.shape} and {amax.shape}")
    norms = np.empty_like(wmax)
    previous = 1.0
    for l, (w, a) in enumerate(zip(wmax, amax)):
        s = max(max(0.0, w), max(0.0, a))
        if s == 0.0:
            raise ValueError(f"layer {l} has no positive weight and no positive activation on the data; "
                             "cannot normalize (is the network trained?)")
        applied = s / previous
        norms[l] = 1.0 / applied
        previous = applied
    return norms
