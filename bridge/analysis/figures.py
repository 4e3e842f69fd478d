"""The figures of ``sleep-replay analyze`` (drawn with :mod:`.plots`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .plots import (
    _figure, plot_before_after, plot_correlation_matrices, plot_kernels, plot_population_rate, plot_raster,
    plot_reactivation, plot_weight_change, save_figure,
)

#: neurons shown in the hidden-layer rasters (the first ones of each layer)
RASTER_NEURONS = 200


def write_figures(report: dict[str, Any], figs: dict[str, Any], out_dir: str | Path) -> list[str]:
    """Write the figures of ``report`` (summary over seeds) and of ``figs`` (the
    last sleep of the first seed) into ``out_dir``; returns the file names."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def save(fig, name: str) -> None:
        save_figure(fig, out / name)
        written.append(name)

    layers = report["summary"].get("layers", {})
    if layers:
        fig, axes = _figure(1, 3, (12, 3.6))
        for ax, (m, label) in zip(axes[0], (("between_class_correlation", "between-class r"),
                                             ("within_class_correlation", "within-class r"),
                                             ("treves_rolls_sparseness", "Treves-Rolls sparseness (1 - a)"))):
            plot_before_after({n: v[m] for n, v in layers.items()}, ylabel=label, ax=ax, title=label)
        n_seeds = report["summary"]["seeds"]
        fig.suptitle(f"last sleep (after task {report['summary']['sleep_after_task']}), mean of {n_seeds} "
                     f"seed{'s' if n_seeds != 1 else ''}", fontsize=10)
        save(fig, "representations_before_after.png")
    if not figs:
        return written
    seed = report["seeds"][0]
    last = report["per_seed"][str(seed)][-1]
    for name, (rb, ra) in figs["corr"].items():
        fig = plot_correlation_matrices(rb, ra, figs["classes"], title=f"{name}, seed {seed}:")
        save(fig, f"correlation_{name}.png")
    names = list(last["layers"])
    fig, axes = _figure(1, len(names), (4.5 * len(names), 3.4))
    for ax, name in zip(axes[0], names):
        plot_reactivation(last["layers"][name]["reactivation"]["tasks"], ax=ax,
                          title=f"{name}: sleep after task {last['task']}, seed {seed}")
    save(fig, "reactivation.png")
    result = figs["result"]
    if result.spikes is not None:
        fig, axes = _figure(len(result.layer_names) - 1, 1, (9, 2.2 * (len(result.layer_names) - 1)))
        for ax, layer in zip(axes[:, 0], result.layer_names[1:]):
            n = result.spikes[result.layer_names.index(layer)].n_neurons
            plot_raster(result, layer, neurons=range(min(n, RASTER_NEURONS)), ax=ax)
        save(fig, "raster.png")
    fig, axes = _figure(1, 1, (8, 3))
    plot_population_rate(result, ax=axes[0, 0])
    save(fig, "population_rate.png")
    changes = figs["weight_change"]
    fig = plot_weight_change(changes, layer_names=[f"layer {l + 1}: {result.layer_names[l]} -> "
                                                   f"{result.layer_names[l + 1]}" for l in range(len(changes))])
    save(fig, "weight_change.png")
    for name, (before, after) in figs.get("kernels", {}).items():
        fig = plot_kernels(before, after, title=f"{name} kernels, sleep after task {last['task']}, seed {seed}")
        save(fig, f"kernels_{name}.png")
    return written


__all__ = ["RASTER_NEURONS", "write_figures"]
