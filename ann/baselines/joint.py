"""Joint ("parallel") training: every task's data at once, the upper bound.

Not a continual learner in the strict sense: it sees the whole task sequence as
one experience (as Avalanche's ``JointTraining``), so it is trained once, on the
concatenation of all tasks' training sets, for ``epochs`` epochs (default: the
update budget of the whole sequence, chosen by the caller).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..tasks import Task
from ..errors import TrainingConfigError
from .base import ContinualLearner, Experience


class JointTraining(ContinualLearner):
    """Train on all tasks together (no sequence, no forgetting to measure)."""

    name = "parallel"
    defaults = {"epochs": None}
    joint = True

    def validate_options(self) -> None:
        epochs = self.options["epochs"]
        if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
            raise TrainingConfigError(f"method parallel: option epochs must be an integer >= 1, got {epochs!r}")

    def experiences(self, tasks: Sequence[Task]) -> list[Experience]:
        """One experience holding every task's training data, in task order."""
        return [Experience(np.concatenate([t.x_train for t in tasks]), np.concatenate([t.y_train for t in tasks]),
                           len(tasks))]

    def learn_task(self, x, y, *, epochs, seed, progress=False):
        super().learn_task(x, y, epochs=self.options["epochs"] or epochs, seed=seed, progress=progress)
