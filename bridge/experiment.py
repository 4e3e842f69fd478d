"""The experiment harness: continual-learning methods with and without sleep.

For every (method, seed) a fresh no-bias MLP is trained on the tasks in order.
A method ``X+src`` sleeps after every task on all training data seen so far
(SRC_SPEC.md sections 2-4), ``steps_first + (k - 1) * steps_per_task`` steps
after task k. All methods of a seed share the initial weights and the data
order of every task. Accuracies are in percent over the test examples of the
tasks' classes.

Results are written per (method, seed) as soon as each finishes, so an
interrupted run resumes where it stopped (same config); a changed config
archives the earlier results instead of overwriting them.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
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
from ann import CLASS_PAIRS, DATASETS, SleepMLP, Task, TrainConfig, class_incremental_tasks, load_dataset
from ann.baselines import LEARNERS, make_learner
from ann.metrics import average_accuracy, backward_transfer, forgetting

from .methods import SLEEP_OPTIONS, MethodSpec, parse_method
from .params import PRESETS, SleepParams, preset, read_config
from .results_io import atomic_write, prepare_output_dir, write_json
from .sleep import sleep

logger = logging.getLogger(__name__)

#: SRC_SPEC.md section 6: class-incremental accuracy over all classes (%), by paper row
PAPER_RESULTS: dict[str, dict[str, str]] = {
    "mnist": {"sequential": "19.49", "src": "48.47 +- 5.03", "owm": "77.04 +- 2.91",
              "rehearsal": "79.91 +- 5.34", "rehearsal+src": "86.47 +- 1.06", "parallel": "98.02",
              "icarl(memory=100)": "65.50 +- 4.66", "icarl+src(memory=100)": "78.09 +- 3.16"},
    "fashion-mnist": {"sequential": "19.67", "src": "41.68 +- 5.04", "owm": "58.35 +- 2.05",
                      "rehearsal": "55.19 +- 7.74", "rehearsal+src": "67.82 +- 3.64", "parallel": "87.86"},
    "mnist->fashion-mnist": {"sequential": "47.18", "src": "61.33", "ewc": "about 74-75", "si": "about 74-75",
                             "owm": "91.29 +- 1.05", "rehearsal": "83.13 +- 0.89", "rehearsal+src": "83.18 +- 1.91",
                             "parallel": "90.05"},
    "cifar10": {"sequential": "19.01", "src": "44.55 +- 1.45", "owm": "34.23 +- 1.87", "rehearsal": "39.39 +- 0.64",
                "rehearsal+src": "58.24 +- 0.56", "parallel": "72.43",
                "icarl(memory=500)": "54.90 +- 1.49", "icarl+src(memory=500)": "57.50 +- 0.61"},
}


@dataclass
class ExperimentConfig:
    """What to run. Read from a TOML/JSON file with tables ``[experiment]``,
    ``[train]``, ``[sleep]`` and ``[method_options.<method>]`` (see ``configs/``)."""

    dataset: str = "mnist-subset"
    data_dir: str | None = None
    #: data folder per dataset name, for sequences of several data sets
    data_dirs: dict[str, str] = field(default_factory=dict)
    #: for cross-modal sequences: the data set of each task (overrides ``dataset``)
    task_datasets: list[str] | None = None
    #: download MNIST into ``data_dir`` if it is missing (checksums verified)
    download: bool = False
    split_seed: int = 0
    class_groups: list[list[int]] = field(default_factory=lambda: [list(g) for g in CLASS_PAIRS])
    max_train_per_task: int | None = None
    sizes: list[int] = field(default_factory=lambda: [784, 1200, 1200, 10])
    #: initial weights uniform in [-init_range, init_range] (reference 0.01)
    init_range: float = 0.01
    #: hidden-layer dropout (reference 0.25, non-inverted)
    dropout: float = 0.25
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    methods: list[str] = field(default_factory=lambda: ["sequential", "src"])
    engine: str = "fast"
    dtype: str = "float64"
    #: SGD updates per task; sets the epochs when ``train.epochs`` is 0.
    #: The reference does 2 epochs of 5000 examples in batches of 100 = 100.
    updates_per_task: int = 100
    #: name of the paper row to print next to the results (default from the data set)
    paper_row: str | None = None
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=0))
    sleep: SleepParams = field(default_factory=lambda: preset("mnist"))
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    # ---------------------------------------------------------------- checks
    def method_specs(self) -> list[MethodSpec]:
        return [parse_method(m, self.method_options) for m in self.methods]

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field (before any training)."""
        for name in self.task_datasets or [self.dataset]:
            if name not in DATASETS:
                raise ValueError(f"experiment.dataset: unknown dataset {name!r}; choose one of {DATASETS}")
        names = list(dict.fromkeys(self.task_datasets or [self.dataset]))
        if self.data_dir is not None and len([n for n in names if n != "mnist-subset"]) > 1:
            raise ValueError("experiment.data_dir is ambiguous with several data sets; name each folder in "
                             "experiment.data_dirs = {mnist = '...', fashion-mnist = '...'}")
        unknown_dirs = sorted(set(self.data_dirs) - set(names))
        if unknown_dirs:
            raise ValueError(f"experiment.data_dirs names data set(s) {unknown_dirs} the run does not use")
        if self.task_datasets is not None and len(self.task_datasets) != len(self.class_groups):
            raise ValueError(f"experiment.task_datasets has {len(self.task_datasets)} entries for "
                             f"{len(self.class_groups)} class groups")
        if not self.methods:
            raise ValueError("experiment.methods is empty")
        specs = self.method_specs()
        labels = [s.label for s in specs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"experiment.methods lists a method twice: {labels}")
        for s in specs:
            learner_opts = {k: v for k, v in s.options.items() if k not in SLEEP_OPTIONS}
            if s.base != "parallel":  # instantiating checks the options
                LEARNERS[s.base](SleepMLP((2, 2)), TrainConfig(), **learner_opts)
            elif set(learner_opts) - {"epochs"}:
                raise ValueError(f"method parallel takes only the option epochs, got {sorted(learner_opts)}")
            elif not isinstance(learner_opts.get("epochs", 1), int) or learner_opts.get("epochs", 1) < 1:
                raise ValueError(f"method parallel: option epochs must be an integer >= 1, got {learner_opts['epochs']!r}")
            if "sleep_preset" in s.options and s.options["sleep_preset"] not in PRESETS:
                raise ValueError(f"method_options.{s.label}.sleep_preset: unknown preset "
                                 f"{s.options['sleep_preset']!r}; choose one of {sorted(PRESETS)}")
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
        n_classes = max(max(g) for g in self.class_groups) + 1
        if n_classes > self.sizes[-1]:
            raise ValueError(f"experiment.sizes[-1] = {self.sizes[-1]} outputs cannot hold {n_classes} classes")

    def data_dir_for(self, name: str) -> str | None:
        """The folder (or file) of dataset ``name``: ``data_dirs[name]``, else
        ``data_dir`` when ``name`` is the only data set of the run that reads files."""
        if name in self.data_dirs:
            return self.data_dirs[name]
        readers = [n for n in dict.fromkeys(self.task_datasets or [self.dataset]) if n != "mnist-subset"]
        return self.data_dir if readers == [name] else None

    def epochs_for(self, n_examples: int, n_tasks: int = 1) -> int:
        if self.train.epochs:
            return self.train.epochs
        return math.ceil(self.updates_per_task * n_tasks / math.ceil(n_examples / self.train.batch_size))

    def sleep_params_for(self, spec: MethodSpec) -> SleepParams:
        name = spec.options.get("sleep_preset")
        if name is None:
            return self.sleep
        return preset(name).replace(steps_first=self.sleep.steps_first, steps_per_task=self.sleep.steps_per_task)

    @property
    def row(self) -> str:
        if self.paper_row:
            return self.paper_row
        names = self.task_datasets or [self.dataset]
        names = ["mnist" if n.startswith("mnist") else n for n in dict.fromkeys(names)]
        return "->".join(names)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sleep"] = self.sleep.to_dict()
        return d

    def fingerprint(self) -> str:
        """Hash of everything that changes the results (not the seeds or methods)."""
        d = self.to_dict()
        for k in ("seeds", "methods", "paper_row"):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExperimentConfig":
        data = dict(data)
        unknown_tables = sorted(set(data) - {"experiment", "train", "sleep", "method_options"})
        if unknown_tables:
            raise ValueError(f"unknown config table(s) {unknown_tables}; "
                             "use [experiment], [train], [sleep], [method_options.NAME]")
        exp = dict(data.get("experiment", {}))
        known = {f.name for f in dataclasses.fields(cls)} - {"train", "sleep", "method_options"}
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
        options = data.get("method_options", {})
        if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
            raise ValueError("method_options must be tables [method_options.NAME]")
        cfg = cls(**exp, train=TrainConfig(**train), sleep=SleepParams.from_dict(sleep_values),
                  method_options={k: dict(v) for k, v in options.items()})
        cfg.validate()
        return cfg

    @classmethod
    def from_file(cls, path: str) -> "ExperimentConfig":
        return cls.from_dict(read_config(path))


