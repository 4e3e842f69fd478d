"""Activity limit: stop a sleep whose network activity runs away.

Under extreme sleep parameters (strong potentiation with weak depression, large
``alpha``/``beta`` scales) the hidden layers can fire on nearly every step; the
event-driven engines' work grows with the spikes, so such a sleep runs for minutes
and ends with saturated weights. A parameter search wants to stop it early and
move on. The limit is a property of the *run*, set by the caller for a block of
code (as ``numpy.errstate``), so it reaches the engines without being threaded
through every layer of the code that builds them::

    with snn.activity_limit(max_spikes_per_step=100.0):
        result = engine.run(input_spikes)   # raises ActivityLimitError on runaway

The limit is on the mean number of spikes per step of the network's neurons (every
layer but the input, whose rate the caller sets), over a block of steps: the
``fast`` engine's blocks are its ``chunk_steps`` steps, every engine checks a whole
``run`` when it returns. Within a block the ``fast`` engine also looks every
:data:`EARLY_CHECK_STEPS` steps and stops as soon as the spikes so far already put
the block above the limit (counts only grow, so the block would fail anyway): the
decision is the block's, but a runaway sleep stops after a fraction of the block
(at 1000 spikes per step and a limit of 100, after about a tenth). The check depends
on spike counts only, so it is deterministic: the same sleep stops at the same step
on any machine. No limit is set by default.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import numpy as np

from .errors import ActivityLimitError, EngineOptionError

EARLY_CHECK_STEPS = 250
"""Steps between the ``fast`` engine's looks inside a block while a limit is set."""

_LIMIT: contextvars.ContextVar[float | None] = contextvars.ContextVar("snn_max_spikes_per_step", default=None)


@contextlib.contextmanager
def activity_limit(max_spikes_per_step: float | None) -> Iterator[None]:
    """Within the block, a sleep whose network layers fire more than
    ``max_spikes_per_step`` spikes per step (mean over a block of steps; spikes/step,
    summed over every layer but the input) raises :class:`~snn.errors.ActivityLimitError`.
    ``None``: no limit. Applies to the current thread (a context variable)."""
    if max_spikes_per_step is not None:
        if isinstance(max_spikes_per_step, bool) or not isinstance(max_spikes_per_step, (int, float)) \
                or not np.isfinite(max_spikes_per_step) or max_spikes_per_step <= 0:
            raise EngineOptionError(f"max_spikes_per_step must be a finite number > 0 or None, "
                                    f"got {max_spikes_per_step!r}")
        max_spikes_per_step = float(max_spikes_per_step)
    token = _LIMIT.set(max_spikes_per_step)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def current_limit() -> float | None:
    """The limit in force here (spikes per step), or ``None``."""
    return _LIMIT.get()


def check_activity(counts: np.ndarray, first_step: int, engine: str) -> None:
    """Raise :class:`~snn.errors.ActivityLimitError` if the steps in ``counts``
    (``(steps, L + 1)`` spikes per step and layer, input first; they start at step
    ``first_step`` of the run) exceed the limit in force."""
    limit = _LIMIT.get()
    if limit is None or counts.shape[0] == 0:
        return
    rate = float(counts[:, 1:].sum()) / counts.shape[0]
    if rate > limit:
        raise ActivityLimitError(
            f"{engine} engine: the network fired {rate:.1f} spikes per step over steps {first_step}-"
            f"{first_step + counts.shape[0] - 1}, above the activity limit of {limit:g} (snn.activity_limit)")


def check_block_so_far(counts: np.ndarray, first_step: int, block_steps: int, engine: str) -> None:
    """Raise :class:`~snn.errors.ActivityLimitError` if the first steps of a block of
    ``block_steps`` steps (``counts``, ``(steps so far, L + 1)``, from step ``first_step``)
    already hold more spikes than the limit allows the whole block: then
    :func:`check_activity` would raise at the block's end whatever the rest does."""
    limit = _LIMIT.get()
    if limit is None or block_steps <= 0:
        return
    spikes = float(counts[:, 1:].sum())
    if spikes / block_steps > limit:  # the block check's expression, with fewer (>= 0) spikes counted
        last = first_step + counts.shape[0] - 1
        raise ActivityLimitError(
            f"{engine} engine: the network fired {spikes:.0f} spikes in steps {first_step}-{last}, more than "
            f"{limit:g} spikes per step over steps {first_step}-{first_step + block_steps - 1} would stay under "
            f"the activity limit (snn.activity_limit)")
