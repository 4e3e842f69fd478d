"""Analyse the sleeps of a finished run (``sleep-replay analyze RUN_DIR``).

For each seed and each sleep (after task ``k``) of a sleeping method, with the
models the run saved before and after the sleep (``models/<method>/seed<s>/
task<k>_{before,after}_sleep.pt``, see docs/results_folder.md):

1. the sleep is run again from the saved "before" model with the run's sleep
   parameters, engine and seed (per-neuron spike counts; the slept weights are
   compared with the saved "after" model: ``reproduced``);
2. on the test set of the classes seen so far, per hidden layer, before and
   after: class correlation matrix, within/between-class correlation,
   Treves-Rolls sparseness and active fraction (:mod:`ann.representations`);
3. reactivation: sleep spike counts of each seen task's and class's selective
   units (top-N by mean activation before sleep) vs random subsets of equal size
   (:mod:`.reactivation`), and the class reactivation r;
4. input drive to each seen task's units from its data, before vs after (:mod:`.drive`);
5. weight-change statistics and histograms per layer (:mod:`.weights`); for a CNN,
   the shared kernels before and after as a figure (``kernels_<layer>.png``).

A CNN's hidden layers are its convolution and pooling layers (and hidden fc
layers), named as in the sleep network (``conv1``, ``pool1``, ...); a feature map
is ``C H W`` units.

The schema of the result (``analysis.json``) is documented in docs/analysis.md.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ann.representations import (
    class_correlation_matrix, class_selective_units, hidden_layer_activations, representation_summary,
    task_selective_units,
)

from ..errors import AnalysisError, MissingModelsError
from ..sleep import sleep
from .drive import old_vs_newest, task_unit_drive
from .reactivation import class_reactivation, selective_reactivation
from .weights import weight_change

logger = logging.getLogger(__name__)

#: version of the analysis.json layout (docs/analysis.md)
SCHEMA_VERSION = 1
#: the scalar representation measures, in the order of the report
MEASURES = ("between_class_correlation", "within_class_correlation", "treves_rolls_sparseness", "active_fraction")


@dataclass
class RunData:
    """What an analysis needs from a results folder."""

    run_dir: Path
    cfg: Any  # bridge.experiments.ExperimentConfig
    method: str
    seeds: list[int]
    tasks: list
    x_test: np.ndarray
    y_test: np.ndarray


def _config_from_json(state: Any, path: Path):
    from ..experiments import ExperimentConfig

    if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
        raise AnalysisError(f"{path} is not the config.json of a sleep-replay run")
    d = dict(state["config"])
    tables = {k: d.pop(k) for k in ("train", "sleep", "method_options") if k in d}
    return ExperimentConfig.from_dict({"experiment": d, **tables}).resolved()


def open_run(run_dir: str | Path, method: str | None = None, seeds: Sequence[int] | None = None) -> RunData:
    """Read a results folder's config and data; check that the models are there.

    method: the sleeping method to analyse (default: the first ``X+src`` of the run).
    Raises :class:`~bridge.errors.MissingModelsError` when a saved model is missing.
    """
    from ..experiments import load_tasks, model_path
    from ..experiments.results_io import read_json

    run = Path(run_dir)
    if not run.is_dir():
        raise AnalysisError(f"run folder {run} does not exist")
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise AnalysisError(f"{run} has no config.json: not a results folder of sleep-replay run")
    cfg = _config_from_json(read_json(cfg_path), cfg_path)
    specs = cfg.method_specs()
    sleeping = [s.label for s in specs if s.sleep]
    if method is None:
        if not sleeping:
            raise AnalysisError(f"the run in {run} has no sleeping method (methods: {[s.label for s in specs]})")
        method = sleeping[0]
    elif method not in sleeping:
        raise AnalysisError(f"method {method!r} is not a sleeping method of the run; sleeping methods: {sleeping}")
    seeds = list(cfg.seeds if seeds is None else seeds)
    unknown = sorted(set(seeds) - set(cfg.seeds))
    if unknown:
        raise AnalysisError(f"seed(s) {unknown} are not in the run (seeds {cfg.seeds})")
    n_tasks = len(cfg.class_groups)
    for seed in seeds:
        for k in range(1, n_tasks + 1):
            for stage in ("before_sleep", "after_sleep"):
                p = model_path(run, method, seed, k, stage)
                if not p.is_file():
                    raise MissingModelsError(
                        f"{run} has no saved model {p.relative_to(run)}: rerun `sleep-replay run` with this "
                        "version (it saves each model before and after each sleep) to analyse the run")
                read_saved_model(p, cfg, seed)  # a damaged file fails here, before any work
    tasks, x_test, y_test = load_tasks(cfg)
    return RunData(run, cfg, method, seeds, tasks, x_test, y_test)


def read_saved_model(path: Path, cfg: Any, seed: int) -> torch.nn.Module:
    """The model saved at ``path`` by a run of ``cfg``, in eval mode. A file that is
    damaged, truncated, not a saved state dict or of another network raises
    :class:`~bridge.errors.AnalysisError` naming it."""
    from ..experiments import new_model

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, pickle/zip errors, EOFError... for a damaged file
        first = " ".join(str(exc).split()).split(". ")[0]  # torch's advice after it does not apply here
        raise AnalysisError(f"saved model {path} cannot be read: it is damaged or truncated ({type(exc).__name__}: "
                            f"{first}); rerun `sleep-replay run --fresh` to make it again") from exc
    model = new_model(cfg, seed, logits=False)
    if not isinstance(state, dict):
        raise AnalysisError(f"saved model {path} holds a {type(state).__name__}, not a model's state dict")
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise AnalysisError(f"saved model {path} does not fit the run's network {cfg.sizes}: "
                            f"{' '.join(str(exc).split())}") from None
    model.eval()
    return model


def load_model(data: RunData, seed: int, task: int, stage: str) -> torch.nn.Module:
    """The saved model of ``seed`` after task ``task`` (1-based) at ``stage``."""
    from ..experiments import model_path

    return read_saved_model(model_path(data.run_dir, data.method, seed, task, stage), data.cfg, seed)


def selective_count(top_n: int, width: int) -> int:
    """Selective units per task/class in a layer of ``width`` units: ``top_n``, at most
    half the layer (so random subsets of equal size have other units to come from)."""
    return max(1, min(int(top_n), width // 2))


def _hidden_layer_names(layer_names: Sequence[str], n_hidden: int) -> list[str]:
    """Names of the hidden layers: the sleep network's (``hidden1``, ... for an MLP; ``conv1``,
    ``pool1``, ... for a CNN), or ``hidden1``, ... if they do not match ``n_hidden``."""
    names = list(layer_names)[1:-1]
    return names if len(names) == n_hidden else [f"hidden{l}" for l in range(1, n_hidden + 1)]


def analyze_sleep(data: RunData, seed: int, k: int, *, top_n: int = 100,
                  record_spikes: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Analyse the sleep after task ``k`` (1-based) of ``seed``. Returns the JSON
    entry and what the figures need (correlation matrices, weight changes, the
    re-run sleep's result, with every spike if ``record_spikes``)."""
    from ..experiments.data import SLEEP_SEED, task_seed
    from ..convert import export_weights

    cfg, tasks = data.cfg, data.tasks
    spec = next(s for s in cfg.method_specs() if s.label == data.method)
    params = cfg.sleep_params_for(spec)
    before = load_model(data, seed, k, "before_sleep")
    after = load_model(data, seed, k, "after_sleep")
    seen = np.concatenate([t.x_train for t in tasks[:k]])
    steps = params.steps_for_task(k)
    outcome = sleep(before, seen, params, steps=steps, engine=cfg.engine, dtype=cfg.dtype,
                    seed=task_seed(seed, k - 1, SLEEP_SEED), record_spikes=record_spikes)
    w_saved = export_weights(after)
    reproduced = all(np.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(outcome.result.weights, w_saved))
    if not reproduced:
        logger.warning("seed %d task %d: the re-run sleep does not reproduce the saved slept weights", seed, k)
    groups = [list(g) for g in cfg.class_groups[:k]]
    seen_classes = sorted(c for g in groups for c in g)
    mask = np.isin(data.y_test, seen_classes)
    x, y = data.x_test[mask], data.y_test[mask]
    acts_before = hidden_layer_activations(before, x)
    acts_after = hidden_layer_activations(after, x)
    names = _hidden_layer_names(outcome.result.layer_names, len(acts_before))
    task_x = [data.x_test[np.isin(data.y_test, g)] for g in groups]
    units = [task_selective_units(a, y, groups, selective_count(top_n, a.shape[1])) for a in acts_before]
    drive = task_unit_drive(before, after, task_x, units)
    layers: dict[str, Any] = {}
    figs: dict[str, Any] = {"corr": {}, "classes": None}
    for l, name in enumerate(names):
        ab, aa = acts_before[l], acts_after[l]
        sb, sa = representation_summary(ab, y), representation_summary(aa, y)
        counts = np.asarray(outcome.result.totals[l + 1])
        n_units = selective_count(top_n, ab.shape[1])
        task_sets = {f"task{j + 1}": u for j, u in enumerate(units[l])}
        class_sets = {f"class{c}": u for c, u in class_selective_units(ab, y, n_units).items()}
        classes, rb = class_correlation_matrix(ab, y)
        _, ra = class_correlation_matrix(aa, y)
        figs["corr"][name] = (rb, ra)
        figs["classes"] = classes.tolist()
        layers[name] = {
            **{m: {"before": sb[m], "after": sa[m], "change": sa[m] - sb[m]} for m in MEASURES},
            "sleep_rate_hz": float(counts.sum() / (counts.size * max(steps, 1) * params.dt_s)),
            "reactivation": {"top_n": n_units, "tasks": selective_reactivation(counts, task_sets),
                             "classes": selective_reactivation(counts, class_sets)},
            "class_reactivation_r": {str(c): v for c, v in class_reactivation(ab, y, counts).items()},
            "input_drive": {"tasks": drive[l], **old_vs_newest(drive[l])},
        }
    w_before = export_weights(before)
    changes = weight_change(w_before, w_saved)
    figs["weight_change"] = changes
    # a CNN's shared kernels (C_out, C_in, kh, kw) before and after, named by the layer they feed
    figs["kernels"] = {outcome.result.layer_names[l + 1]: (np.asarray(b), np.asarray(a))
                       for l, (b, a) in enumerate(zip(w_before, w_saved)) if np.ndim(b) == 4}
    figs["result"] = outcome.result
    entry = {"task": k, "steps": int(steps), "classes_seen": seen_classes, "test_examples": int(mask.sum()),
             "reproduced": bool(reproduced), "layers": layers,
             "weight_change": {f"layer{l + 1}": c for l, c in enumerate(changes)}}
    return entry, figs