# -------------------------------------------------------------------- data
def load_tasks(cfg: ExperimentConfig) -> tuple[list[Task], np.ndarray, np.ndarray]:
    """Tasks, and the test set of all their classes ``(x, y)``. Fails before training
    when data are missing or do not fit the network."""
    names = cfg.task_datasets or [cfg.dataset] * len(cfg.class_groups)
    datasets = {}
    for name in dict.fromkeys(names):
        if name == "mnist" and cfg.download:
            from ann.download import download_mnist
            if cfg.data_dir is None:
                raise ValueError("experiment.download needs experiment.data_dir, the folder to download into")
            download_mnist(cfg.data_dir)
        datasets[name] = load_dataset(name, cfg.data_dir_for(name), cfg.split_seed)
        if datasets[name].n_features != cfg.sizes[0]:
            raise ValueError(f"experiment.sizes[0] = {cfg.sizes[0]} but {name} has "
                             f"{datasets[name].n_features} features")
    tasks = []
    for name, group in zip(names, cfg.class_groups):
        tasks.extend(class_incremental_tasks(datasets[name], [group], cfg.max_train_per_task))
    return tasks, np.concatenate([t.x_test for t in tasks]), np.concatenate([t.y_test for t in tasks])


def _task_seed(seed: int, k: int, purpose: int) -> int:
    return int(np.random.SeedSequence([seed, k, purpose]).generate_state(1)[0])


