"""Checks around one sleep: firing that did nothing or ran away, and a validation
score before and after.

A sleep that harms the network or does nothing is otherwise silent. SRC changes a
synapse only when its post-synaptic neuron fires (SRC_SPEC.md section 2), so

* a layer that **never fired** during a sleep kept its incoming weights unchanged
  (with the MNIST preset on a 784-256-128-10 network the output layer never fires);
* a layer that fires at **runaway** rates (a mean of at least
  :data:`RUNAWAY_FRACTION` spikes per neuron per step, i.e. half the rate the time
  step allows) keeps potentiating every active synapse and saturates.

:func:`activity_warnings` states both in words; :func:`bridge.sleep` logs each with
``logging.getLogger("bridge.sleep_checks").warning`` and keeps them in
``outcome.warnings`` (and :class:`bridge.SleepReplay` in ``report.warnings``).

Validation (``validate=`` of :func:`bridge.sleep` and :class:`bridge.SleepReplay`):
``(x_val, y_val)`` scores the accuracy (%) of the model's argmax on held-out
examples, a callable ``score(model) -> float`` any other measure (higher is better).
The score before and after the sleep is reported; with ``keep_better=True`` the
sleep is undone when it lowered the score (off by default: the reference keeps
every sleep).
"""
from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .errors import ArgumentTypeError, SleepDataError

logger = logging.getLogger(__name__)

#: mean spikes per neuron per step from which a layer's firing counts as runaway (half the step rate)
RUNAWAY_FRACTION = 0.5


def activity_warnings(totals: Sequence[np.ndarray], layer_names: Sequence[str], steps: int,
                      dt_ms: float) -> list[str]:
    """Warnings about the network layers of one sleep (``totals``: spikes per neuron,
    input first, as ``SleepResult.totals``): a layer that never fired, a layer that
    fired at runaway rates. Empty for a sleep of 0 steps."""
    if steps <= 0:
        return []
    out = []
    for l in range(1, len(totals)):
        t = np.asarray(totals[l])
        name = f"layer {l} ({layer_names[l]})"
        if t.sum() == 0:
            out.append(f"{name} never fired in {steps} sleep steps, so its incoming weights did not change "
                       "(SRC changes a synapse only when its post-synaptic neuron fires); lower its threshold "
                       "(beta) or calibrate the sleep (bridge.calibrate, SleepReplay(calibrate=True))")
            continue
        per_step = float(t.sum()) / (t.size * steps)
        if per_step >= RUNAWAY_FRACTION:
            out.append(f"{name} fired at a runaway rate: {per_step:.2f} spikes per neuron per step "
                       f"({per_step * 1e3 / dt_ms:.0f} Hz), its synapses saturate; raise its threshold (beta) "
                       "or lower the input rate (max_rate_hz)")
    return out


def log_activity_warnings(notes: Sequence[str]) -> None:
    """Log each of :func:`activity_warnings`' ``notes`` as a warning of this module's logger."""
    for note in notes:
        logger.warning("sleep: %s", note)


@contextlib.contextmanager
def quiet_activity_warnings() -> Iterator[None]:
    """Within the block, activity warnings are not logged (they stay in ``outcome.warnings``);
    a parameter search, whose trials explore such sleeps on purpose, uses it."""
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass
class SleepValidation:
    """The validation score before and after one sleep.

    before / after: the score of the model before the sleep and of the slept model;
    metric: ``"accuracy (%)"`` for ``(x_val, y_val)``, ``"score"`` for a callable;
    kept: ``"slept"`` (the slept weights), or ``"before"`` when ``keep_better`` undid
    a sleep that lowered the score.
    """

    before: float
    after: float
    metric: str
    kept: str = "slept"

    @property
    def change(self) -> float:
        """``after - before``."""
        return self.after - self.before


def _as_tensor(a: Any, name: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach()
    arr = np.asarray(a)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ArgumentTypeError(f"validate: {name} must be a numeric array or tensor, got {type(a).__name__}")
    return torch.from_numpy(np.ascontiguousarray(arr))


class _AccuracyScore:
    """Accuracy (%) of ``argmax(model(x))`` against ``y``, in eval mode, in batches."""

    metric = "accuracy (%)"

    def __init__(self, x: Any, y: Any, batch_size: int = 2000) -> None:
        self.x, self.y = _as_tensor(x, "x_val"), _as_tensor(y, "y_val")
        if self.y.ndim != 1 or self.y.is_floating_point():
            raise SleepDataError(f"validate: y_val must be a 1-D array of integer labels, got shape "
                                 f"{tuple(self.y.shape)} and dtype {self.y.dtype}")
        if len(self.x) != len(self.y) or len(self.y) == 0:
            raise SleepDataError(f"validate: x_val and y_val must hold the same number (> 0) of examples, got "
                                 f"{len(self.x)} and {len(self.y)}")
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> float:
        p = next(model.parameters())
        was_training = model.training
        model.eval()
        try:
            hits = 0
            for i in range(0, len(self.x), self.batch_size):
                xb = self.x[i : i + self.batch_size].to(device=p.device, dtype=p.dtype)
                hits += int((model(xb).argmax(1).cpu() == self.y[i : i + self.batch_size]).sum())
        finally:
            model.train(was_training)
        return 100.0 * hits / len(self.y)


class _CallableScore:
    metric = "score"

    def __init__(self, fn: Callable[[nn.Module], float]) -> None:
        self.fn = fn

    def __call__(self, model: nn.Module) -> float:
        value = self.fn(model)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value):
            raise ArgumentTypeError(f"validate: the callable must return a finite number (higher is better), "
                                    f"got {value!r}")
        return float(value)


def as_score(validate: Any) -> _AccuracyScore | _CallableScore | None:
    """The scorer of a ``validate=`` argument (checked before any work): ``None``,
    ``(x_val, y_val)`` or a callable ``score(model) -> float``."""
    if validate is None:
        return None
    if callable(validate) and not isinstance(validate, (tuple, list)):
        return _CallableScore(validate)
    if isinstance(validate, (tuple, list)) and len(validate) == 2:
        return _AccuracyScore(*validate)
    raise ArgumentTypeError("validate must be None, (x_val, y_val) or a callable score(model) -> float "
                            f"(higher is better), got {type(validate).__name__}")


def saved_weights(model: nn.Module) -> list[torch.Tensor]:
    """Copies of every parameter of ``model`` (to undo a sleep, whatever its layers)."""
    return [p.detach().clone() for p in model.parameters()]


@torch.no_grad()
def restore_weights(model: nn.Module, saved: Sequence[torch.Tensor]) -> None:
    """Write ``saved`` (from :func:`saved_weights` of this model or a copy of it) back in place."""
    for p, w in zip(model.parameters(), saved):
        p.copy_(w)


__all__ = ["RUNAWAY_FRACTION", "SleepValidation", "activity_warnings", "as_score", "log_activity_warnings",
           "quiet_activity_warnings", "restore_weights", "saved_weights"]