def summarize(per_seed: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Mean over seeds, per hidden layer, of the last sleep's measures (before,
    after), of the task-reactivation ratio, the largest Bonferroni-corrected p and
    how many task tests are significant, and of the input-drive changes."""
    last = [sleeps[-1] for sleeps in per_seed.values() if sleeps]
    if not last:
        return {}
    out: dict[str, Any] = {"sleep_after_task": last[0]["task"], "seeds": len(last), "layers": {}}

    def mean(values):
        vals = [v for v in values if v is not None]
        return float(np.mean(vals)) if vals else None

    for name in last[0]["layers"]:
        ls = [e["layers"][name] for e in last]
        entry = {m: {"before": mean(x[m]["before"] for x in ls), "after": mean(x[m]["after"] for x in ls)}
                 for m in MEASURES}
        tests = [t for x in ls for t in x["reactivation"]["tasks"].values()]
        entry["task_reactivation"] = {
            "selective_mean": mean(t["selective_mean"] for t in tests),
            "random_mean": mean(t["random_mean"] for t in tests),
            "significant_tests": sum(t["p_bonferroni"] is not None and t["p_bonferroni"] < 0.05 for t in tests),
            "tests": len(tests),
            "max_p_bonferroni": max((t["p_bonferroni"] for t in tests if t["p_bonferroni"] is not None),
                                    default=None),
            "min_p_bonferroni": min((t["p_bonferroni"] for t in tests if t["p_bonferroni"] is not None),
                                    default=None),
        }
        entry["input_drive"] = {"old_tasks_change": mean(x["input_drive"]["old_tasks_change"] for x in ls),
                                "newest_task_change": mean(x["input_drive"]["newest_task_change"] for x in ls)}
        out["layers"][name] = entry
    return out


def _top_n_used(per_seed: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Selective units per set in each hidden layer (``top_n``, capped at half the layer)."""
    first = next((sleeps[0] for sleeps in per_seed.values() if sleeps), None)
    return {} if first is None else {name: e["reactivation"]["top_n"] for name, e in first["layers"].items()}


