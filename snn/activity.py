"""Sleep-side activity of a :class:`~snn.spikes.SleepResult` (no training).

Rates are in Hz (spikes per neuron per second of simulated time, one step =
``dt_ms``); times in ms, a spike at step ``t`` at time ``t * dt_ms`` (as in
:meth:`SleepResult.to_neo`, so Elephant's estimators on the Neo output give
the same numbers, e.g. ``elephant.statistics.mean_firing_rate``).

* :func:`firing_rates`: per neuron of a layer (or of every layer);
* :func:`layer_rates`: mean rate per layer;
* :func:`spike_counts`: total spikes per neuron (the reference's firing-rate maps);
* :func:`population_rate`: mean rate per neuron of a layer in time bins;
* :func:`raster`: (time, neuron) of every spike of a layer, for raster plots.

Layers are named as in ``result.layer_names`` (``"input"``, ``"hidden1"``, ...,
``"output"``) or given by index (0 = input).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import InvalidSpikesError, NeuronSelectionError
from .spikes import SleepResult


def layer_index(result: SleepResult, layer: str | int) -> int:
    """Index (0 = input) of ``layer`` (a name or an index), else
    :class:`~snn.errors.NeuronSelectionError` listing the layers."""
    names = list(result.layer_names)
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if 0 <= int(layer) < len(names):
            return int(layer)
    elif layer in names:
        return names.index(layer)
    raise NeuronSelectionError(f"unknown layer {layer!r}; layers: {names} (or indices 0..{len(names) - 1})")


def _duration_s(result: SleepResult) -> float:
    if result.steps == 0:
        raise InvalidSpikesError("the sleep has 0 steps: rates are undefined")
    return result.steps * float(result.dt_ms) * 1e-3


def spike_counts(result: SleepResult, layer: str | int) -> np.ndarray:
    """``(n_neurons,)`` int64 spikes of every neuron of ``layer`` over the sleep."""
    return np.asarray(result.totals[layer_index(result, layer)], dtype=np.int64)


def firing_rates(result: SleepResult, layer: str | int | None = None) -> np.ndarray | dict[str, np.ndarray]:
    """Mean firing rate (Hz) of every neuron: ``(n_neurons,)`` of ``layer``, or
    ``{layer name: rates}`` of every layer when ``layer`` is None."""
    duration = _duration_s(result)
    if layer is None:
        return {name: np.asarray(t, dtype=np.float64) / duration for name, t in zip(result.layer_names, result.totals)}
    return spike_counts(result, layer) / duration


def layer_rates(result: SleepResult) -> dict[str, float]:
    """``{layer name: mean firing rate over its neurons (Hz)}``."""
    return {name: float(r.mean()) for name, r in firing_rates(result).items()}


def population_rate(result: SleepResult, layer: str | int, bin_ms: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(t_ms, rate_hz)``: the mean rate per neuron of ``layer`` in consecutive bins.

    bin_ms: bin width, a whole number of steps (default one step); a last partial
        bin is dropped. ``t_ms`` are the bin starts. Computed from the per-step
        counts, so it needs no individual spikes.
    """
    l = layer_index(result, layer)
    dt = float(result.dt_ms)
    bin_steps = 1 if bin_ms is None else int(round(bin_ms / dt))
    if bin_steps < 1 or (bin_ms is not None and not np.isclose(bin_steps * dt, bin_ms)):
        raise InvalidSpikesError(f"bin_ms must be a positive multiple of the step ({dt} ms), got {bin_ms}")
    counts = np.asarray(result.counts)[:, l]
    n_bins = counts.size // bin_steps
    binned = counts[: n_bins * bin_steps].reshape(n_bins, bin_steps).sum(1)
    n = len(result.totals[l])
    rate = binned / (n * bin_steps * dt * 1e-3)
    return np.arange(n_bins) * bin_steps * dt, rate


def raster(result: SleepResult, layer: str | int, neurons: Sequence[int] | None = None,
           t_start_ms: float = 0.0, t_stop_ms: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(times_ms, neuron)`` of every spike of ``layer`` (optionally only of
    ``neurons`` and in ``[t_start_ms, t_stop_ms)``), in time order.

    Needs individual spikes (an engine run with ``record_spikes=True``)."""
    l = layer_index(result, layer)
    if result.spikes is None:
        raise InvalidSpikesError("the result holds no individual spikes: sleep with record_spikes=True")
    rec = result.spikes[l]
    dt = float(result.dt_ms)
    lo = max(0, int(np.ceil(t_start_ms / dt)))
    hi = rec.steps if t_stop_ms is None else min(rec.steps, int(np.ceil(t_stop_ms / dt)))
    part = rec.slice_steps(lo, max(lo, hi))
    times = (part.steps_of_spikes + lo) * dt
    idx = part.indices.astype(np.int64)
    if neurons is not None:
        which = np.asarray(neurons, dtype=np.int64).reshape(-1)
        if which.size and (which.min() < 0 or which.max() >= rec.n_neurons):
            raise NeuronSelectionError(f"neuron indices for layer {result.layer_names[l]!r} must lie in "
                                       f"[0, {rec.n_neurons}), got [{which.min()}, {which.max()}]")
        keep = np.isin(idx, which)
        times, idx = times[keep], idx[keep]
    return times, idx


__all__ = ["firing_rates", "layer_index", "layer_rates", "population_rate", "raster", "spike_counts"]
