"""Export sleep spikes to Neo (https://neuralensemble.org/neo/).

:func:`spike_block` is the one Neo layout of sleep spikes (used by :func:`to_neo`
and by the PyNN engine's ``neo_block``); :func:`to_neo` turns a
:class:`~snn.spikes.SleepResult` into a ``neo.Block``
with one ``Segment`` (the sleep phase) holding one ``SpikeTrain`` per neuron,
annotated with its layer name, layer index and neuron index, plus one
``neo.Group`` per layer collecting that layer's trains. Membrane potential
traces recorded by the Brian2 engine (``record_v``) become one
``AnalogSignal`` per layer. :func:`write_neo` / :func:`read_neo` pick Neo's IO
by file extension (``.nix`` through NixIO, ``.pkl``/``.pickle`` through
PickleIO), and :func:`spike_records_from_neo` converts a Block back to
:class:`~snn.spikes.SpikeRecord` per layer.

Units: spike times in ms (``t = step * dt_ms``, the start of the step),
``t_stop = steps * dt_ms``; membrane potentials are dimensionless and stored as mV.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import neo
import quantities as pq

from .errors import InvalidSpikesError, SpikeFileError
from .spikes import SleepResult, SpikeRecord, VoltageTrace

logger = logging.getLogger(__name__)

#: file extension -> Neo IO class name
NEO_FORMATS = {".nix": "NixIO", ".pkl": "PickleIO", ".pickle": "PickleIO"}


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

    records: one :class:`~snn.spikes.SpikeRecord` per layer (input first), all of
        the same number of steps.
    layer_names: one name per record; dt_ms: step length (ms).
    engine, name: the Block's ``engine`` annotation and name.
    neurons: ``{layer name: neuron indices}`` to export only some neurons of a
        layer (default: every neuron of every layer, silent ones as empty trains).
    include_input: export the input layer's trains too.
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
    for l, (layer, record) in enumerate(zip(names, records)):
        if not spike_trains or (l == 0 and not include_input):
            continue
        which = (np.arange(record.n_neurons) if layer not in neurons
                 else np.unique(np.asarray(neurons[layer], dtype=np.int64)))
        if which.size and (which.min() < 0 or which.max() >= record.n_neurons):
            raise InvalidSpikesError(f"neuron indices for layer {layer!r} must lie in [0, {record.n_neurons})")
        extra = dict(train_annotations[l]) if train_annotations is not None else {}
        steps_of = record.steps_of_spikes
        order = np.argsort(record.indices, kind="stable")  # group spikes by neuron, times stay sorted
        idx_sorted = record.indices[order]
        step_sorted = steps_of[order]
        lo = np.searchsorted(idx_sorted, which, side="left")
        hi = np.searchsorted(idx_sorted, which, side="right")
        group = neo.Group(name=layer, layer=layer, layer_index=l, n_neurons=int(record.n_neurons),
                          allowed_types=[neo.SpikeTrain])
        for k, i in enumerate(which):
            times = step_sorted[lo[k]:hi[k]] * dt
            st = neo.SpikeTrain(times * pq.ms, t_start=0 * pq.ms, t_stop=t_stop, name=f"{layer}[{int(i)}]",
                                layer=layer, layer_index=l, neuron=int(i), **extra)
            seg.spiketrains.append(st)
            group.add(st)
        block.groups.append(group)
    for layer, trace in (voltages or {}).items():
        if layer not in names:
            raise InvalidSpikesError(f"unknown layer {layer!r} in voltages; layers: {names}")
        sig = neo.AnalogSignal(np.asarray(trace.v, dtype=np.float64), units=pq.mV,
                               sampling_period=float(trace.dt_ms) * pq.ms, t_start=0 * pq.ms,
                               name=f"{layer} v", layer=layer, layer_index=names.index(layer),
                               array_annotations={"neuron": np.asarray(trace.indices, dtype=np.int64)})
        seg.analogsignals.append(sig)
    block.check_relationships()
    return block


def to_neo(
    result: SleepResult,
    *,
    neurons: Mapping[str, Sequence[int]] | None = None,
    include_input: bool = True,
    voltages: Mapping[str, VoltageTrace] | None = None,
    name: str = "SRC sleep",
) -> neo.Block:
    """Build a ``neo.Block`` from the recorded spikes of ``result`` (layout: :func:`spike_block`).

    result: needs individual spikes (an engine run with ``record_spikes=True``).
    neurons: ``{layer name: neuron indices}`` to export only some neurons of a
        layer (default: every neuron of every layer, silent ones as empty trains).
    include_input: export the input layer too.
    voltages: ``{layer name: VoltageTrace}`` (e.g. ``Brian2Engine.voltage_traces``)
        exported as ``AnalogSignal`` (mV, sampling period ``dt_ms``).
    """
    if result.spikes is None:
        raise InvalidSpikesError("the result holds no individual spikes: run the engine with record_spikes=True")
    return spike_block(result.spikes, result.layer_names, result.dt_ms, engine=result.engine, name=name,
                       neurons=neurons, include_input=include_input, voltages=voltages)


def _io(path: Path, mode: str) -> Any:
    ext = path.suffix.lower()
    if ext not in NEO_FORMATS:
        raise SpikeFileError(f"unsupported Neo file extension {ext!r} for {path}; use one of {sorted(NEO_FORMATS)}")
    cls = getattr(neo.io, NEO_FORMATS[ext])
    if cls.__name__ == "NixIO":
        return cls(str(path), mode="ow" if mode == "w" else "ro")
    return cls(str(path))


def write_neo(data: SleepResult | neo.Block, path: str | os.PathLike, **options: Any) -> Path:
    """Write ``data`` (a SleepResult, converted with :func:`to_neo` and ``options``,
    or a ready ``neo.Block``) with the Neo IO chosen by the extension of ``path``.

    Existing files are overwritten. Returns the path written.
    """
    path = Path(path)
    block = data if isinstance(data, neo.Block) else to_neo(data, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    io = _io(path, "w")
    try:
        io.write_block(block)
    finally:
        if hasattr(io, "close"):
            io.close()
    logger.info("wrote %d spike trains to %s", len(block.segments[0].spiketrains), path)
    return path


def read_neo(path: str | os.PathLike) -> neo.Block:
    """Read the (first) Block of a file written by :func:`write_neo`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Neo file {path} does not exist")
    io = _io(path, "r")
    try:
        blocks = io.read(lazy=False) if hasattr(io, "read") else [io.read_block()]
    finally:
        if hasattr(io, "close"):
            io.close()
    if not blocks:
        raise SpikeFileError(f"{path} holds no Neo block")
    return blocks[0]


