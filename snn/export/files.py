"""Portable, versioned HDF5 files for sleep networks, input spikes and sleep results.

One file holds one object: a :class:`~snn.network.SleepNetwork`, an
:class:`~snn.spikes.InputSpikes` (any :class:`~snn.spikes.SpikeRecord`) or a
:class:`~snn.spikes.SleepResult`. The layout is plain HDF5 (datasets and
attributes, no pickles), so any language with an HDF5 library reads it without this
package; it is documented in ``docs/neuromorphic.md`` and summarised here::

    /                 attrs format="sleep-replay", format_version=1, kind, writer
    /network          attrs decay, inc, dec, rule, dt_ms, n_layers       (kind "network")
        layer_names   (L+1,) UTF-8 strings, input first
        sizes         (L+1,) int64
        alpha         (L,) float64       v_l += alpha_l * W_l @ s_{l-1}
        threshold     (L,) float64       fire when v >= threshold
        plasticity_gain (L,) float64     layer l learns with g_l * inc, g_l * dec (absent: all 1)
        weights/<l>   (n_l, n_{l-1}) float32 or float64, (post, pre), l = 0..L-1
    /spikes           attrs n_neurons, steps                            (kind "spikes")
        indptr        (steps+1,) int64   spikes of step t: indices[indptr[t]:indptr[t+1]]
        indices       (n_spikes,) int32  neuron index, step-major, ascending per step
    /result           attrs engine, dt_ms, steps, n_layers, has_spikes  (kind "result")
        layer_names   (L+1,) strings
        counts        (steps, L+1) int64
        weights/<l>   (n_l, n_{l-1}), l = 0..L-1
        totals/<l>    (n_l,) int64, l = 0..L (input first)
        spikes/<l>    group as /spikes, l = 0..L (only when has_spikes)
        timing        group, one float attribute per measured phase (s)

Writes are atomic (temporary file in the target folder, then ``os.replace``) and
refuse to replace an existing file unless ``overwrite=True``
(:class:`~snn.errors.OutputExistsError`). Reading a file that is missing,
truncated, not HDF5, not written by this format, of another ``format_version``, of
another ``kind`` or with inconsistent shapes raises
:class:`~snn.errors.SpikeFileError` naming the problem.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InvalidNetworkError, InvalidSpikesError, SpikeFileError, WrongTypeError
from ..network import SleepNetwork
from ..spikes import InputSpikes, SleepResult, SpikeRecord
from ..atomic_io import atomic_write
from ..extras import require

h5py = require("h5py", what="HDF5 files")

#: value of the root attribute ``format``
FORMAT_NAME = "sleep-replay"
#: the layout version this module writes and the only one it reads
FORMAT_VERSION = 1
#: values of the root attribute ``kind``
KINDS = ("network", "spikes", "result")

_STR = h5py.string_dtype(encoding="utf-8")


def _writer() -> str:
    try:
        from importlib.metadata import version

        return f"sleep-replay {version('sleep-replay')}"
    except Exception:  # pragma: no cover - not installed as a distribution
        return "sleep-replay"


# ------------------------------------------------------------------ writing
def _write_root(f: h5py.File, kind: str) -> None:
    f.attrs["format"] = FORMAT_NAME
    f.attrs["format_version"] = np.int64(FORMAT_VERSION)
    f.attrs["kind"] = kind
    f.attrs["writer"] = _writer()


def _write_record(g: h5py.Group, record: SpikeRecord) -> None:
    g.attrs["n_neurons"] = np.int64(record.n_neurons)
    g.attrs["steps"] = np.int64(record.steps)
    g.create_dataset("indptr", data=np.asarray(record.indptr, dtype=np.int64))
    g.create_dataset("indices", data=np.asarray(record.indices, dtype=np.int32))


def _write_weights(g: h5py.Group, weights: list[np.ndarray]) -> None:
    for l, w in enumerate(weights):
        g.create_dataset(str(l), data=np.ascontiguousarray(w))


def _save(path: str | os.PathLike, kind: str, fill, overwrite: bool) -> Path:
    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            _write_root(f, kind)
            fill(f.create_group(kind))

    return atomic_write(path, write, overwrite=overwrite)


def save_network(path: str | os.PathLike, network: SleepNetwork, *, overwrite: bool = False) -> Path:
    """Write ``network`` to the HDF5 file ``path`` (layout: module docstring).

    Weights keep their dtype (float32 or float64), so a loaded network gives the
    same spikes as the original. Returns the path written.
    """
    if not isinstance(network, SleepNetwork):
        raise WrongTypeError(f"save_network() needs a SleepNetwork, got {type(network).__name__}")
    network.validate()
    network.require_dense("save_network()")

    def fill(g: h5py.Group) -> None:
        g.attrs.update({"decay": float(network.decay), "inc": float(network.inc), "dec": float(network.dec),
                        "rule": network.rule, "dt_ms": float(network.dt_ms), "n_layers": np.int64(network.n_layers)})
        g.create_dataset("layer_names", data=list(network.layer_names), dtype=_STR)
        g.create_dataset("sizes", data=np.asarray(network.sizes, dtype=np.int64))
        g.create_dataset("alpha", data=network.alpha.astype(np.float64))
        g.create_dataset("threshold", data=network.threshold.astype(np.float64))
        g.create_dataset("plasticity_gain", data=network.plasticity_gain.astype(np.float64))
        _write_weights(g.create_group("weights"), network.weights)

    return _save(path, "network", fill, overwrite)


def save_spikes(path: str | os.PathLike, spikes: SpikeRecord, *, overwrite: bool = False) -> Path:
    """Write one population's spikes (e.g. :class:`~snn.spikes.InputSpikes`) to ``path``."""
    if not isinstance(spikes, SpikeRecord):
        raise WrongTypeError(f"save_spikes() needs a SpikeRecord (InputSpikes), got {type(spikes).__name__}")
    return _save(path, "spikes", lambda g: _write_record(g, spikes), overwrite)


