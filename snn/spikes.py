"""Spike data exchanged between the bridge and the engines.

Spike trains are stored on the simulation grid (one step = ``dt_ms``) in a
compressed sparse row layout: for step ``t`` the indices of the neurons that
fired are ``indices[indptr[t]:indptr[t + 1]]`` (ascending). This is what every
engine consumes (:class:`InputSpikes`) and records (:class:`SpikeRecord`); the
Brian2 and PyNN engines convert it to spike times ``t * dt_ms`` and
:meth:`SleepResult.to_neo` to a ``neo.Block``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .errors import InvalidSpikesError, NeuronSelectionError


@dataclass
class SpikeRecord:
    """Spikes of one population on the step grid (CSR by step).

    Attributes:
        n_neurons: population size.
        indptr: ``(steps + 1,)`` int64, offsets into ``indices``.
        indices: ``(n_spikes,)`` int32, neuron index of each spike, step-major.
    """

    n_neurons: int
    indptr: np.ndarray
    indices: np.ndarray

    def __post_init__(self) -> None:
        self.indptr = np.asarray(self.indptr, dtype=np.int64)
        self.indices = np.asarray(self.indices, dtype=np.int32)
        if self.indptr.ndim != 1 or self.indptr.size < 1 or self.indptr[0] != 0:
            raise InvalidSpikesError("indptr must be a 1-D array starting at 0")
        if np.any(np.diff(self.indptr) < 0) or self.indptr[-1] != self.indices.size:
            raise InvalidSpikesError("indptr must be non-decreasing and end at len(indices)")
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.n_neurons):
            raise InvalidSpikesError(f"spike indices must lie in [0, {self.n_neurons})")

    @property
    def steps(self) -> int:
        return self.indptr.size - 1

    @property
    def counts(self) -> np.ndarray:
        """``(steps,)`` number of spikes per step."""
        return np.diff(self.indptr)

    @property
    def steps_of_spikes(self) -> np.ndarray:
        """``(n_spikes,)`` step index of each spike (companion of ``indices``)."""
        return np.repeat(np.arange(self.steps, dtype=np.int64), self.counts)

    def totals(self) -> np.ndarray:
        """``(n_neurons,)`` spikes per neuron over the whole record."""
        return np.bincount(self.indices, minlength=self.n_neurons)

    def step(self, t: int) -> np.ndarray:
        return self.indices[self.indptr[t] : self.indptr[t + 1]]

    def to_dense(self) -> np.ndarray:
        """``(steps, n_neurons)`` boolean raster (memory: steps * n_neurons bytes)."""
        out = np.zeros((self.steps, self.n_neurons), dtype=bool)
        out[self.steps_of_spikes, self.indices] = True
        return out

    @classmethod
    def from_dense(cls, raster: np.ndarray) -> "SpikeRecord":
        """From a ``(steps, n_neurons)`` boolean raster."""
        raster = np.asarray(raster, dtype=bool)
        t, i = np.nonzero(raster)
        return cls.from_events(raster.shape[1], raster.shape[0], t, i)

    @classmethod
    def from_events(cls, n_neurons: int, steps: int, step: np.ndarray, neuron: np.ndarray) -> "SpikeRecord":
        """From spike events in any order: ``step[k]`` (in ``[0, steps)``) and
        ``neuron[k]`` (in ``[0, n_neurons)``) of spike ``k``.

        The one place that turns (step, neuron) events into the CSR layout; events
        are sorted by step, then neuron. Raises :class:`~snn.errors.InvalidSpikesError`
        for steps outside ``[0, steps)``.
        """
        step = np.asarray(step, dtype=np.int64).reshape(-1)
        neuron = np.asarray(neuron, dtype=np.int64).reshape(-1)
        if step.shape != neuron.shape:
            raise InvalidSpikesError(f"step and neuron arrays differ in length ({step.size} vs {neuron.size})")
        steps = int(steps)
        if steps < 0:
            raise InvalidSpikesError(f"steps must be >= 0, got {steps}")
        if step.size and (step.min() < 0 or step.max() >= steps):
            raise InvalidSpikesError(f"spike steps must lie in [0, {steps}), got [{step.min()}, {step.max()}]")
        order = np.lexsort((neuron, step))
        indptr = np.zeros(steps + 1, dtype=np.int64)
        np.cumsum(np.bincount(step, minlength=steps), out=indptr[1:])
        return cls(int(n_neurons), indptr, neuron[order])

    @classmethod
    def empty(cls, n_neurons: int, steps: int = 0) -> "SpikeRecord":
        """A record of ``steps`` steps without any spike."""
        return cls(int(n_neurons), np.zeros(int(steps) + 1, dtype=np.int64), np.zeros(0, dtype=np.int32))

    @classmethod
    def concatenate(cls, records: list["SpikeRecord"]) -> "SpikeRecord":
        if not records:
            raise InvalidSpikesError("nothing to concatenate")
        n = records[0].n_neurons
        indptr = [np.zeros(1, dtype=np.int64)]
        offset = 0
        for r in records:
            if r.n_neurons != n:
                raise InvalidSpikesError("cannot concatenate records of different population sizes")
            indptr.append(r.indptr[1:] + offset)
            offset += r.indices.size
        return cls(n, np.concatenate(indptr), np.concatenate([r.indices for r in records]))

    def slice_steps(self, start: int, stop: int) -> "SpikeRecord":
        lo, hi = self.indptr[start], self.indptr[stop]
        return SpikeRecord(self.n_neurons, self.indptr[start : stop + 1] - lo, self.indices[lo:hi])

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SpikeRecord)
            and self.n_neurons == other.n_neurons
            and np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.indices, other.indices)
        )


@dataclass
class VoltageTrace:
    """Membrane potentials of some neurons of one layer, one row per step.

    ``v`` is read after the step's input was integrated and before threshold and
    reset (the value the threshold sees).

    Attributes:
        layer: layer name.
        indices: ``(k,)`` recorded neuron indices.
        v: ``(steps, k)`` membrane potential (dimensionless, read as mV).
        dt_ms: step length in ms.
    """

    layer: str
    indices: np.ndarray
    v: np.ndarray
    dt_ms: float = 1.0

    @classmethod
    def concatenate(cls, traces: list["VoltageTrace"]) -> "VoltageTrace":
        """Join consecutive traces of the same neurons along time."""
        first = traces[0]
        return cls(first.layer, first.indices, np.concatenate([t.v for t in traces]), first.dt_ms)


@dataclass
class InputDriveTrace:
    """Synaptic input drive of some neurons of one layer, one row per step.

    The drive of neuron ``i`` of layer ``l`` at step ``t`` is ``(W_l s_{l-1}(t))[i]``,
    the sum of the weights delivered by this step's presynaptic spikes (SRC_SPEC.md
    section 4, before the layer scale ``alpha_l``: ``v <- decay * v + alpha_l * drive``).
    It is Brian2's ``I_syn``.

    Attributes:
        layer: layer name.
        indices: ``(k,)`` recorded neuron indices.
        drive: ``(steps, k)`` synaptic input (weight units).
        dt_ms: step length in ms.
    """

    layer: str
    indices: np.ndarray
    drive: np.ndarray
    dt_ms: float = 1.0

    @classmethod
    def concatenate(cls, traces: list["InputDriveTrace"]) -> "InputDriveTrace":
        """Join consecutive traces of the same neurons along time."""
        first = traces[0]
        return cls(first.layer, first.indices, np.concatenate([t.drive for t in traces]), first.dt_ms)


@dataclass
class WeightSnapshot:
    """The weights after ``step`` steps of a sleep (one ``(n_l, n_{l-1})`` array per layer)."""

    step: int
    weights: list[np.ndarray]


def select_neurons(layer_names: Sequence[str], sizes: Sequence[int], selection: Mapping[str, Sequence[int]] | None,
                   option: str = "neurons", *, allow_input: bool = False) -> dict[int, np.ndarray]:
    """Resolve ``{layer name: neuron indices}`` to ``{layer index: sorted unique indices}``.

    ``layer_names``/``sizes``: every population, input first. The input layer is
    accepted only with ``allow_input``. Raises :class:`~snn.errors.NeuronSelectionError`
    naming ``option`` for an unknown layer, an empty subset or an index out of range.
    """
    names = list(layer_names)
    allowed = names if allow_input else names[1:]
    out: dict[int, np.ndarray] = {}
    for name, values in dict(selection or {}).items():
        if name not in allowed:
            raise NeuronSelectionError(f"{option}: unknown layer {name!r}; layers: {allowed}")
        l = names.index(name)
        try:
            idx = np.unique(np.asarray(values, dtype=np.int64).reshape(-1))
        except (TypeError, ValueError) as exc:
            raise NeuronSelectionError(f"{option}: neuron indices for layer {name!r} must be integers ({exc})") from None
        if idx.size == 0:
            raise NeuronSelectionError(f"{option}: neuron subset for layer {name!r} is empty")
        n = int(sizes[l])
        if idx.min() < 0 or idx.max() >= n:
            raise NeuronSelectionError(f"{option}: neuron indices for layer {name!r} must lie in [0, {n}), "
                                       f"got [{idx.min()}, {idx.max()}]")
        out[l] = idx
    return out


#: The input spikes an engine is driven with are a :class:`SpikeRecord` of the input layer.
InputSpikes = SpikeRecord


@dataclass
class SleepResult:
    """What an engine returns after ``run``.

    Attributes:
        weights: the slept weights, one ``(n_l, n_{l-1})`` array per layer.
        counts: ``(steps, L + 1)`` int64 spikes per step in input, hidden..., output.
        totals: per layer (input first) ``(n_l,)`` spikes per neuron over the run.
        spikes: per layer (input first) a :class:`SpikeRecord`, or ``None`` when the
            engine was asked not to record individual spikes.
        layer_names: names of the populations, input first.
        dt_ms: step length in ms.
        engine: name of the engine that produced the result.
        timing: seconds spent building / simulating, as measured by the engine.
        voltages: ``{layer name: VoltageTrace}`` of the neurons asked for with the
            engine option ``record_v`` (empty otherwise).
        input_drive: ``{layer name: InputDriveTrace}`` of the neurons asked for with
            ``record_drive``.
        weight_snapshots: weights every N steps (``bridge.sleep(record_weights_every=N)``).
    """

    weights: list[np.ndarray]
    counts: np.ndarray
    totals: list[np.ndarray]
    spikes: list[SpikeRecord] | None
    layer_names: list[str]
    dt_ms: float = 1.0
    engine: str = ""
    timing: dict[str, float] = field(default_factory=dict)
    voltages: dict[str, VoltageTrace] = field(default_factory=dict)
    input_drive: dict[str, InputDriveTrace] = field(default_factory=dict)
    weight_snapshots: list[WeightSnapshot] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return int(self.counts.shape[0])

    def firing_rates_hz(self) -> list[np.ndarray]:
        """Mean firing rate of every neuron in Hz, per layer (input first)."""
        duration_s = self.steps * self.dt_ms * 1e-3
        return [t / duration_s for t in self.totals]

    def to_neo(self, **options):
        """This result's spikes as a ``neo.Block`` (one Segment, one SpikeTrain per
        neuron, annotated with layer names); see :func:`snn.neo_layout.to_neo`."""
        from .neo_layout import to_neo

        return to_neo(self, **options)
