"""Input drive to hidden units from each task's data, before vs after a sleep
(the paper: SRC gives old-task units more drive and the newest task's units less).

The drive of unit ``i`` of layer ``l`` from data ``x`` is its mean pre-activation
``(W_l h_{l-1})_i`` over the examples of ``x`` (test mode,
:func:`ann.representations.mean_input_drive`). For task ``j`` the units are the
task's selective units (top-N by mean activation on its data in the network
*before* sleep), so before and after compare the same units.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from torch import nn

from ann.representations import mean_input_drive

from ..errors import AnalysisError


def task_unit_drive(model_before: nn.Module, model_after: nn.Module, task_x: Sequence[np.ndarray],
                    task_units: Sequence[Sequence[np.ndarray]]) -> list[list[dict]]:
    """Per hidden layer, per task ``j``: ``{"task", "before", "after", "change"}``, the
    mean drive to task ``j``'s units from task ``j``'s data in each model.

    task_x: the data of each task, ``(n_j, n_inputs)``.
    task_units: ``task_units[l][j]``: unit indices of task ``j`` in hidden layer ``l``.
    """
    if len(task_x) == 0:
        raise AnalysisError("no task data given")
    bounds = np.cumsum([0] + [len(x) for x in task_x])
    rows = [np.arange(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    x_all = np.concatenate(task_x)
    before = mean_input_drive(model_before, x_all, rows)  # [task][layer]
    after = mean_input_drive(model_after, x_all, rows)
    out = []
    for l, units_per_task in enumerate(task_units):
        if len(units_per_task) != len(task_x):
            raise AnalysisError(f"hidden layer {l + 1}: {len(units_per_task)} unit sets for {len(task_x)} tasks")
        rows = []
        for j, units in enumerate(units_per_task):
            idx = np.asarray(units, dtype=np.int64)
            width = before[j][l].size
            if idx.size == 0 or idx.min() < 0 or idx.max() >= width:
                raise AnalysisError(f"hidden layer {l + 1}, task {j + 1}: unit indices must lie in [0, {width})")
            b, a = float(before[j][l][idx].mean()), float(after[j][l][idx].mean())
            rows.append({"task": j + 1, "before": b, "after": a, "change": a - b})
        out.append(rows)
    return out


def old_vs_newest(rows: Sequence[dict]) -> dict[str, float | None]:
    """``{"old_tasks_change": mean change over all tasks but the last (None with one
    task), "newest_task_change": change of the last task}`` from :func:`task_unit_drive` rows."""
    if not rows:
        raise AnalysisError("no tasks")
    old = [r["change"] for r in rows[:-1]]
    return {"old_tasks_change": float(np.mean(old)) if old else None, "newest_task_change": float(rows[-1]["change"])}


__all__ = ["old_vs_newest", "task_unit_drive"]