def save_result(path: str | os.PathLike, result: SleepResult, *, overwrite: bool = False) -> Path:
    """Write a :class:`~snn.spikes.SleepResult` (weights, counts, totals, spikes if
    recorded, timing) to ``path``."""
    if not isinstance(result, SleepResult):
        raise WrongTypeError(f"save_result() needs a SleepResult, got {type(result).__name__}")

    def fill(g: h5py.Group) -> None:
        g.attrs.update({"engine": str(result.engine), "dt_ms": float(result.dt_ms), "steps": np.int64(result.steps),
                        "n_layers": np.int64(len(result.weights)), "has_spikes": result.spikes is not None})
        g.create_dataset("layer_names", data=list(result.layer_names), dtype=_STR)
        g.create_dataset("counts", data=np.asarray(result.counts, dtype=np.int64))
        _write_weights(g.create_group("weights"), result.weights)
        totals = g.create_group("totals")
        for l, t in enumerate(result.totals):
            totals.create_dataset(str(l), data=np.asarray(t, dtype=np.int64))
        if result.spikes is not None:
            sp = g.create_group("spikes")
            for l, r in enumerate(result.spikes):
                _write_record(sp.create_group(str(l)), r)
        timing = g.create_group("timing")
        for k, v in result.timing.items():
            timing.attrs[k] = float(v)

    return _save(path, "result", fill, overwrite)


