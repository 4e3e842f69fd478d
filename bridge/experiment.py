"""The main job: class-incremental training with and without sleep (SRC).

For every seed a fresh no-bias MLP is trained on the tasks in order. The
``sequential`` method only trains; ``src`` sleeps after every task on all
training data seen so far (SRC_SPEC.md sections 2-4), with
``steps_first + (k - 1) * steps_per_task`` steps after task k. Both methods
share the seed's initial weights and the data order of every task.
Accuracies are in percent, argmax over all outputs.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

import snn
from ann import (CLASS_PAIRS, DATASETS, SleepMLP, Task, TrainConfig, accuracy, class_incremental_tasks,
                 load_dataset, task_accuracies, train_task)

from .params import SleepParams, preset, read_config
from .results_io import atomic_write, prepare_output_dir, write_json
from .sleep import sleep

logger = logging.getLogger(__name__)

METHODS = ("sequential", "src")

#: SRC_SPEC.md section 6, class-incremental accuracy over all classes (%)
PAPER_RESULTS = {
    "mnist": {"sequential": "19.49", "src": "48.47 +- 5.03"},
    "fashion-mnist": {"sequential": "19.67", "src": "41.68 +- 5.04"},
}


@dataclass
class ExperimentConfig:
    """What to run. Reads from a TOML/JSON file with tables ``[experiment]``,
    ``[train]`` and ``[sleep]`` (see ``configs/``)."""

    dataset: str = "mnist-subset"
    data_dir: str | None = None
    split_seed: int = 0
    class_groups: list[list[int]] = field(default_factory=lambda: [list(g) for g in CLASS_PAIRS])
    max_train_per_task: int | None = None
    sizes: list[int] = field(default_factory=lambda: [784, 1200, 1200, 10])
    #: initial weights uniform in [-init_range, init_range] (reference 0.01)
    init_range: float = 0.01
    #: hidden-layer dropout (reference 0.25, non-inverted)
    dropout: float = 0.25
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    engine: str = "fast"
    dtype: str = "float64"
    #: SGD updates per task; sets the epochs when ``train.epochs`` is not given.
    #: The reference does 2 epochs of 5000 examples in batches of 100 = 100.
    updates_per_task: int = 100
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=0))
    sleep: SleepParams = field(default_factory=lambda: preset("mnist"))

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"experiment.dataset: unknown dataset {self.dataset!r}; choose one of {DATASETS}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"experiment.methods: unknown method(s) {unknown}; choose from {METHODS}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"experiment.seeds must be distinct integers, got {self.seeds}")
        if self.engine not in snn.available_engines():
            raise ValueError(f"experiment.engine: unknown engine {self.engine!r}; "
                             f"available: {snn.available_engines()}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"experiment.dtype must be float64 or float32, got {self.dtype!r}")
        if len(self.sizes) < 2 or any(int(s) < 1 for s in self.sizes):
            raise ValueError(f"experiment.sizes must list >= 2 positive widths, got {self.sizes}")
        if len(self.sleep.beta) != len(self.sizes) - 1:
            raise ValueError(f"sleep.beta has {len(self.sleep.beta)} values for {len(self.sizes) - 1} layers")
        if not self.init_range > 0:
            raise ValueError(f"experiment.init_range must be > 0, got {self.init_range}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"experiment.dropout must be in [0, 1), got {self.dropout}")
        if self.updates_per_task < 1:
            raise ValueError(f"experiment.updates_per_task must be >= 1, got {self.updates_per_task}")
        if self.train.epochs < 0:
            raise ValueError(f"train.epochs must be >= 0 (0 = from updates_per_task), got {self.train.epochs}")
        TrainConfig(**{**dataclasses.asdict(self.train), "epochs": max(self.train.epochs, 1)}).validate()

    def epochs_for(self, n_examples: int) -> int:
        if self.train.epochs:
            return self.train.epochs
        return math.ceil(self.updates_per_task / math.ceil(n_examples / self.train.batch_size))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sleep"] = self.sleep.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExperimentConfig":
        data = dict(data)
        unknown_tables = sorted(set(data) - {"experiment", "train", "sleep"})
        if unknown_tables:
            raise ValueError(f"unknown config table(s) {unknown_tables}; use [experiment], [train], [sleep]")
        exp = dict(data.get("experiment", {}))
        known = {f.name for f in dataclasses.fields(cls)} - {"train", "sleep"}
        bad = sorted(set(exp) - known)
        if bad:
            raise ValueError(f"unknown experiment field(s) {bad}; known: {sorted(known)}")
        train = dict(data.get("train", {}))
        tknown = {f.name for f in dataclasses.fields(TrainConfig)}
        bad = sorted(set(train) - tknown)
        if bad:
            raise ValueError(f"unknown train field(s) {bad}; known: {sorted(tknown)}")
        train.setdefault("epochs", 0)
        sleep_values = dict(data.get("sleep", {}))
        sleep_values.setdefault("preset", "mnist")
        cfg = cls(**exp, train=TrainConfig(**train), sleep=SleepParams.from_dict(sleep_values))
        cfg.validate()
        return cfg

    @classmethod
    def from_file(cls, path: str) -> "ExperimentConfig":
        return cls.from_dict(read_config(path))


def _task_seed(seed: int, k: int, purpose: int) -> int:
    return int(np.random.SeedSequence([seed, k, purpose]).generate_state(1)[0])


def run_seed(cfg: ExperimentConfig, tasks: list[Task], x_test: np.ndarray, y_test: np.ndarray, seed: int,
             progress: bool = True) -> dict[str, Any]:
    """Run every method for one seed. Returns per method the accuracy matrix
    ``R[i][j]`` (after task i, on task j), the accuracy over all test classes
    after each task, and for ``src`` the same before each sleep."""
    gen = torch.Generator().manual_seed(int(seed))
    out_act = "relu" if cfg.train.loss == "mse" else "linear"
    base = SleepMLP(cfg.sizes, output_activation=out_act, generator=gen, init_range=cfg.init_range,
                    dropout=cfg.dropout)
    models = {m: copy.deepcopy(base) for m in cfg.methods}
    rec: dict[str, dict[str, list]] = {m: {"accuracy_matrix": [], "accuracy_all": []} for m in cfg.methods}
    if "src" in rec:
        rec["src"].update(accuracy_matrix_before_sleep=[], accuracy_all_before_sleep=[], sleep_spikes_per_step=[])
    seen: list[np.ndarray] = []
    for k, task in enumerate(tqdm(tasks, desc=f"seed {seed}", unit="task", disable=not progress)):
        train_cfg = dataclasses.replace(cfg.train, epochs=cfg.epochs_for(len(task.y_train)))
        seen.append(task.x_train)
        trained_once: dict[str, Any] | None = None
        for method in cfg.methods:
            # both methods see identical training on identical weights until the first sleep
            if k == 0 and trained_once is not None:
                models[method].load_state_dict(trained_once)
            else:
                train_task(models[method], task.x_train, task.y_train, train_cfg, seed=_task_seed(seed, k, 0))
                if k == 0:
                    trained_once = copy.deepcopy(models[method].state_dict())
            if method == "src":
                rec[method]["accuracy_matrix_before_sleep"].append(task_accuracies(models[method], tasks).tolist())
                rec[method]["accuracy_all_before_sleep"].append(accuracy(models[method], x_test, y_test))
                outcome = sleep(models[method], np.concatenate(seen), cfg.sleep,
                                steps=cfg.sleep.steps_for_task(k + 1), engine=cfg.engine, dtype=cfg.dtype,
                                seed=_task_seed(seed, k, 1), progress=progress)
                models[method] = outcome.model
                rec[method]["sleep_spikes_per_step"].append(outcome.result.counts.mean(0).tolist())
            rec[method]["accuracy_matrix"].append(task_accuracies(models[method], tasks).tolist())
            rec[method]["accuracy_all"].append(accuracy(models[method], x_test, y_test))
    for method in cfg.methods:
        rec[method]["final_accuracy"] = rec[method]["accuracy_all"][-1]
    return rec


def summarize(cfg: ExperimentConfig, per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    methods = {}
    for m in cfg.methods:
        finals = {str(s): per_seed[s][m]["final_accuracy"] for s in per_seed}
        vals = np.array(list(finals.values()))
        curves = np.array([per_seed[s][m]["accuracy_all"] for s in per_seed])
        methods[m] = {
            "final_accuracy": {"per_seed": finals, "mean": float(vals.mean()),
                               "sd": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0},
            "accuracy_all_mean": curves.mean(0).tolist(),
            "accuracy_matrix_mean": np.mean([per_seed[s][m]["accuracy_matrix"] for s in per_seed], 0).tolist(),
            # accuracy on each task right after training on it (before any sleep)
            "new_task_accuracy_min": float(min(
                np.diag(per_seed[s][m].get("accuracy_matrix_before_sleep", per_seed[s][m]["accuracy_matrix"])).min()
                for s in per_seed)),
        }
    return methods


def format_table(summary: dict[str, Any]) -> str:
    """Markdown table: final accuracy per seed, mean +- SD, and the paper's number."""
    methods = summary["methods"]
    seeds = list(next(iter(methods.values()))["final_accuracy"]["per_seed"])
    paper = PAPER_RESULTS.get(summary.get("paper_row", ""), {})
    head = "| method | " + " | ".join(f"seed {s}" for s in seeds) + " | mean +- SD | paper (full data) |"
    lines = [head, "|" + "---|" * (len(seeds) + 3)]
    for m, r in methods.items():
        fa = r["final_accuracy"]
        cells = " | ".join(f"{fa['per_seed'][s]:.2f}" for s in seeds)
        lines.append(f"| {m} | {cells} | {fa['mean']:.2f} +- {fa['sd']:.2f} | {paper.get(m, '')} |")
    return "\n".join(lines)


