"""Figures of the main job (matplotlib, written atomically)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .results_io import atomic_write  # noqa: E402


def plot_accuracy_over_tasks(summary: dict[str, Any], per_seed: dict[int, dict[str, Any]], path: str | Path) -> Path:
    """Accuracy on all test classes after each task, per method (mean +- SD over seeds)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for method in summary["methods"]:
        curves = np.array([per_seed[s][method]["accuracy_all"] for s in per_seed])
        x = np.arange(1, curves.shape[1] + 1)
        mean, sd = curves.mean(0), curves.std(0)
        ax.plot(x, mean, marker="o", label=method)
        ax.fill_between(x, mean - sd, mean + sd, alpha=0.2)
    ax.set_xlabel("after task")
    ax.set_ylabel("accuracy on all test classes (%)")
    ax.set_xticks(np.arange(1, curves.shape[1] + 1))
    ax.set_ylim(0, 100)
    ax.set_title(f"{summary['config']['dataset']}, {len(per_seed)} seeds")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png"))
    plt.close(fig)
    return Path(path)
