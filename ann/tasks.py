"""Class-incremental tasks: a data set split by groups of classes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .data import Dataset
from .errors import DataError

#: SRC_SPEC.md section 1: five tasks of two digits each
CLASS_PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))


@dataclass
class Task:
    """One task: the training and test examples of a group of classes."""

    classes: tuple[int, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def name(self) -> str:
        return "classes " + ",".join(str(c) for c in self.classes)


def class_incremental_tasks(
    data: Dataset,
    class_groups: Sequence[Sequence[int]] = CLASS_PAIRS,
    max_train_per_task: int | None = None,
) -> list[Task]:
    """Split ``data`` into tasks, one per group of classes.

    ``max_train_per_task`` keeps the first N training examples of each task (the
    reference trains on the first 5000); the test split keeps every example of
    the task's classes.
    """
    groups = [tuple(int(c) for c in g) for g in class_groups]
    flat = [c for g in groups for c in g]
    if not groups or any(len(g) == 0 for g in groups):
        raise DataError("class_groups must be non-empty groups of class labels")
    if len(set(flat)) != len(flat):
        raise DataError(f"a class appears in more than one task: {groups}")
    present = set(np.unique(data.y_train).tolist())
    missing = [c for c in flat if c not in present]
    if missing:
        raise DataError(f"classes {missing} have no training examples in {data.name}")
    if max_train_per_task is not None and max_train_per_task < 1:
        raise DataError(f"max_train_per_task must be >= 1, got {max_train_per_task}")
    tasks = []
    for g in groups:
        tr = np.flatnonzero(np.isin(data.y_train, g))[:max_train_per_task]
        te = np.flatnonzero(np.isin(data.y_test, g))
        tasks.append(Task(g, data.x_train[tr], data.y_train[tr], data.x_test[te], data.y_test[te]))
    return tasks