RESULT_FILES = ["summary.json", "summary.md", "accuracy_over_tasks.png"]


def run_experiment(cfg: ExperimentConfig, out_dir: str | Path, *, overwrite: bool = False,
                   progress: bool = True) -> dict[str, Any]:
    """Run ``cfg`` and write ``summary.json``, ``summary.md``, per-seed JSON and
    ``accuracy_over_tasks.png`` to ``out_dir``. Returns the summary."""
    from . import __version__
    from .plots import plot_accuracy_over_tasks

    cfg.validate()
    t0 = time.perf_counter()
    data = load_dataset(cfg.dataset, cfg.data_dir, cfg.split_seed)  # fails before any training if missing
    if data.n_features != cfg.sizes[0]:
        raise ValueError(f"experiment.sizes[0] = {cfg.sizes[0]} but {cfg.dataset} has {data.n_features} features")
    tasks = class_incremental_tasks(data, cfg.class_groups, cfg.max_train_per_task)
    n_classes = int(max(max(g) for g in cfg.class_groups)) + 1
    if n_classes > cfg.sizes[-1]:
        raise ValueError(f"experiment.sizes[-1] = {cfg.sizes[-1]} outputs cannot hold {n_classes} classes")
    cfg.train.n_classes = cfg.sizes[-1]
    classes = [c for g in cfg.class_groups for c in g]
    test_mask = np.isin(data.y_test, classes)
    out = prepare_output_dir(out_dir, RESULT_FILES + [f"seed_{s}.json" for s in cfg.seeds], overwrite)
    per_seed = {}
    for seed in cfg.seeds:
        per_seed[seed] = run_seed(cfg, tasks, data.x_test[test_mask], data.y_test[test_mask], seed, progress)
        write_json(out / f"seed_{seed}.json", {"seed": seed, **per_seed[seed]})
    summary = {
        "package_version": __version__,
        "config": cfg.to_dict(),
        "paper_row": "mnist" if cfg.dataset.startswith("mnist") else cfg.dataset,
        "epochs_per_task": [cfg.epochs_for(len(t.y_train)) for t in tasks],
        "train_examples_per_task": [len(t.y_train) for t in tasks],
        "methods": summarize(cfg, per_seed),
        "wall_time_s": time.perf_counter() - t0,
    }
    write_json(out / "summary.json", summary)
    table = format_table(summary) + "\n"
    atomic_write(out / "summary.md", lambda p: p.write_text(table))
    plot_accuracy_over_tasks(summary, per_seed, out / "accuracy_over_tasks.png")
    return summary
