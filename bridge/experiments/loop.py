"""One (method, seed) cell: train the learner on its stream of experiences, with
after-task plugins, and evaluate after every experience.

As Avalanche's strategy plugins, a :class:`CellPlugin` is called at fixed
points of the loop and may change the learner's model. The only plugin that
needs both the wake side (``ann``) and the sleep side (``snn``) is
:class:`SleepPlugin`, attached for methods ``X+src``: after every task it
sleeps the network on all training data seen so far (SRC_SPEC.md sections 2-4),
``steps_first + (k - 1) * steps_per_task`` steps after task k.
"""
from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ann import Task
from ann.baselines import ContinualLearner
from ann.metrics import average_accuracy, backward_transfer, forgetting

from ..params import SLEEP_IMAGES, SleepParams
from ..sleep import sleep
from .config import ACCURACY_WEIGHTINGS
from .data import SLEEP_SEED, TRAIN_SEED, task_seed
from .results_io import atomic_write

logger = logging.getLogger(__name__)

#: the stages at which a sleeping cell saves its model (state_dict files)
MODEL_STAGES = ("before_sleep", "after_sleep")


def evaluate(predict: Callable[[np.ndarray], np.ndarray], tasks: Sequence[Task], x_test: np.ndarray,
             y_test: np.ndarray, weighting: str = "examples") -> tuple[list[float], float]:
    """Accuracy (%) on each task's test set and on all of them, from one pass
    over ``x_test`` (the tasks' test sets concatenated in order). ``weighting``
    ``"examples"``: the overall accuracy counts every test example once;
    ``"tasks"``: it is the mean of the per-task accuracies."""
    pred = np.asarray(predict(x_test))
    correct = pred == y_test
    bounds = np.cumsum([0] + [len(t.y_test) for t in tasks])
    if bounds[-1] != len(y_test):
        raise ValueError("x_test must be the concatenation of the tasks' test sets")
    per_task = [float(100.0 * correct[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:])]
    if weighting not in ACCURACY_WEIGHTINGS:
        raise ValueError(f"weighting must be one of {ACCURACY_WEIGHTINGS}, got {weighting!r}")
    if weighting == "tasks":
        return per_task, float(np.mean(per_task))
    return per_task, float(100.0 * correct.mean())


@dataclass
class CellState:
    """What plugins see: the learner, the task data, the record being built, the
    index ``k`` (0-based) of the experience just learned and the training inputs seen so far."""

    learner: ContinualLearner
    tasks: Sequence[Task]
    x_test: np.ndarray
    y_test: np.ndarray
    seed: int
    record: dict[str, Any]
    progress: bool = False
    k: int = -1
    seen: list[np.ndarray] = field(default_factory=list)
    #: how the overall accuracy pools the tasks (see :func:`evaluate`)
    weighting: str = "examples"

    def evaluate(self) -> tuple[list[float], float]:
        """Accuracy (%) of the learner now, per task and over all test classes."""
        return evaluate(self.learner.predict, self.tasks, self.x_test, self.y_test, self.weighting)


class CellPlugin:
    """Hooks of the cell loop (no-ops by default)."""

    def before_training(self, state: CellState) -> None:
        """Called once, before the first experience (add record keys here)."""

    def after_task(self, state: CellState) -> None:
        """Called after the learner trained on experience ``state.k``, before it is evaluated."""

    def after_training(self, state: CellState) -> None:
        """Called once, after the last experience has been evaluated."""


def model_file(model_dir: str | Path, task: int, stage: str) -> Path:
    """``model_dir/task<t>_<stage>.pt``: the state_dict after task ``task`` (1-based)
    at ``stage`` (one of :data:`MODEL_STAGES`)."""
    if stage not in MODEL_STAGES:
        raise ValueError(f"stage must be one of {MODEL_STAGES}, got {stage!r}")
    return Path(model_dir) / f"task{int(task)}_{stage}.pt"