def analyze_run(run_dir: str | Path, *, method: str | None = None, seeds: Sequence[int] | None = None,
                top_n: int = 100, figures_dir: str | Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Analyse every sleep of every seed of a run; returns the ``analysis.json`` dict.

    figures_dir: write the figures there (None: no figures).
    """
    if not isinstance(top_n, (int, np.integer)) or isinstance(top_n, bool) or top_n < 1:
        raise AnalysisError(f"top_n must be an integer >= 1, got {top_n!r}")
    t0 = time.perf_counter()
    data = open_run(run_dir, method, seeds)
    n_tasks = len(data.cfg.class_groups)
    per_seed: dict[str, list[dict[str, Any]]] = {}
    figs_last: dict[str, Any] = {}
    jobs = [(s, k) for s in data.seeds for k in range(1, n_tasks + 1)]
    for seed, k in tqdm(jobs, desc="analyse sleeps", unit="sleep", disable=not progress):
        last = k == n_tasks and seed == data.seeds[0] and figures_dir is not None
        entry, figs = analyze_sleep(data, seed, k, top_n=int(top_n), record_spikes=last)
        per_seed.setdefault(str(seed), []).append(entry)
        if last:
            figs_last = figs
    report = {
        "schema_version": SCHEMA_VERSION,
        "run_dir": str(data.run_dir),
        "method": data.method,
        "seeds": data.seeds,
        "settings": {"top_n": int(top_n), "top_n_used": _top_n_used(per_seed), "engine": data.cfg.engine,
                     "dtype": data.cfg.dtype,
                     "test": "one-sided Mann-Whitney U vs the other units of the layer, Bonferroni over the "
                             "sets of one (seed, sleep, layer, kind)",
                     "sparseness": "Treves-Rolls population sparseness 1 - (mean r)^2 / mean(r^2), mean over examples",
                     "correlation": "Pearson r between examples' activation vectors, averaged per class pair "
                                    "(self pairs excluded)"},
        "per_seed": per_seed,
        "summary": summarize(per_seed),
    }
    capped = {name: n for name, n in report["settings"]["top_n_used"].items() if n < int(top_n)}
    if capped:
        logger.info("top_n %d capped to %s selective units per set (at most half of a layer)", int(top_n), capped)
    if figures_dir is not None:
        from .figures import write_figures

        report["figures"] = write_figures(report, figs_last, figures_dir)
    report["wall_time_s"] = time.perf_counter() - t0
    return report


__all__ = ["MEASURES", "RunData", "selective_count", "SCHEMA_VERSION", "analyze_run", "analyze_sleep", "load_model", "open_run",
           "read_saved_model", "summarize"]
