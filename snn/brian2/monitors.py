"""What the Brian2 network records, and reading its monitors into spike data.

Per layer ``l >= 1`` (hidden and output) the network always has a ``SpikeMonitor``
``spikes<l>``: with ``record_spikes`` it records every spike, otherwise only per-neuron
counts and a ``PopulationRateMonitor`` ``rate<l>`` gives the counts per step. A layer
in ``record_neurons`` records the spike trains of a neuron subset through a custom
event and an ``EventMonitor`` ``recorded_spikes<l>``; a layer in ``record_v`` has a
``StateMonitor`` ``voltage<l>`` of ``v`` (after integration, before threshold and reset).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import EngineOptionError
from ..network import SleepNetwork
from ..spikes import InputSpikes, SpikeRecord

logger = logging.getLogger(__name__)


def neuron_subset(name: str, values: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """Sorted unique ``(k,)`` int64 indices in ``[0, n)`` of layer ``name``
    (:class:`~snn.errors.EngineOptionError` if empty or out of range)."""
    idx = np.unique(np.asarray(values, dtype=np.int64).reshape(-1))
    if idx.size == 0:
        raise EngineOptionError(f"neuron subset for layer {name!r} is empty")
    if idx.min() < 0 or idx.max() >= n:
        raise EngineOptionError(f"neuron subset for layer {name!r} must lie in [0, {n}), got [{idx.min()}, {idx.max()}]")
    return idx


@dataclass(frozen=True)
class Recording:
    """The monitors of one network, by layer index (1 = first hidden layer).

    Attributes:
        record_spikes: keep individual spikes (else per-step counts and totals only).
        neurons: ``{l: (k,) indices}`` layers whose spike trains are recorded for a subset only.
        voltages: ``{l: (k,) indices}`` layers whose membrane potential is recorded.
    """

    record_spikes: bool
    neurons: dict[int, np.ndarray] = field(default_factory=dict)
    voltages: dict[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def resolve(cls, network: SleepNetwork, record_spikes: bool, record_neurons: Mapping[str, Sequence[int]],
                record_v: Mapping[str, Sequence[int]]) -> "Recording":
        """From the engine options (``{layer name: indices}``, names as in
        ``network.layer_names`` without the input); :class:`~snn.errors.EngineOptionError`
        for an unknown layer or a bad subset."""
        names, sizes = network.layer_names, network.sizes
        resolved: list[dict[int, np.ndarray]] = [{}, {}]
        for option, target in zip((record_neurons, record_v), resolved):
            for name, idx in option.items():
                if name not in names[1:]:
                    raise EngineOptionError(f"unknown layer {name!r}; layers: {names[1:]}")
                l = names.index(name)
                target[l] = neuron_subset(name, idx, sizes[l])
        if resolved[0] and not record_spikes:
            logger.warning("record_neurons has no effect with record_spikes=False")
        return cls(bool(record_spikes), *resolved)

    def records_subset(self, l: int) -> bool:
        """Layer ``l`` records the spike trains of a subset of its neurons."""
        return l in self.neurons and self.record_spikes

    def key(self) -> dict[str, Any]:
        """JSON-able description (part of the cpp_standalone project key)."""
        return {
            "record_spikes": self.record_spikes,
            "record_neurons": {str(k): v.tolist() for k, v in self.neurons.items()},
            "record_v": {str(k): v.tolist() for k, v in self.voltages.items()},
        }


@dataclass
class Readout:
    """What one run's monitors hold.

    counts: ``(steps, L + 1)`` int64 spikes per step, input first.
    totals: per layer (input first) ``(n_l,)`` spikes per neuron in this run.
    spikes: per layer (input first) a :class:`~snn.spikes.SpikeRecord` (a subset's for
        layers in ``Recording.neurons``).
    voltages: ``{l: (steps, k)}`` membrane potentials of the recorded neurons.
    """

    counts: np.ndarray
    totals: list[np.ndarray]
    spikes: list[SpikeRecord]
    voltages: dict[int, np.ndarray]


class MonitorReader:
    """Reads the monitors of one Brian2 network run after run.

    Brian2 monitors cannot be cleared, so a runtime network's monitors keep growing;
    the reader remembers how far it read and returns only the newest run.
    """

    def __init__(self, objs: Mapping[str, Any], sizes: Sequence[int], dt_ms: float, dtype: np.dtype) -> None:
        self.objs = objs
        self.sizes = list(sizes)
        self.dt_s = dt_ms * 1e-3
        self.dtype = dtype
        self._offsets: dict[str, Any] = {}

    def _new(self, key: str, view: Any) -> np.ndarray:
        """Entries of the 1-D monitor variable ``view`` after the previous read of ``key``."""
        start = self._offsets.get(key, 0)
        values = np.asarray(view[start:], dtype=np.float64)
        self._offsets[key] = start + values.size
        return values

    def _events(self, monitor: Any, key: str, n: int, steps: int, t0_s: float) -> SpikeRecord:
        start = self._offsets.get(key, 0)
        i = np.asarray(monitor.i[start:], dtype=np.int64)
        t = np.asarray(monitor.t_[start:], dtype=np.float64)
        self._offsets[key] = start + i.size
        step = np.rint((t - t0_s) / self.dt_s).astype(np.int64)
        return SpikeRecord.from_events(n, steps, step, i)

    def read(self, input_spikes: InputSpikes, t0_s: float) -> Readout:
        """The monitors' entries of the run that started at ``t0_s`` seconds and was
        driven by ``input_spikes``."""
        objs, steps = self.objs, input_spikes.steps
        L = len(self.sizes) - 1
        counts = np.zeros((steps, L + 1), dtype=np.int64)
        counts[:, 0] = input_spikes.counts
        totals = [input_spikes.totals()]
        records: list[SpikeRecord] = [input_spikes]
        for l in range(1, L + 1):
            n = self.sizes[l]
            mon = objs["spike_monitors"][l]
            count_now = np.asarray(mon.count[:], dtype=np.int64)
            totals.append(count_now - self._offsets.get(f"count{l}", 0))
            self._offsets[f"count{l}"] = count_now
            if l in objs["rate_monitors"]:
                rate = self._new(f"rate{l}", objs["rate_monitors"][l].rate_)
                counts[:, l] = np.rint(rate * n * self.dt_s).astype(np.int64)[:steps]
                if l in objs["event_monitors"]:
                    records.append(self._events(objs["event_monitors"][l], f"event{l}", n, steps, t0_s))
            else:
                rec = self._events(mon, f"spikes{l}", n, steps, t0_s)
                counts[:, l] = rec.counts
                records.append(rec)
        voltages = {}
        for l, vm in objs["voltage_monitors"].items():
            start = self._offsets.get(f"v{l}", 0)
            v = np.asarray(vm.v[:, start:], dtype=self.dtype).T.copy()
            self._offsets[f"v{l}"] = start + v.shape[0]
            voltages[l] = v
        return Readout(counts, totals, records, voltages)


__all__ = ["MonitorReader", "Readout", "Recording", "neuron_subset"]
