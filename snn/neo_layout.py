"""The Neo layout of sleep spikes (https://neuralensemble.org/neo/).

:func:`spike_block` is the one Neo layout of sleep spikes (used by :func:`to_neo`
and by the PyNN engine's ``neo_block``): a ``neo.Block`` with one ``Segment`` (the
sleep phase) holding one ``SpikeTrain`` per neuron, annotated with its layer name,
layer index and neuron index, plus one ``neo.Group`` per layer collecting that
layer's trains; recorded membrane potentials become one ``AnalogSignal`` per layer.
:func:`to_neo` applies it to a :class:`~snn.spikes.SleepResult`.

This module only reads its arguments' attributes (``n_neurons``, ``indptr``,
``indices`` of a spike record; ``spikes``, ``layer_names``, ``dt_ms`` of a result;
``v``, ``indices``, ``dt_ms`` of a voltage trace), so :mod:`snn.spikes` can call it
without an import cycle. Files and the way back: :mod:`snn.neo_export`.

Units: spike times in ms (``t = step * dt_ms``, the start of the step),
``t_stop = steps * dt_ms``; membrane potentials are dimensionless and stored as mV.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import InvalidSpikesError
from .extras import require

neo = require("neo", what="Neo output")
pq = require("quantities", what="Neo output")
SpikeTrain = require("neo.core.spiketrain", what="Neo output").SpikeTrain
SpikeTrainList = require("neo.core.spiketrainlist", what="Neo output").SpikeTrainList

# SpikeRecord, SleepResult and VoltageTrace in the annotations below are the classes of
# snn.spikes; they are not imported (annotations are never evaluated here), so that
# snn.spikes can use this module without an import cycle.

logger = logging.getLogger(__name__)


def spike_block(
    records: Sequence[SpikeRecord],
    layer_names: Sequence[str],
    dt_ms: float,
    *,
    engine: str = "",
    name: str = "SRC sleep",
    neurons: Mapping[str, Sequence[int]] | None = None,
    include_input: bool = True,
    spike_trains: bool = True,
    voltages: Mapping[str, VoltageTrace] | None = None,
    block_annotations: Mapping[str, Any] | None = None,
    train_annotations: Sequence[Mapping[str, Any]] | None = None,
) -> neo.Block:
    """The one Neo layout of sleep spikes: a ``neo.Block`` built from spike records.

    Args:
        records: one :class:`~snn.spikes.SpikeRecord` per layer (input first), all of
            the same number of steps.
        layer_names: one name per record; dt_ms: step length (ms).
        engine, name: the Block's ``engine`` annotation and name.
        neurons: ``{layer name: neuron indices, or None for every neuron}``: export
            only these layers and neurons (default: every neuron of every layer, silent
            ones as empty trains); nothing else is built or written.
        include_input: export the input layer's trains too (when ``neurons`` is not given).
        spike_trains: ``False`` gives the Block and its Segment without trains and groups.
        voltages: ``{layer name: VoltageTrace}`` exported as ``AnalogSignal`` (mV).
        block_annotations: extra annotations of the Block (e.g. the simulator).
        train_annotations: per layer, extra annotations of each of its trains.

    Layout: Block annotated ``engine``, ``dt_ms``, ``steps``, ``layer_names``,
    ``layer_sizes``; one Segment ``"sleep"``; per neuron a ``SpikeTrain`` named
    ``"<layer>[<i>]"``, annotated ``layer``, ``layer_index``, ``neuron``, times
    ``step * dt_ms`` ms, ``t_stop = steps * dt_ms``; per layer a ``Group`` of its trains.
    """
    names = list(layer_names)
    if len(names) != len(records):
        raise InvalidSpikesError(f"{len(records)} spike records but {len(names)} layer names")
    neurons = dict(neurons or {})
    unknown = sorted(set(neurons) - set(names))
    if unknown:
        raise InvalidSpikesError(f"unknown layer(s) {unknown}; layers: {names}")
    steps = records[0].steps if records else 0
    if any(r.steps != steps for r in records):
        raise InvalidSpikesError("every spike record of a block must cover the same steps")
    dt = float(dt_ms)
    t_stop = steps * dt * pq.ms
    block = neo.Block(name=name, engine=engine, dt_ms=dt, steps=int(steps),
                      layer_names=list(names), layer_sizes=[int(r.n_neurons) for r in records],
                      **dict(block_annotations or {}))
    seg = neo.Segment(name="sleep", index=0)
    block.segments.append(seg)
    layers = []  # (l, layer, record, exported neurons)
    for l, (layer, record) in enumerate(zip(names, records)):
        if not spike_trains or (neurons and layer not in neurons) or (l == 0 and not include_input and not neurons):
            continue
        subset = neurons.get(layer)
        which = (np.arange(record.n_neurons) if subset is None
                 else np.unique(np.asarray(subset, dtype=np.int64).reshape(-1)))
        if which.size and (which.min() < 0 or which.max() >= record.n_neurons):
            raise InvalidSpikesError(f"neuron indices for layer {layer!r} must lie in [0, {record.n_neurons})")
        layers.append((l, layer, record, which))
    if layers:
        _add_trains(block, seg, layers, dt, t_stop, train_annotations)
    for layer, trace in (voltages or {}).items():
        if layer not in names:
            raise InvalidSpikesError(f"unknown layer {layer!r} in voltages; layers: {names}")
        sig = neo.AnalogSignal(np.asarray(trace.v, dtype=np.float64), units=pq.mV,
                               sampling_period=float(trace.dt_ms) * pq.ms, t_start=0 * pq.ms,
                               name=f"{layer} v", layer=layer, layer_index=names.index(layer),
                               array_annotations={"neuron": np.asarray(trace.indices, dtype=np.int64)})
        seg.analogsignals.append(sig)
    return block


class SpikeTrainArray(SpikeTrainList):
    """Spike trains kept as one spike-time array (Neo's
    ``SpikeTrainList.from_spike_time_array``) until a train is used.

    The ``SpikeTrain`` objects are then made in one pass over the spikes sorted
    by train (Neo's own conversion compares every spike with every train), named
    ``"<layer>[<i>]"`` and annotated ``layer``, ``layer_index``, ``neuron`` and the
    layer's extra annotations. A per-layer view (``_source``, ``_start``) hands out
    the very objects of the Segment's list, so a Group and the Segment share them.
    """

    _neuron: np.ndarray
    _layer_of: np.ndarray
    _layers: list  # (name, index, extra annotations) per layer
    _source: "SpikeTrainArray | None" = None
    _start: int = 0

    def _spiketrains_from_array(self) -> None:
        n = len(self._all_channel_ids)
        if self._source is not None:
            self._items = list(self._source)[self._start : self._start + n]
            return
        bounds = np.searchsorted(np.asarray(self._channel_id_array), np.arange(n + 1))  # spikes sorted by train
        times, meta = self._spike_time_array, self._spiketrain_metadata
        items = []
        for k in range(n):
            layer, l, extra = self._layers[self._layer_of[k]]
            i = int(self._neuron[k])
            st = SpikeTrain(times[bounds[k] : bounds[k + 1]], t_start=meta["t_start"], t_stop=meta["t_stop"],
                            name=f"{layer}[{i}]", layer=layer, layer_index=l, neuron=i, **extra)
            st.segment = self.segment
            items.append(st)
        self._items = items


def _train_array(times: np.ndarray, chans: np.ndarray, neuron: np.ndarray, layer_of: np.ndarray, layers: list,
                 t_stop: pq.Quantity, seg: neo.Segment) -> SpikeTrainArray:
    arr = SpikeTrainArray.from_spike_time_array(times, chans, np.arange(neuron.size), t_stop, units=pq.ms,
                                                t_start=0 * pq.ms)
    arr._neuron, arr._layer_of, arr._layers = neuron, layer_of, layers
    arr.segment = seg
    return arr


def _add_trains(block: neo.Block, seg: neo.Segment, layers: list, dt: float, t_stop: pq.Quantity,
                train_annotations: Sequence[Mapping[str, Any]] | None) -> None:
    """Put the trains of ``layers`` (``(l, name, record, neurons)``) into ``seg`` (one
    :class:`SpikeTrainArray`, built from arrays without a per-train loop) and one
    ``Group`` per layer (a view on the same trains)."""
    times, chans = [], []
    offsets = np.concatenate([[0], np.cumsum([which.size for *_, which in layers])]).astype(np.int64)
    meta = [(layer, l, dict(train_annotations[l]) if train_annotations is not None else {})
            for l, layer, _, _ in layers]
    for k, (_, _, record, which) in enumerate(layers):
        pos = np.full(record.n_neurons, -1, dtype=np.int64)
        pos[which] = np.arange(which.size)
        p = pos[record.indices]
        keep = p >= 0
        order = np.argsort(p[keep], kind="stable")  # by neuron; times stay sorted within a neuron
        times.append(record.steps_of_spikes[keep][order] * dt)
        chans.append(p[keep][order] + offsets[k])
    neuron = np.concatenate([which for *_, which in layers])
    layer_of = np.repeat(np.arange(len(layers)), np.diff(offsets))
    all_times, all_chans = np.concatenate(times), np.concatenate(chans)
    trains = _train_array(all_times, all_chans, neuron, layer_of, meta, t_stop, seg)
    seg.spiketrains = trains
    for k, (l, layer, record, _) in enumerate(layers):
        lo, hi = int(offsets[k]), int(offsets[k + 1])
        a, b = np.searchsorted(all_chans, [lo, hi])
        view = _train_array(all_times[a:b], all_chans[a:b] - lo, neuron[lo:hi], layer_of[lo:hi], meta, t_stop, seg)
        view._source, view._start = trains, lo
        view.segment = None  # as a Group's own list: the trains' parent is the Segment
        group = neo.Group(name=layer, layer=layer, layer_index=l, n_neurons=int(record.n_neurons),
                          allowed_types=[neo.SpikeTrain])
        group._spiketrains = view
        block.groups.append(group)


def to_neo(
    result: SleepResult,
    *,
    neurons: Mapping[str, Sequence[int]] | None = None,
    include_input: bool = True,
    voltages: Mapping[str, VoltageTrace] | None = None,
    name: str = "SRC sleep",
) -> neo.Block:
    """Build a ``neo.Block`` from the recorded spikes of ``result`` (layout: :func:`spike_block`).

    Args:
        result: needs individual spikes (an engine run with ``record_spikes=True``).
        neurons: ``{layer name: neuron indices, or None for the whole layer}``: export
            only these layers and neurons (default: every neuron of every layer, silent
            ones as empty trains).
        include_input: export the input layer too (when ``neurons`` is not given).
        voltages: ``{layer name: VoltageTrace}`` exported as ``AnalogSignal`` (mV,
            sampling period ``dt_ms``); default: the traces the result holds
            (``result.voltages``, from ``record_v``).

    The trains are built from arrays, without a per-train loop; ``SpikeTrain``
    objects are made when first used (:class:`SpikeTrainArray`).
    """
    if result.spikes is None:
        raise InvalidSpikesError("the result holds no individual spikes: run the engine with record_spikes=True")
    if voltages is None:
        voltages = getattr(result, "voltages", None) or None
    return spike_block(result.spikes, result.layer_names, result.dt_ms, engine=result.engine, name=name,
                       neurons=neurons, include_input=include_input, voltages=voltages)


__all__ = ["SpikeTrainArray", "spike_block", "to_neo"]
