"""SRC as one call after each task in the user's own training loop.

::

    replay = bridge.SleepReplay("mnist")          # or SleepReplay(calibrate=True) for any depth
    opt = torch.optim.Adam(model.parameters())
    for task in tasks:
        train(model, opt, task)                   # the user's own loop
        report = replay(model, task_data)         # sleeps model in place; opt stays valid

:class:`SleepReplay` keeps what sleep needs across tasks, picks the sleep length
of task ``k`` (``steps_first + (k - 1) * steps_per_task``, SRC_SPEC.md section 4),
and writes the slept weights into the model's own Parameters.

Memory (the statistics behind the data-based normalization and the mean image,
SRC_SPEC.md sections 2-3):

* ``memory=None`` (default, the reference): every example seen so far is kept.
* ``memory=N``: a seeded uniform sample (reservoir) of at most ``N`` examples
  per task, so memory is bounded by ``N`` per task whatever the task size; the
  normalization and the mean image come from the kept examples.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from .calibration import Calibration, RateTargets, calibrate as calibrate_params
from .errors import ArgumentTypeError, SleepDataError, SleepParamsError
from .params import PRESETS, SLEEP_IMAGES, SleepParams, preset
from .sleep import SleepOutcome, sleep
from .sleep_data import check_range, flatten_for_model, iter_batches
from .convert import read_model

logger = logging.getLogger(__name__)


@dataclass
class ReplayReport:
    """What one :class:`SleepReplay` call did.

    task: 1-based task number; steps: sleep length (steps of ``params.dt_s``).
    spikes_per_layer: total spikes of the input and of every layer, ``(L + 1,)``.
    spikes_per_step: the same divided by ``steps`` (population rate per step).
    n_examples: examples behind the normalization and mean image.
    wall_time_s: time of the whole call; calibration: set on the call that calibrated.
    """

    task: int
    steps: int
    spikes_per_layer: list[int]
    spikes_per_step: list[float]
    n_examples: int
    wall_time_s: float
    params: SleepParams
    calibration: Calibration | None = None
    outcome: SleepOutcome | None = field(default=None, repr=False)


class Reservoir:
    """A uniform random sample of at most ``size`` rows of a stream (Vitter's
    algorithm R), fed batch by batch; seeded by ``rng``."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng = int(size), rng
        self.rows: np.ndarray | None = None
        self.seen = 0

    def add(self, batch: np.ndarray) -> None:
        """Offer the rows of ``batch`` ``(b, features)``."""
        if self.rows is None:
            self.rows = np.empty((self.size,) + batch.shape[1:], dtype=batch.dtype)
        fill = min(self.size - min(self.seen, self.size), len(batch))
        self.rows[self.seen : self.seen + fill] = batch[:fill]
        rest = np.arange(fill, len(batch))
        if len(rest):  # row i of the stream replaces slot j ~ U{0..i} when j < size
            j = self.rng.integers(0, self.seen + rest + 1)
            keep = j < self.size
            for slot, row in zip(j[keep], rest[keep]):
                self.rows[slot] = batch[row]
        self.seen += len(batch)

    def sample(self) -> np.ndarray:
        """The kept rows ``(min(size, seen), features)``."""
        return self.rows[: min(self.seen, self.size)] if self.rows is not None else np.zeros((0,))


