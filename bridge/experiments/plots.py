"""Figures of the experiment harness (matplotlib, written atomically)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .results_io import atomic_write  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png"))
    plt.close(fig)
    return Path(path)


def plot_accuracy_over_tasks(summary: dict[str, Any], cells: dict[tuple[str, int], dict[str, Any]],
                             path: str | Path) -> Path:
    """Accuracy on all test classes after each task, per method (mean +- SD over seeds).
    Joint training (one point, after the whole sequence) is drawn as a dashed line."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    n_tasks = max(len(r["accuracy_all"]) for r in cells.values())
    x = np.arange(1, n_tasks + 1)
    for method in summary["methods"]:
        curves = np.array([r["accuracy_all"] for (m, _), r in cells.items() if m == method])
        mean, sd = curves.mean(0), curves.std(0)
        if curves.shape[1] == 1:
            ax.axhline(mean[0], ls="--", color="gray", label=f"{method} (joint)")
            continue
        ax.plot(x, mean, marker="o", label=method)
        ax.fill_between(x, mean - sd, mean + sd, alpha=0.2)
    ax.set_xlabel("after task")
    ax.set_ylabel("accuracy on all test classes (%)")
    ax.set_xticks(x)
    ax.set_ylim(0, 100)
    seeds = len({s for _, s in cells})
    ax.set_title(f"{summary['paper_row']}, {seeds} seed{'s' if seeds > 1 else ''}")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_patches(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Task-1 accuracy across the overlap sweep: after task 2 (forgotten) and after sleep."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ov = [r["overlap"] for r in rows]
    for key, label in (("task1_after_task2", "task 1 after task 2"), ("task1_after_sleep", "task 1 after sleep"),
                       ("task2_after_sleep", "task 2 after sleep")):
        ax.plot(ov, [r[key] for r in rows], marker="o", label=label)
    ax.set_xlabel("overlapping pixels")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-5, 105)
    ax.legend(fontsize=8)
    return _save(fig, path)