# ------------------------------------------------------------------ reading
@contextlib.contextmanager
def _open(path: str | os.PathLike, kind: str) -> Iterator[h5py.Group]:
    """Open ``path``, check format, version and kind, yield the ``kind`` group.

    Every failure while reading becomes a :class:`SpikeFileError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise SpikeFileError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise SpikeFileError(f"{path} is not a readable HDF5 file (truncated, damaged or another format): {exc}") from exc
    try:
        with f:
            fmt = _attr_str(f, "format")
            if fmt != FORMAT_NAME:
                raise SpikeFileError(f"{path} is not a {FORMAT_NAME} file (root attribute format={fmt!r}; "
                                     f"expected {FORMAT_NAME!r})")
            version = f.attrs.get("format_version")
            if version is None or int(version) != FORMAT_VERSION:
                shown = "missing" if version is None else int(version)
                raise SpikeFileError(f"{path} has format_version {shown}; this sleep-replay reads version "
                                     f"{FORMAT_VERSION} only")
            got = _attr_str(f, "kind")
            if got != kind:
                raise SpikeFileError(f"{path} holds a {got!r}, not a {kind!r} (kinds: {', '.join(KINDS)})")
            if kind not in f:
                raise SpikeFileError(f"{path}: group /{kind} is missing")
            yield f[kind]
    except SpikeFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        # h5py raises OSError/KeyError for truncated data and missing members;
        # InvalidNetworkError / InvalidSpikesError (ValueError) for bad contents
        raise SpikeFileError(f"{path}: cannot read the {kind}: {exc}") from exc


def _attr_str(obj: h5py.HLObject, name: str) -> str | None:
    value = obj.attrs.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return None if value is None else str(value)


def _dataset(g: h5py.Group, name: str, shape: tuple[int, ...] | None = None, ndim: int | None = None) -> np.ndarray:
    if name not in g:
        raise SpikeFileError(f"{g.file.filename}: dataset {g.name}/{name} is missing")
    arr = g[name][()]
    arr = np.asarray(arr)
    if shape is not None and arr.shape != tuple(shape):
        raise SpikeFileError(f"{g.file.filename}: {g.name}/{name} has shape {arr.shape}, expected {tuple(shape)}")
    if ndim is not None and arr.ndim != ndim:
        raise SpikeFileError(f"{g.file.filename}: {g.name}/{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


def _strings(g: h5py.Group, name: str, n: int) -> list[str]:
    raw = _dataset(g, name, (n,))
    return [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in raw.tolist()]


def _read_weights(g: h5py.Group, sizes: list[int] | None, n_layers: int) -> list[np.ndarray]:
    if "weights" not in g:
        raise SpikeFileError(f"{g.file.filename}: group {g.name}/weights is missing")
    wg = g["weights"]
    weights = []
    for l in range(n_layers):
        shape = None if sizes is None else (sizes[l + 1], sizes[l])
        w = _dataset(wg, str(l), shape, ndim=2)
        if not np.issubdtype(w.dtype, np.floating):
            raise SpikeFileError(f"{g.file.filename}: {wg.name}/{l} must be floating point, got {w.dtype}")
        weights.append(w)
    return weights


def _read_record(g: h5py.Group) -> SpikeRecord:
    n = int(g.attrs["n_neurons"])
    steps = int(g.attrs["steps"])
    indptr = _dataset(g, "indptr", (steps + 1,))
    indices = _dataset(g, "indices", ndim=1)
    if indptr.size and int(indptr[-1]) != indices.size:
        raise SpikeFileError(f"{g.file.filename}: {g.name}/indptr ends at {int(indptr[-1])} but "
                             f"{g.name}/indices holds {indices.size} spikes")
    try:
        return SpikeRecord(n, indptr, indices)
    except InvalidSpikesError as exc:
        raise SpikeFileError(f"{g.file.filename}: {g.name}: {exc}") from exc


def load_network(path: str | os.PathLike) -> SleepNetwork:
    """Read a :class:`~snn.network.SleepNetwork` written by :func:`save_network`."""
    with _open(path, "network") as g:
        L = int(g.attrs["n_layers"])
        sizes = [int(s) for s in _dataset(g, "sizes", (L + 1,))]
        try:
            return SleepNetwork(
                weights=_read_weights(g, sizes, L),
                alpha=_dataset(g, "alpha", (L,)), threshold=_dataset(g, "threshold", (L,)),
                decay=float(g.attrs["decay"]), inc=float(g.attrs["inc"]), dec=float(g.attrs["dec"]),
                rule=_attr_str(g, "rule"), dt_ms=float(g.attrs["dt_ms"]), layer_names=_strings(g, "layer_names", L + 1),
                # files written before the per-layer gains existed: every layer learns with gain 1
                plasticity_gain=_dataset(g, "plasticity_gain", (L,)) if "plasticity_gain" in g else None,
            )
        except InvalidNetworkError as exc:
            raise SpikeFileError(f"{path}: invalid network: {exc}") from exc


def load_spikes(path: str | os.PathLike) -> InputSpikes:
    """Read spikes written by :func:`save_spikes`."""
    with _open(path, "spikes") as g:
        return _read_record(g)


def load_result(path: str | os.PathLike) -> SleepResult:
    """Read a :class:`~snn.spikes.SleepResult` written by :func:`save_result`."""
    with _open(path, "result") as g:
        L = int(g.attrs["n_layers"])
        steps = int(g.attrs["steps"])
        names = _strings(g, "layer_names", L + 1)
        counts = _dataset(g, "counts", (steps, L + 1))
        weights = _read_weights(g, None, L)
        sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        for l in range(1, L):
            if weights[l].shape[1] != weights[l - 1].shape[0]:
                raise SpikeFileError(f"{path}: weights/{l} has {weights[l].shape[1]} inputs but weights/{l - 1} "
                                     f"has {weights[l - 1].shape[0]} outputs")
        if "totals" not in g:
            raise SpikeFileError(f"{path}: group {g.name}/totals is missing")
        totals = [_dataset(g["totals"], str(l), (sizes[l],)) for l in range(L + 1)]
        spikes = None
        if bool(g.attrs["has_spikes"]):
            if "spikes" not in g:
                raise SpikeFileError(f"{path}: has_spikes is set but group {g.name}/spikes is missing")
            spikes = []
            for l in range(L + 1):
                if str(l) not in g["spikes"]:
                    raise SpikeFileError(f"{path}: {g.name}/spikes/{l} is missing")
                r = _read_record(g["spikes"][str(l)])
                if r.n_neurons != sizes[l] or r.steps != steps:
                    raise SpikeFileError(f"{path}: spikes/{l} is {r.n_neurons} neurons x {r.steps} steps, expected "
                                         f"{sizes[l]} x {steps}")
                spikes.append(r)
        timing = {k: float(v) for k, v in g["timing"].attrs.items()} if "timing" in g else {}
        return SleepResult(weights=weights, counts=counts, totals=totals, spikes=spikes, layer_names=names,
                           dt_ms=float(g.attrs["dt_ms"]), engine=_attr_str(g, "engine") or "", timing=timing)


__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "KINDS", "load_network", "load_result", "load_spikes", "save_network",
    "save_result", "save_spikes",
]