# --------------------------------------------------------------------- runs
def _new_model(cfg: ExperimentConfig, seed: int, logits: bool) -> SleepMLP:
    out_act = "linear" if logits or cfg.train.loss == "ce" else "relu"
    return SleepMLP(cfg.sizes, output_activation=out_act, generator=torch.Generator().manual_seed(int(seed)),
                    init_range=cfg.init_range, dropout=cfg.dropout)


def evaluate(predict, tasks: list[Task], x_test: np.ndarray, y_test: np.ndarray) -> tuple[list[float], float]:
    """Accuracy (%) on each task's test set and on all of them, from one pass
    over ``x_test`` (the tasks' test sets concatenated in order)."""
    pred = np.asarray(predict(x_test))
    correct = pred == y_test
    bounds = np.cumsum([0] + [len(t.y_test) for t in tasks])
    if bounds[-1] != len(y_test):
        raise ValueError("x_test must be the concatenation of the tasks' test sets")
    per_task = [float(100.0 * correct[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:])]
    return per_task, float(100.0 * correct.mean())


def run_parallel(cfg: ExperimentConfig, tasks: list[Task], x_test: np.ndarray, y_test: np.ndarray,
                 seed: int, progress: bool = True, epochs: int | None = None) -> dict[str, Any]:
    """Joint training on all tasks at once, for ``epochs`` epochs (default: the
    whole sequence's update budget)."""
    learner = make_learner("sequential", _new_model(cfg, seed, False), cfg.train)
    x = np.concatenate([t.x_train for t in tasks])
    y = np.concatenate([t.y_train for t in tasks])
    learner.learn_task(x, y, epochs=epochs or cfg.epochs_for(len(y), len(tasks)), seed=_task_seed(seed, 0, 0),
                       progress=progress)
    final, overall = evaluate(learner.predict, tasks, x_test, y_test)
    return {"accuracy_matrix": [final], "accuracy_all": [overall],
            "average_accuracy": float(np.mean(final)), "backward_transfer": None, "forgetting": None}