def save_model(model: torch.nn.Module, path: str | Path) -> Path:
    """Write ``model.state_dict()`` to ``path`` atomically (``torch.save``). The file is
    serialized in memory first and written with one plain write, so a full disk is an
    ``OSError`` naming the file (torch's own writer reports it as a bare RuntimeError)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write(path, lambda p: p.write_bytes(buffer.getvalue()))


class SleepPlugin(CellPlugin):
    """Sleep after every task on all training inputs seen so far (SRC).

    ``image``: ``"seen"`` (the reference) makes the sleep input from the mean of
    every training input seen so far; ``"first_task"`` from the first task's
    only (the reference's cross-modal runs); the normalization always uses all
    inputs seen so far. Records, per task, the accuracies before sleep and the mean spikes per step
    of each layer during sleep (``None`` for a sleep of 0 steps). With
    ``model_dir``, saves the model before and after every sleep
    (:func:`model_file` names) so analyses can be redone without retraining.
    """

    def __init__(self, params: SleepParams, *, engine: str, dtype: str, model_dir: str | Path | None = None,
                 image: str = "seen") -> None:
        if image not in SLEEP_IMAGES:
            raise ValueError(f"image must be one of {SLEEP_IMAGES}, got {image!r}")
        self.params = params
        self.image = image
        self.engine = engine
        self.dtype = dtype
        self.model_dir = None if model_dir is None else Path(model_dir)

    def before_training(self, state: CellState) -> None:
        state.record.update(accuracy_matrix_before_sleep=[], accuracy_all_before_sleep=[], sleep_spikes_per_step=[])

    def after_task(self, state: CellState) -> None:
        k, rec, learner = state.k, state.record, state.learner
        per_task, overall = state.evaluate()
        rec["accuracy_matrix_before_sleep"].append(per_task)
        rec["accuracy_all_before_sleep"].append(overall)
        if self.model_dir is not None:
            save_model(learner.model, model_file(self.model_dir, k + 1, "before_sleep"))
        image_x = state.seen[0] if self.image == "first_task" else None  # None: all inputs seen
        outcome = sleep(learner.model, np.concatenate(state.seen), self.params, image_x=image_x,
                        steps=self.params.steps_for_task(k + 1), engine=self.engine, dtype=self.dtype,
                        seed=task_seed(state.seed, k, SLEEP_SEED), progress=state.progress)
        learner.set_model(outcome.model)
        if self.model_dir is not None:
            save_model(learner.model, model_file(self.model_dir, k + 1, "after_sleep"))
        counts = np.asarray(outcome.result.counts)
        rec["sleep_spikes_per_step"].append(counts.mean(0).tolist() if len(counts) else None)


def run_cell_loop(learner: ContinualLearner, tasks: Sequence[Task], x_test: np.ndarray, y_test: np.ndarray,
                  seed: int, epochs_for: Callable[[int, int], int], plugins: Sequence[CellPlugin] = (),
                  *, desc: str = "", progress: bool = False, weighting: str = "examples",
                  first_learned: bool = False,
                  after_learn: Callable[[int, ContinualLearner], None] | None = None) -> dict[str, Any]:
    """Train ``learner`` on its experiences of ``tasks`` in order, calling the plugins.

    ``epochs_for(n_examples, n_tasks)`` gives the epochs of an experience. Returns
    the record: accuracy matrix ``R[i][j]`` (after experience i, on task j, %), the
    accuracy over all test classes after each experience, the continual-learning
    metrics (BWT and forgetting need one experience per task, else ``None``),
    the plugins' entries, the learner's memory size if it keeps one, the final
    accuracy and the wall time (s). ``weighting``: how the overall accuracy pools
    the tasks (:func:`evaluate`). ``first_learned``: ``learner`` has already
    learned the first experience (e.g. a copy from a
    :class:`~.first_task_cache.FirstTaskCache`), so its training is skipped;
    ``after_learn(k, learner)`` is called right after experience ``k`` was
    learned, before any plugin.
    """
    t0 = time.perf_counter()
    rec: dict[str, Any] = {"accuracy_matrix": [], "accuracy_all": []}
    state = CellState(learner, tasks, x_test, y_test, seed, rec, progress, weighting=weighting)
    for plugin in plugins:
        plugin.before_training(state)
    stream = learner.experiences(tasks)
    for k, exp in enumerate(tqdm(stream, desc=desc, unit="task", disable=not progress, leave=False)):
        if not (k == 0 and first_learned):
            learner.learn_task(exp.x, exp.y, epochs=epochs_for(len(exp.y), exp.n_tasks),
                               seed=task_seed(seed, k, TRAIN_SEED), progress=progress and len(stream) == 1)
            if after_learn is not None:
                after_learn(k, learner)
        state.k = k
        state.seen.append(exp.x)
        for plugin in plugins:
            plugin.after_task(state)
        per_task, overall = state.evaluate()
        rec["accuracy_matrix"].append(per_task)
        rec["accuracy_all"].append(overall)
    for plugin in plugins:
        plugin.after_training(state)
    R = np.array(rec["accuracy_matrix"])
    if R.shape[0] == R.shape[1]:
        rec.update(average_accuracy=average_accuracy(R), backward_transfer=backward_transfer(R),
                   forgetting=forgetting(R))
    else:  # one experience for several tasks (joint training): no sequence to forget along
        rec.update(average_accuracy=float(np.mean(R[-1])), backward_transfer=None, forgetting=None)
    memory = getattr(learner, "memory_size", None)
    if memory is not None:
        rec["memory_examples"] = memory
    rec["final_accuracy"] = rec["accuracy_all"][-1]
    rec["wall_time_s"] = time.perf_counter() - t0
    return rec
