"""Continual-learning metrics from an accuracy matrix.

``R[i, j]`` is the accuracy (%) on task j's test set after training on task i
(Lopez-Paz & Ranzato, "Gradient episodic memory for continual learning",
NeurIPS 2017; Chaudhry et al., "Riemannian walk for incremental learning",
ECCV 2018).
"""
from __future__ import annotations

import numpy as np


def _check(R: np.ndarray) -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] == 0:
        raise ValueError(f"accuracy matrix must be square (tasks x tasks), got shape {R.shape}")
    return R


def average_accuracy(R: np.ndarray) -> float:
    """Mean accuracy over all tasks after the last one: ``mean_j R[T-1, j]``."""
    R = _check(R)
    return float(R[-1].mean())


def backward_transfer(R: np.ndarray) -> float:
    """``BWT = 1/(T-1) sum_{j<T-1} (R[T-1, j] - R[j, j])``; negative = forgetting."""
    R = _check(R)
    T = R.shape[0]
    if T < 2:
        return 0.0
    return float(np.mean([R[-1, j] - R[j, j] for j in range(T - 1)]))


def forgetting(R: np.ndarray) -> float:
    """Mean over earlier tasks of the best accuracy ever minus the final one:
    ``1/(T-1) sum_{j<T-1} max_{l<T-1} R[l, j] - R[T-1, j]``."""
    R = _check(R)
    T = R.shape[0]
    if T < 2:
        return 0.0
    return float(np.mean([R[: T - 1, j].max() - R[-1, j] for j in range(T - 1)]))