def run_method(cfg: ExperimentConfig, spec: MethodSpec, tasks: list[Task], x_test: np.ndarray,
               y_test: np.ndarray, seed: int, progress: bool = True) -> dict[str, Any]:
    """Run one method for one seed. Returns the accuracy matrix ``R[i][j]`` (after
    task i, on task j), the accuracy over all test classes after each task, the
    continual-learning metrics and, for sleeping methods, the same before each sleep."""
    t0 = time.perf_counter()
    if spec.base == "parallel":
        rec = run_parallel(cfg, tasks, x_test, y_test, seed, progress, spec.options.get("epochs"))
    else:
        learner_opts = {k: v for k, v in spec.options.items() if k not in SLEEP_OPTIONS}
        learner = make_learner(spec.base, _new_model(cfg, seed, LEARNERS[spec.base].needs_logits), cfg.train,
                               **learner_opts)
        sleep_params = cfg.sleep_params_for(spec)
        rec: dict[str, Any] = {"accuracy_matrix": [], "accuracy_all": []}
        if spec.sleep:
            rec.update(accuracy_matrix_before_sleep=[], accuracy_all_before_sleep=[], sleep_spikes_per_step=[])
        seen: list[np.ndarray] = []
        for k, task in enumerate(tqdm(tasks, desc=f"{spec.label} seed {seed}", unit="task", disable=not progress,
                                      leave=False)):
            learner.learn_task(task.x_train, task.y_train, epochs=cfg.epochs_for(len(task.y_train)),
                               seed=_task_seed(seed, k, 0))
            seen.append(task.x_train)
            if spec.sleep:
                per_task, overall = evaluate(learner.predict, tasks, x_test, y_test)
                rec["accuracy_matrix_before_sleep"].append(per_task)
                rec["accuracy_all_before_sleep"].append(overall)
                outcome = sleep(learner.model, np.concatenate(seen), sleep_params,
                                steps=sleep_params.steps_for_task(k + 1), engine=cfg.engine, dtype=cfg.dtype,
                                seed=_task_seed(seed, k, 1), progress=progress)
                learner.set_model(outcome.model)
                rec["sleep_spikes_per_step"].append(outcome.result.counts.mean(0).tolist())
            per_task, overall = evaluate(learner.predict, tasks, x_test, y_test)
            rec["accuracy_matrix"].append(per_task)
            rec["accuracy_all"].append(overall)
        R = np.array(rec["accuracy_matrix"])
        rec.update(average_accuracy=average_accuracy(R), backward_transfer=backward_transfer(R),
                   forgetting=forgetting(R))
        memory = getattr(learner, "memory_size", None)
        if memory is not None:
            rec["memory_examples"] = memory
    rec["final_accuracy"] = rec["accuracy_all"][-1]
    rec["wall_time_s"] = time.perf_counter() - t0
    return rec


def _mean_sd(values: list[float | None]) -> dict[str, float | None]:
    vals = np.array([v for v in values if v is not None], dtype=float)
    if vals.size == 0:
        return {"mean": None, "sd": None}
    return {"mean": float(vals.mean()), "sd": float(vals.std(ddof=1)) if vals.size > 1 else 0.0}


