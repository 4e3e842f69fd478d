"""The objective of a study: validation accuracy of the tuned method, mean over seeds.

The validation split is carved from the *training* data of every task with a
fixed seed (:func:`validation_tasks`): a share ``fraction`` of each task's
training examples is held out, the rest trains. The returned tasks carry the
validation examples in their ``x_test``/``y_test`` fields, so the experiment
harness (:func:`bridge.experiments.run_cell`) evaluates on them unchanged, and
the real test arrays are never handed to the objective: :func:`trial_value`
only ever sees :class:`ValidationData`.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ann import Task

from ..errors import ConfigError
from ..experiments.cells import run_cell
from ..experiments.config import ExperimentConfig
from ..experiments.first_task_cache import FirstTaskCache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationData:
    """The tasks of a run with the test split replaced by the validation split,
    in the ``(tasks, x_eval, y_eval)`` form :func:`run_cell` takes as ``data``."""

    tasks: tuple[Task, ...]

    def as_cell_data(self) -> tuple[list[Task], np.ndarray, np.ndarray]:
        tasks = list(self.tasks)
        return tasks, np.concatenate([t.x_test for t in tasks]), np.concatenate([t.y_test for t in tasks])

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """(training, validation) examples per task."""
        return [(len(t.y_train), len(t.y_test)) for t in self.tasks]


def validation_tasks(tasks: Sequence[Task], fraction: float, seed: int, split: int | None = None) -> ValidationData:
    """Hold out ``fraction`` of each task's training examples (a permutation drawn
    from ``SeedSequence([seed, task index])``, or ``SeedSequence([seed, split, task
    index])`` for one of several draws, e.g. one per tuning seed; at least one example stays on each
    side). Returns the tasks with the remaining training examples (in their
    original order) and the held-out ones as their evaluation split; the
    ``x_test``/``y_test`` of ``tasks`` are not read."""
    out = []
    for k, t in enumerate(tasks):
        n = len(t.y_train)
        n_val = int(round(fraction * n))
        if n_val < 1 or n_val >= n:
            raise ConfigError(f"tune.validation_fraction = {fraction} leaves {n - n_val} training and {n_val} "
                              f"validation examples of the {n} of task {k} ({t.name}); both need at least 1")
        entropy = [int(seed), k] if split is None else [int(seed), int(split), k]
        rng = np.random.default_rng(np.random.SeedSequence(entropy))
        held = np.zeros(n, dtype=bool)
        held[rng.permutation(n)[:n_val]] = True
        out.append(Task(t.classes, t.x_train[~held], t.y_train[~held], t.x_train[held], t.y_train[held]))
    return ValidationData(tuple(out))


#: this process's learners after their first task (trials differ only in sleep; see FirstTaskCache)
_FIRST_TASKS = FirstTaskCache(max_entries=8)


def trial_value(cfg: ExperimentConfig, method: str, sleep_changes: dict[str, Any], seeds: Sequence[int],
                data: ValidationData | Mapping[int, ValidationData], *,
                reuse_first_task: bool = True) -> dict[str, Any]:
    """Run ``method`` with ``cfg``'s sleep changed by ``sleep_changes`` once per seed
    on the validation ``data`` (one split for every seed, or ``{seed: split}``); returns
    ``{"value": mean final validation accuracy (%), "per_seed": [...], "wall_s": ...}``.
    Pure: no file is read or written.

    reuse_first_task: start every seed from this process's copy of its learner
        after the first task (trained once per process, seed and wake config;
        the values are bit for bit those of training it again)."""
    splits = data if isinstance(data, Mapping) else {int(s): data for s in seeds}
    for s in seeds:  # the objective is never given a test split
        if not isinstance(splits.get(int(s)), ValidationData):
            raise TypeError(f"data for seed {s} must be ValidationData (see validation_tasks), got "
                            f"{type(splits.get(int(s))).__name__}")
    t0 = time.perf_counter()
    run = dataclasses.replace(cfg, sleep=cfg.sleep.replace(**sleep_changes))
    cache = _FIRST_TASKS if reuse_first_task else None
    per_seed = [float(run_cell(run, method, int(s), data=splits[int(s)].as_cell_data(),
                               first_task_cache=cache)["final_accuracy"]) for s in seeds]
    return {"value": float(np.mean(per_seed)), "per_seed": per_seed, "wall_s": time.perf_counter() - t0}