class SleepReplay:
    """Sleep Replay Consolidation after each task, in place.

    Args:
        params: :class:`SleepParams`, a preset name (see :data:`bridge.PRESETS`),
            ``"auto"`` (calibrate, starting from the MNIST preset) or ``None`` (the
            MNIST preset).
        engine, dtype, engine_options, progress: passed to :func:`bridge.sleep`.
        seed: seeds the sleep input of every task (task ``k`` draws from
            ``SeedSequence([seed, k])``) and the reservoir.
        memory: ``None`` keeps all data seen (reference); ``N`` keeps a seeded sample
            of at most ``N`` examples per task.
        image: ``"seen"`` (the reference): the sleep input is the mean image of all
            data kept; ``"first_task"``: of the first task's only (the reference's
            cross-modal runs); the normalization always uses all data kept.
        calibrate: set ``beta`` per layer from firing-rate ``targets`` on the first
            call (:func:`bridge.calibrate`) and keep it for later tasks, as a preset;
            ``calibrate="every_task"`` calibrates again before every sleep, on the
            network as trained so far and all data kept.
    """

    def __init__(
        self,
        params: SleepParams | str | None = None,
        *,
        engine: str = "fast",
        dtype: str = "float64",
        seed: int = 0,
        memory: int | None = None,
        image: str = "seen",
        calibrate: bool | str = False,
        targets: RateTargets | None = None,
        progress: bool = False,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        if not (isinstance(calibrate, bool) or calibrate == "every_task"):
            raise ArgumentTypeError(f"SleepReplay: calibrate must be True, False or 'every_task', got {calibrate!r}")
        every_task = calibrate == "every_task"
        if params == "auto":
            params, calibrate = preset("mnist"), True
        elif isinstance(params, str):
            if params not in PRESETS:
                raise SleepParamsError(f"SleepReplay: params must be SleepParams, 'auto' or a preset name "
                                       f"({', '.join(sorted(PRESETS))}), got {params!r}")
            params = preset(params)
        elif params is None:
            params = SleepParams()
        elif not isinstance(params, SleepParams):
            raise ArgumentTypeError(f"SleepReplay: params must be SleepParams, a preset name or 'auto', "
                                    f"got {type(params).__name__}")
        if memory is not None and (not isinstance(memory, int) or isinstance(memory, bool) or memory < 1):
            raise ArgumentTypeError(f"SleepReplay: memory must be None (keep all data) or an integer >= 1 "
                                    f"(examples kept per task), got {memory!r}")
        if image not in SLEEP_IMAGES:
            raise ArgumentTypeError(f"SleepReplay: image must be one of {SLEEP_IMAGES}, got {image!r}")
        self.params: SleepParams = params
        self.image = image
        self.engine = engine
        self.dtype = dtype
        self.seed = int(seed)
        self.memory = memory
        self.calibrate = bool(calibrate)
        self.calibrate_every_task = every_task
        self.targets = targets
        self.progress = progress
        self.engine_options = engine_options
        self.tasks_seen = 0
        self.calibration: Calibration | None = None
        self._kept: list[np.ndarray] = []
        self._image_shape: tuple[int, ...] | None = None  # (C, H, W) for a CNN that takes images
        self._rng = np.random.default_rng(np.random.SeedSequence([self.seed, 2**31]))

    @property
    def n_examples(self) -> int:
        """Examples kept for the normalization and the mean image."""
        return sum(len(x) for x in self._kept)

    def _task_examples(self, model: nn.Module, data: Any) -> np.ndarray:
        graph = read_model(model)
        kept: list[np.ndarray] = []
        reservoir = Reservoir(self.memory, self._rng) if self.memory is not None else None
        channels = getattr(graph.layers[0], "in_channels", None)
        for batch in iter_batches(data):
            if graph.takes_images:  # a CNN without nn.Unflatten: keep the image shape for sleep
                shape = tuple(int(n) for n in batch.shape[1:])
                if self._image_shape not in (None, shape):
                    raise SleepDataError(f"SleepReplay: images of shape {shape} after images of {self._image_shape}")
                self._image_shape = shape
            batch = check_range(flatten_for_model(batch, graph.n_inputs, graph.flattens_input, channels))
            if reservoir is not None:  # memory stays bounded while streaming a DataLoader
                reservoir.add(batch)
            else:
                kept.append(batch)
        x = reservoir.sample() if reservoir is not None else (
            kept[0] if len(kept) == 1 else np.concatenate(kept) if kept else np.zeros((0,)))
        if len(x) == 0:
            raise SleepDataError("SleepReplay: the task's data is empty")
        return x

    def sleep_seed(self, k: int) -> int:
        """Seed of the sleep input after task ``k`` (1-based): from ``SeedSequence([seed, k])``."""
        return int(np.random.SeedSequence([self.seed, k]).generate_state(1)[0])

    def __call__(self, model: nn.Module, data: Any, *, steps: int | None = None) -> ReplayReport:
        """Sleep ``model`` in place after the next task, trained on ``data``.

        data: that task's training inputs (array/tensor ``(n, ...)`` in [0, 1],
            ``Dataset`` or ``DataLoader``; labels are ignored).
        steps: override the sleep length (default ``params.steps_for_task(k)``).
        """
        t0 = time.perf_counter()
        x_task = self._task_examples(model, data)
        self._kept.append(x_task)
        k = self.tasks_seen + 1
        seen = self._kept[0] if len(self._kept) == 1 else np.concatenate(self._kept)
        if self._image_shape is not None:
            seen = seen.reshape(len(seen), *self._image_shape)
        calibration = None
        if self.calibrate and (self.calibration is None or self.calibrate_every_task):
            calibration = calibrate_params(model, seen, self.params, targets=self.targets, seed=self.seed,
                                           engine=self.engine)
            self.calibration, self.params = calibration, calibration.params
        n_steps = self.params.steps_for_task(k) if steps is None else steps
        image_x = self._kept[0] if self.image == "first_task" else None
        if image_x is not None and self._image_shape is not None:
            image_x = image_x.reshape(len(image_x), *self._image_shape)
        outcome = sleep(model, seen, self.params, image_x=image_x, steps=n_steps, engine=self.engine,
                        seed=self.sleep_seed(k), dtype=self.dtype, progress=self.progress, inplace=True,
                        engine_options=self.engine_options)
        self.tasks_seen = k
        totals = [int(t.sum()) for t in outcome.result.totals]
        report = ReplayReport(
            task=k, steps=int(n_steps), spikes_per_layer=totals,
            spikes_per_step=[t / n_steps if n_steps else 0.0 for t in totals], n_examples=len(seen),
            wall_time_s=time.perf_counter() - t0, params=self.params, calibration=calibration, outcome=outcome,
        )
        logger.info("task %d: slept %d steps on %d examples, spikes/step %s", k, n_steps, len(seen),
                    np.round(report.spikes_per_step, 3).tolist())
        return report