def spike_records_from_neo(block: neo.Block, dt_ms: float | None = None) -> dict[str, SpikeRecord]:
    """``{layer name: SpikeRecord}`` from a Block made by :func:`to_neo`.

    Spike times are mapped back to steps with ``round(t / dt_ms)``; the layer
    sizes come from the Block's ``layer_sizes`` annotation.
    """
    dt = float(dt_ms if dt_ms is not None else block.annotations["dt_ms"])
    seg = block.segments[0]
    steps = int(block.annotations.get("steps", round(float(seg.t_stop.rescale(pq.ms).magnitude) / dt)))
    by_layer: dict[str, list[tuple[int, np.ndarray]]] = {}
    order: list[str] = []
    for st in seg.spiketrains:
        layer = str(st.annotations["layer"])
        if layer not in by_layer:
            by_layer[layer] = []
            order.append(layer)
        t = np.asarray(st.rescale(pq.ms).magnitude, dtype=np.float64)
        by_layer[layer].append((int(st.annotations["neuron"]), np.rint(t / dt).astype(np.int64)))
    records = {}
    names = list(block.annotations.get("layer_names", []))
    sizes = list(block.annotations.get("layer_sizes", []))
    for layer in order:
        trains = by_layer[layer]
        n = int(sizes[names.index(layer)]) if layer in names and sizes else max(i for i, _ in trains) + 1
        step = np.concatenate([s for _, s in trains]) if trains else np.zeros(0, np.int64)
        idx = np.concatenate([np.full(s.size, i, np.int64) for i, s in trains]) if trains else np.zeros(0, np.int64)
        records[layer] = SpikeRecord.from_events(n, steps, step, idx)
    return records


__all__ = ["NEO_FORMATS", "read_neo", "spike_block", "spike_records_from_neo", "to_neo", "write_neo"]
