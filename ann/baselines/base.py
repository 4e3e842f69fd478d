"""Common machinery of the continual-learning methods."""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from ..evaluation import predict
from ..errors import TrainingConfigError
from ..tasks import Task
from ..training import TrainConfig, TrainingHooks, train_task

logger = logging.getLogger(__name__)


class Experience(NamedTuple):
    """What a learner trains on in one step of the stream: ``x`` ``(n, features)``,
    ``y`` ``(n,)`` labels, and how many tasks were merged into it (1 for a
    sequential learner; all of them for joint training)."""

    x: np.ndarray
    y: np.ndarray
    n_tasks: int


class ContinualLearner:
    """Sequential fine-tuning, the lower bound; base class of the other methods.

    A learner owns a model and sees the tasks one at a time through
    :meth:`learn_task`. Subclasses change the training set (memory), the loss
    (regularization), the update (projection) or the classifier.

    Args:
        model: the network to train (changed in place).
        train_config: SGD settings; ``epochs`` is given per task to :meth:`learn_task`.
        options: method hyperparameters, see the class attribute ``defaults``.
    """

    name = "sequential"
    #: hyperparameters and their defaults
    defaults: dict[str, Any] = {}
    #: whether the method's network needs a linear (logit) output layer
    needs_logits = False
    #: whether the method trains on all tasks at once (one experience, no sequence)
    joint = False

    def __init__(self, model: nn.Module, train_config: TrainConfig, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise TrainingConfigError(f"method {self.name}: unknown option(s) {unknown}; known: {sorted(self.defaults)}")
        self.options = {**self.defaults, **options}
        self.model = model
        self.train_config = train_config
        self.tasks_seen = 0
        self.classes_seen: list[int] = []
        self.validate_options()

    def validate_options(self) -> None:
        """Raise ``ValueError`` naming an out-of-range option."""

    def _positive(self, *names: str, allow_zero: bool = True) -> None:
        for n in names:
            v = self.options[n]
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
                raise TrainingConfigError(f"method {self.name}: option {n} must be a number {'>=' if allow_zero else '>'} 0, "
                                 f"got {v!r}")

    # ------------------------------------------------------------ protocol
    def experiences(self, tasks: Sequence[Task]) -> list[Experience]:
        """The training stream: by default one experience per task, in order."""
        return [Experience(t.x_train, t.y_train, 1) for t in tasks]

    def learn_task(self, x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int, progress: bool = False) -> None:
        """Train on one task's ``(x, y)`` for ``epochs`` epochs."""
        for c in np.unique(y).tolist():
            if c not in self.classes_seen:
                self.classes_seen.append(int(c))
        xs, ys = self.training_set(x, y, seed)
        cfg = dataclasses.replace(self.train_config, epochs=epochs)
        self.begin_task(x, y)
        train_task(self.model, xs, ys, cfg, seed=seed, progress=progress, hooks=self.hooks())
        self.end_task(x, y, seed)
        self.tasks_seen += 1

    def training_set(self, x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """What to train on for this task (default: the task's data)."""
        return x, y

    def hooks(self) -> TrainingHooks | None:
        return None

    def begin_task(self, x: np.ndarray, y: np.ndarray) -> None:
        """Called before training on a task."""

    def end_task(self, x: np.ndarray, y: np.ndarray, seed: int) -> None:
        """Called after training on a task (consolidate, store memory...)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(n,)`` predicted labels (default: argmax of the network's outputs)."""
        return predict(self.model, x)

    def set_model(self, model: nn.Module) -> None:
        """Replace the network (e.g. by its slept copy); state tied to the
        parameters' values is kept, caches of features are dropped."""
        self.model = model


class QuadraticPenaltyHooks(TrainingHooks):
    """Adds ``penalty(model)`` to the task loss (EWC, SI)."""

    def __init__(self, learner: "ContinualLearner") -> None:
        self.learner = learner

    def loss(self, model, x, y, output, base_loss):  # noqa: D401 - see TrainingHooks
        return base_loss + self.learner.penalty(model)


def parameters_of(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]
