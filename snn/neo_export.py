"""Export sleep spikes to Neo files and read them back (https://neuralensemble.org/neo/).

:func:`spike_block` (the one Neo layout of sleep spikes) and :func:`to_neo`
live in :mod:`snn.neo_layout` and are re-exported here; :func:`to_neo` turns a
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
from typing import Any

import numpy as np

from .errors import SpikeFileError
from .extras import require
from .neo_layout import SpikeTrainArray, spike_block, to_neo
from .spikes import SleepResult, SpikeRecord

neo = require("neo", what="Neo files")
pq = require("quantities", what="Neo files")

logger = logging.getLogger(__name__)

#: file extension -> Neo IO class name
NEO_FORMATS = {".nix": "NixIO", ".pkl": "PickleIO", ".pickle": "PickleIO"}


def _io(path: Path, mode: str) -> Any:
    ext = path.suffix.lower()
    if ext not in NEO_FORMATS:
        raise SpikeFileError(f"unsupported Neo file extension {ext!r} for {path}; use one of {sorted(NEO_FORMATS)}")
    cls = getattr(neo.io, NEO_FORMATS[ext])
    if cls.__name__ == "NixIO":
        require("nixio", what="Neo .nix files")
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


__all__ = ["NEO_FORMATS", "SpikeTrainArray", "read_neo", "spike_block", "spike_records_from_neo", "to_neo", "write_neo"]
