"""The patches toy task harness (SRC_SPEC.md section 5): forgetting and
recovery by sleep as a function of the overlap between the images."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ann import SleepMLP, TrainConfig, accuracy, train_task
from ann.patches import make_patches, patches_tasks

from ..errors import ConfigError
from ..params import SleepParams, preset
from ..sleep import sleep
from .results_io import archive_files, atomic_write, results_dir, results_lock, write_json

logger = logging.getLogger(__name__)

#: SRC_SPEC.md section 5 (the numbers live in bridge.params.PRESETS["patches"])
PATCHES_SLEEP = preset("patches")


@dataclass
class PatchesConfig:
    """The toy task: 100-4 network, softmax output, lr 0.05, momentum 0.5, batch 2;
    task 1 for 4 epochs, task 2 for 2 epochs; one sleep of 30000 steps after task 2."""

    overlaps: list[int] = field(default_factory=lambda: list(range(1, 16)))
    trials: int = 5
    width: int = 10
    #: presentations of every image per epoch
    copies: int = 25
    epochs_task1: int = 4
    epochs_task2: int = 2
    lr: float = 0.05
    momentum: float = 0.5
    batch_size: int = 2
    init_range: float = 0.01
    engine: str = "fast"
    sleep: SleepParams = field(default_factory=lambda: PATCHES_SLEEP)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PatchesConfig":
        values = dict(data.get("patches", {}))
        known = {f for f in cls.__dataclass_fields__} - {"sleep"}
        bad = sorted(set(values) - known)
        if bad:
            raise ConfigError(f"unknown patches field(s) {bad}; known: {sorted(known)}")
        sleep_values = {**PATCHES_SLEEP.to_dict(), **data.get("sleep", {})}
        cfg = cls(**values, sleep=SleepParams.from_dict(sleep_values))
        if not cfg.overlaps or cfg.trials < 1:
            raise ConfigError("patches.overlaps must be non-empty and patches.trials >= 1")
        for ov in cfg.overlaps:  # fail before any training
            make_patches(ov, cfg.width)
        return cfg


def run_trial(cfg: PatchesConfig, overlap: int, trial: int) -> dict[str, float]:
    """Task-1 accuracy (%) after task 1, after task 2 and after sleep, for one trial."""
    images = make_patches(overlap, cfg.width, seed=trial)
    tasks = patches_tasks(images)
    model = SleepMLP((cfg.width ** 2, len(images)), dropout=0.0, output_activation="linear",
                     init_range=cfg.init_range, generator=torch.Generator().manual_seed(trial))
    train_cfg = TrainConfig(lr=cfg.lr, momentum=cfg.momentum, batch_size=cfg.batch_size, loss="ce",
                            n_classes=len(images))
    out: dict[str, float] = {}
    for k, (task, epochs) in enumerate(zip(tasks, (cfg.epochs_task1, cfg.epochs_task2))):
        x = np.repeat(task.x_train, cfg.copies, axis=0)
        y = np.repeat(task.y_train, cfg.copies)
        train_task(model, x, y, TrainConfig(**{**asdict(train_cfg), "epochs": epochs}), seed=trial * 10 + k)
        out[f"task1_after_task{k + 1}"] = accuracy(model, tasks[0].x_test, tasks[0].y_test)
    out["task2_after_task2"] = accuracy(model, tasks[1].x_test, tasks[1].y_test)
    slept = sleep(model, images, cfg.sleep, steps=cfg.sleep.steps_first, engine=cfg.engine, seed=trial).model
    out["task1_after_sleep"] = accuracy(slept, tasks[0].x_test, tasks[0].y_test)
    out["task2_after_sleep"] = accuracy(slept, tasks[1].x_test, tasks[1].y_test)
    return out


def run_patches(cfg: PatchesConfig, out_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Sweep the overlaps; write ``summary.json``, ``summary.md`` and ``patches_overlap.png``
    (earlier ones are archived). ``out_dir`` is locked for the run
    (:class:`~bridge.errors.ResultsDirError` if another run holds it)."""
    from ..version import __version__
    from .plots import plot_patches

    t0 = time.perf_counter()
    out = results_dir(out_dir)
    with results_lock(out):
        archive_files(out, ["summary.json", "summary.md", "patches_overlap.png"])
        rows = []
        for ov in tqdm(cfg.overlaps, desc="overlaps", disable=not progress):
            trials = [run_trial(cfg, ov, t) for t in range(cfg.trials)]
            rows.append({"overlap": ov, **{k: float(np.mean([t[k] for t in trials])) for k in trials[0]},
                         "trials": trials})
        summary = {"package_version": __version__, "config": {**asdict(cfg), "sleep": cfg.sleep.to_dict()},
                   "rows": rows, "wall_time_s": time.perf_counter() - t0}
        write_json(out / "summary.json", summary)
        lines = ["| overlap | task 1 after task 1 | task 1 after task 2 | task 1 after sleep | task 2 after sleep |",
                 "|---|---|---|---|---|"]
        lines += [f"| {r['overlap']} | {r['task1_after_task1']:.0f} | {r['task1_after_task2']:.0f} | "
                  f"{r['task1_after_sleep']:.0f} | {r['task2_after_sleep']:.0f} |" for r in rows]
        table = "\n".join(lines) + "\n"
        atomic_write(out / "summary.md", lambda p: p.write_text(table))
        plot_patches(rows, out / "patches_overlap.png")
    summary["table"] = table
    return summary