def summarize(specs: list[MethodSpec], cells: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    methods = {}
    for spec in specs:
        recs = {seed: r for (label, seed), r in cells.items() if label == spec.label}
        finals = {str(s): r["final_accuracy"] for s, r in recs.items()}
        entry = {"final_accuracy": {"per_seed": finals, **_mean_sd(list(finals.values()))}}
        for metric in ("average_accuracy", "backward_transfer", "forgetting"):
            entry[metric] = _mean_sd([r[metric] for r in recs.values()])
        curves = np.array([r["accuracy_all"] for r in recs.values()])
        entry["accuracy_all_mean"] = curves.mean(0).tolist()
        entry["accuracy_matrix_mean"] = np.mean([r["accuracy_matrix"] for r in recs.values()], 0).tolist()
        # accuracy on each task right after training on it (before any sleep)
        if spec.base != "parallel":
            entry["new_task_accuracy_min"] = float(min(
                np.diag(np.array(r.get("accuracy_matrix_before_sleep", r["accuracy_matrix"]))).min()
                for r in recs.values()))
        methods[spec.label] = entry
    return methods


def _paper_key(label: str) -> str:
    return "src" if label == "sequential+src" else label


def format_table(summary: dict[str, Any]) -> str:
    """Markdown table: final accuracy per seed, mean +- SD, BWT, forgetting, the paper's number."""
    methods = summary["methods"]
    seeds = list(next(iter(methods.values()))["final_accuracy"]["per_seed"])
    paper = PAPER_RESULTS.get(summary.get("paper_row", ""), {})
    fmt = lambda d: "n/a" if d["mean"] is None else f"{d['mean']:.2f} +- {d['sd']:.2f}"  # noqa: E731
    head = ("| method | " + " | ".join(f"seed {s}" for s in seeds)
            + " | mean +- SD | BWT | forgetting | paper |")
    lines = [head, "|" + "---|" * (len(seeds) + 5)]
    for m, r in methods.items():
        fa = r["final_accuracy"]
        cells = " | ".join(f"{fa['per_seed'][s]:.2f}" if s in fa["per_seed"] else "-" for s in seeds)
        lines.append(f"| {m} | {cells} | {fmt(fa)} | {fmt(r['backward_transfer'])} | {fmt(r['forgetting'])} | "
                     f"{paper.get(_paper_key(m), '')} |")
    return "\n".join(lines)


RESULT_FILES = ["summary.json", "summary.md", "accuracy_over_tasks.png", "config.json", "cells"]


def _open_output(cfg: ExperimentConfig, out_dir: str | Path, fresh: bool) -> tuple[Path, bool]:
    """Resume when the folder holds a run of the same config; archive otherwise."""
    out = Path(out_dir)
    state = out / "config.json"
    same = False
    if state.is_file() and not fresh:
        try:
            same = json.loads(state.read_text()).get("fingerprint") == cfg.fingerprint()
        except ValueError:
            same = False
    if not same:
        out = prepare_output_dir(out, RESULT_FILES + [p.name for p in out.glob("seed_*.json")])
        write_json(out / "config.json", {"fingerprint": cfg.fingerprint(), "config": cfg.to_dict()})
    return out, same


def run_experiment(cfg: ExperimentConfig, out_dir: str | Path, *, fresh: bool = False,
                   progress: bool = True) -> dict[str, Any]:
    """Run ``cfg``; write ``summary.json``, ``summary.md``, ``accuracy_over_tasks.png``
    and ``cells/<method>/seed_<s>.json`` to ``out_dir``. A finished (method, seed)
    of the same config is not recomputed unless ``fresh``. Returns the summary."""
    from . import __version__
    from .plots import plot_accuracy_over_tasks

    cfg.validate()
    t0 = time.perf_counter()
    tasks, x_test, y_test = load_tasks(cfg)  # fails before any training if data are missing
    cfg.train.n_classes = cfg.sizes[-1]
    specs = cfg.method_specs()
    out, resuming = _open_output(cfg, out_dir, fresh)
    cells: dict[tuple[str, int], dict[str, Any]] = {}
    todo = []
    for spec in specs:
        for seed in cfg.seeds:
            path = out / "cells" / spec.slug / f"seed_{seed}.json"
            if resuming and path.is_file():
                cells[(spec.label, seed)] = json.loads(path.read_text())
            else:
                todo.append((spec, seed, path))
    if resuming:
        logger.warning("resuming %s: %d of %d (method, seed) runs already finished", out, len(cells),
                       len(cells) + len(todo))
    for spec, seed, path in tqdm(todo, desc="runs", unit="run", disable=not progress):
        try:
            cells[(spec.label, seed)] = run_method(cfg, spec, tasks, x_test, y_test, seed, progress)
        except FloatingPointError as exc:
            raise FloatingPointError(f"method {spec.label}, seed {seed}: {exc} (finished runs are kept; "
                                     "rerun to resume)") from exc
        write_json(path, {"method": spec.label, "seed": seed, "package_version": __version__,
                          **cells[(spec.label, seed)]})
    summary = {
        "package_version": __version__,
        "config": cfg.to_dict(),
        "paper_row": cfg.row,
        "epochs_per_task": [cfg.epochs_for(len(t.y_train)) for t in tasks],
        "train_examples_per_task": [len(t.y_train) for t in tasks],
        "test_examples": int(len(y_test)),
        "methods": summarize(specs, cells),
        "resumed_runs": len(cfg.seeds) * len(specs) - len(todo),
        "wall_time_s": time.perf_counter() - t0,
    }
    write_json(out / "summary.json", summary)
    table = format_table(summary) + "\n"
    atomic_write(out / "summary.md", lambda p: p.write_text(table))
    plot_accuracy_over_tasks(summary, cells, out / "accuracy_over_tasks.png")
    return summary
