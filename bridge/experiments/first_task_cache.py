"""Reuse the wake training of the first task across runs that differ only in sleep.

Before the first sleep nothing of a cell depends on the sleep parameters: the
network, its initial weights, the data order and the dropout masks of task 1
come from the seed and the wake side of the config only (every task's training
is seeded on its own, :func:`~.data.task_seed`). A parameter search runs the
same cells again and again with other sleeps, so it can keep the learner as it
is right after its first experience and start every later run from a copy. The
results are bit for bit those of a run from scratch (``tests/test_tuning.py``).

:class:`FirstTaskCache` is keyed by everything that shapes that learner: the
config's wake fingerprint (the config without ``[sleep]`` and the other fields
that act after training), the method's learner and options, the seed and a
digest of the first experience's data. It keeps a bounded number of learners
(least recently used dropped first), each a deep copy.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections import OrderedDict
from typing import Any

import numpy as np

from ann.baselines import ContinualLearner

from .config import ExperimentConfig
from .methods import MethodSpec

logger = logging.getLogger(__name__)

#: config fields that act only after the first task has been learned (sleep, evaluation, reporting)
_AFTER_TRAINING_FIELDS = ("sleep", "sleep_image", "accuracy_weighting", "seeds", "methods", "paper_row", "engine",
                          "dtype")


def wake_fingerprint(cfg: ExperimentConfig) -> str:
    """Hash of the config fields that can change the learner after its first experience."""
    d = cfg.to_dict()
    for k in _AFTER_TRAINING_FIELDS:
        d.pop(k)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def data_digest(x: np.ndarray, y: np.ndarray) -> str:
    """Hash of a training set's shapes, dtypes and bytes."""
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(x), np.ascontiguousarray(y)):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


class FirstTaskCache:
    """Learners as they are right after their first experience, for runs that
    differ only in what happens after it (see the module docstring).

    max_entries: learners kept (each holds its network: about 10 MB for
        784-1200-1200-10 in float32, plus any memory of examples).
    """

    def __init__(self, max_entries: int = 8) -> None:
        if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1:
            raise ValueError(f"max_entries must be an integer >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, ...], ContinualLearner] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(cfg: ExperimentConfig, spec: MethodSpec, seed: int, x: np.ndarray, y: np.ndarray) -> tuple[str, ...]:
        """What identifies the learner after the first experience ``(x, y)``."""
        options = json.dumps(spec.learner_options, sort_keys=True, default=str)
        return (wake_fingerprint(cfg), spec.base, options, str(int(seed)), data_digest(x, y))

    def get(self, key: tuple[str, ...]) -> ContinualLearner | None:
        """A deep copy of the kept learner, or ``None``."""
        learner = self._entries.get(key)
        if learner is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return copy.deepcopy(learner)

    def put(self, key: tuple[str, ...], learner: ContinualLearner) -> None:
        """Keep a deep copy of ``learner`` (call it right after the first experience)."""
        self._entries[key] = copy.deepcopy(learner)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        logger.debug("first-task cache: %d learner(s) kept", len(self._entries))
