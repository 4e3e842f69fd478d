"""Rehearsal: replay a fraction of every earlier task's training examples.

The classic experience-replay baseline (e.g. Robins, A. "Catastrophic
forgetting, rehearsal and pseudorehearsal." Connection Science 7(2), 123-146,
1995). After each task a random ``fraction`` of its training examples is kept;
every later task trains on its own data plus everything kept.
"""
from __future__ import annotations

import numpy as np

from .base import ContinualLearner
from ..errors import TrainingConfigError


class Rehearsal(ContinualLearner):
    """Train on new data plus a stored fraction of old data."""

    name = "rehearsal"
    defaults = {"fraction": 0.1}

    def validate_options(self) -> None:
        f = self.options["fraction"]
        if not isinstance(f, (int, float)) or not 0 < f <= 1:
            raise TrainingConfigError(f"method rehearsal: option fraction must be in (0, 1], got {f!r}")
        self.memory_x: list[np.ndarray] = []
        self.memory_y: list[np.ndarray] = []

    def training_set(self, x, y, seed):
        if not self.memory_x:
            return x, y
        return np.concatenate([x, *self.memory_x]), np.concatenate([y, *self.memory_y])

    def end_task(self, x, y, seed):
        rng = np.random.default_rng(seed)
        keep = rng.choice(len(x), size=max(1, int(round(self.options["fraction"] * len(x)))), replace=False)
        self.memory_x.append(x[keep])
        self.memory_y.append(y[keep])

    @property
    def memory_size(self) -> int:
        return int(sum(len(m) for m in self.memory_y))
