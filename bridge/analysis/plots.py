"""Figures of the sleep analyses (public API).

Every helper draws into a given matplotlib ``Axes`` (``ax=``) or, without one,
into a new figure made with ``matplotlib.pyplot``, and returns the Axes (or the
Figure for multi-panel plots), so they work in notebooks and scripts alike.
:func:`save_figure` writes a figure atomically.

* :func:`plot_raster`: spikes of a layer as dots (time in ms, neuron index).
* :func:`plot_population_rate`: mean rate per neuron of layers over time (Hz).
* :func:`plot_correlation_matrices`: class-by-class correlation before / after.
* :func:`plot_reactivation`: selective vs random-subset sleep firing, with
  significance marks from the Bonferroni-corrected p.
* :func:`plot_weight_change`: histograms of the weight change per layer.
* :func:`plot_kernels`: a convolution's kernels before / after a sleep and the change.
* :func:`plot_before_after`: a scalar measure per layer before vs after sleep.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from snn.activity import layer_index, population_rate, raster
from snn.spikes import SleepResult


def _axes(ax=None, figsize=(6, 4)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _figure(nrows: int, ncols: int, figsize: tuple[float, float]):
    """A pyplot-free Figure (safe in any backend, closed by garbage collection)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically."""
    from ..experiments.results_io import atomic_write

    if fig.get_layout_engine() is None:
        fig.tight_layout()
    return atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, format="png"))


def significance_mark(p: float | None) -> str:
    """``"***"`` (p < 0.001), ``"**"`` (< 0.01), ``"*"`` (< 0.05), ``"n.s."``, or ``""`` for None."""
    if p is None:
        return ""
    return "***" if p < 1e-3 else "**" if p < 1e-2 else "*" if p < 0.05 else "n.s."


def plot_raster(result: SleepResult, layer: str | int, *, neurons: Sequence[int] | None = None,
                t_start_ms: float = 0.0, t_stop_ms: float | None = None, ax=None, **scatter_kw: Any):
    """Raster of ``layer``'s spikes (needs ``record_spikes=True``); returns the Axes."""
    ax = _axes(ax)
    t, i = raster(result, layer, neurons, t_start_ms, t_stop_ms)
    kw = {"s": 6, "marker": "|", "color": "k", "linewidths": 0.5, **scatter_kw}
    ax.scatter(t, i, **kw)
    name = result.layer_names[layer_index(result, layer)]
    stop = result.steps * float(result.dt_ms) if t_stop_ms is None else t_stop_ms
    ax.set(xlabel="time (ms)", ylabel=f"{name} neuron", title=f"{name}: {t.size} spikes", xlim=(t_start_ms, stop))
    return ax


def plot_population_rate(result: SleepResult, layers: Sequence[str | int] | str | int | None = None, *,
                         bin_ms: float | None = None, ax=None):
    """Mean rate per neuron (Hz) of ``layers`` (default: every layer but the input)
    in bins of ``bin_ms`` (default: about 100 bins); returns the Axes."""
    ax = _axes(ax)
    if layers is None:
        layers = list(result.layer_names[1:])
    elif isinstance(layers, (str, int)):
        layers = [layers]
    if bin_ms is None:
        bin_ms = max(1, result.steps // 100) * float(result.dt_ms)
    for layer in layers:
        t, r = population_rate(result, layer, bin_ms)
        ax.plot(t, r, label=result.layer_names[layer_index(result, layer)])
    ax.set(xlabel="time (ms)", ylabel=f"rate per neuron (Hz, {bin_ms:g} ms bins)", title="population rate")
    ax.legend(fontsize=8)
    return ax


def plot_correlation_matrices(before: np.ndarray, after: np.ndarray, classes: Sequence[int], *,
                              title: str = "", axes=None):
    """Class-by-class activation correlation before and after sleep, side by side
    (one colour scale); returns the Figure."""
    if axes is None:
        fig, grid = _figure(1, 2, (8.5, 3.8))
        axes = grid[0]
    fig = axes[0].figure
    lo = float(np.nanmin([np.nanmin(before), np.nanmin(after)]))
    hi = float(np.nanmax([np.nanmax(before), np.nanmax(after)]))
    for ax, r, label in zip(axes, (before, after), ("before sleep", "after sleep")):
        im = ax.imshow(r, vmin=lo, vmax=hi, cmap="viridis")
        ax.set_xticks(range(len(classes)), [str(c) for c in classes], fontsize=7)
        ax.set_yticks(range(len(classes)), [str(c) for c in classes], fontsize=7)
        ax.set_xlabel("class", fontsize=8)
        ax.set_ylabel("class", fontsize=8)
        ax.set_title(label, fontsize=9)
    if title:  # one title over both panels (a long title per panel was cut at the top edge)
        fig.suptitle(title.rstrip(":"), fontsize=10)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="mean r")
    return fig


def plot_reactivation(entries: Mapping[str, Mapping[str, Any]], *, ax=None, title: str = ""):
    """Bars: mean sleep spikes per unit of each selective set vs random subsets of
    equal size (mean +- SD), marked with the Bonferroni-corrected significance."""
    ax = _axes(ax)
    names = list(entries)
    x = np.arange(len(names))
    sel = [entries[n]["selective_mean"] for n in names]
    rnd = [entries[n]["random_mean"] for n in names]
    sd = [entries[n]["random_sd"] for n in names]
    ax.bar(x - 0.2, sel, 0.4, label="selective units")
    ax.bar(x + 0.2, rnd, 0.4, yerr=sd, label="random subsets", color="0.6")
    top = max(max(sel, default=0), max(rnd, default=0)) or 1.0
    for k, n in enumerate(names):
        ax.text(k, top * 1.05, significance_mark(entries[n].get("p_bonferroni")), ha="center", fontsize=8)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylim(0, top * 1.2)
    ax.set(ylabel="sleep spikes per unit", title=title)
    legend_below(ax)  # inside, it would hide the significance marks above the bars
    return ax


def plot_weight_change(changes: Sequence[Mapping[str, Any]], *, layer_names: Sequence[str] | None = None,
                       axes=None):
    """Histograms (log counts) of the weight change of each layer (entries of
    :func:`bridge.analysis.weights.weight_change`); returns the Figure."""
    from matplotlib.ticker import MaxNLocator

    if axes is None:
        fig, grid = _figure(1, len(changes), (3.2 * len(changes), 3))
        axes = grid[0]
    fig = axes[0].figure
    for l, (ax, ch) in enumerate(zip(axes, changes)):
        edges = np.asarray(ch["histogram"]["edges"])
        counts = np.asarray(ch["histogram"]["counts"])
        ax.stairs(counts, edges, fill=True)
        ax.set_yscale("log")  # empty bins stay empty (symlog's 0 tick collided with 10^0)
        ax.set_ylim(bottom=0.7)
        # few ticks, and a common power of ten for small changes: labels such as -0.0005 overlapped
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
        name = layer_names[l] if layer_names else f"layer {l + 1}"
        ax.set(xlabel="weight change", ylabel="weights")
        ax.set_title(name, fontsize=9)
    return fig


def plot_kernels(before: np.ndarray, after: np.ndarray, *, max_channels: int = 16, title: str = ""):
    """A convolution's kernels ``(C_out, C_in, kh, kw)`` before and after a sleep and their change:
    three rows (before, after, after - before), one column per output channel (the first
    ``max_channels``), each kernel averaged over its input channels. Before and after share one
    symmetric colour scale, the change its own. Returns the Figure."""
    before, after = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    if before.ndim != 4 or before.shape != after.shape:
        raise ValueError(f"kernels must be two (C_out, C_in, kh, kw) arrays of one shape, got {before.shape} "
                         f"and {after.shape}")
    n = min(int(max_channels), before.shape[0])
    b, a = before[:n].mean(1), after[:n].mean(1)
    d = a - b
    m = float(max(np.abs(b).max(), np.abs(a).max())) or 1.0
    md = float(np.abs(d).max()) or 1.0
    fig, axes = _figure(3, n, (max(5.0, 0.9 * n + 1.2), 3.4))
    for row, (maps, lim, label) in enumerate(((b, m, "before"), (a, m, "after"), (d, md, "change"))):
        for c in range(n):
            ax = axes[row, c]
            im = ax.imshow(maps[c], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
            if row == 0:
                ax.set_title(f"ch {c}", fontsize=7)
        fig.colorbar(im, ax=list(axes[row]), shrink=0.8, pad=0.01)
    c_in = before.shape[1]
    fig.suptitle(f"{title}\n({'mean over ' + str(c_in) + ' input channels, ' if c_in > 1 else ''}"
                 f"{n} of {before.shape[0]} output channels)", fontsize=8)
    return fig


def plot_before_after(values: Mapping[str, Mapping[str, float | None]], *, ylabel: str, ax=None, title: str = ""):
    """``{layer: {"before": v, "after": v}}`` as paired bars; returns the Axes."""
    ax = _axes(ax)
    names = list(values)
    x = np.arange(len(names))
    for off, key, color in ((-0.2, "before", "C0"), (0.2, "after", "C1")):
        vals = [np.nan if values[n][key] is None else values[n][key] for n in names]
        ax.bar(x + off, vals, 0.4, label=f"{key} sleep", color=color)
    ax.set_xticks(x, names, fontsize=8)
    ax.set(ylabel=ylabel)
    ax.set_title(title, fontsize=9)
    legend_below(ax)  # inside, it covered the bars
    return ax


def legend_below(ax) -> None:
    """The legend of ``ax`` in one row under its x axis, clear of the data and marks."""
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)


__all__ = [
    "legend_below", "plot_before_after", "plot_correlation_matrices", "plot_kernels", "plot_population_rate", "plot_raster", "plot_reactivation",
    "plot_weight_change", "save_figure", "significance_mark",
]
