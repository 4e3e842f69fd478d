"""The robustness protocol (Tadros, Krishnan, Ramyaa & Bazhenov, ICLR 2020).

One cell per seed, in order:

1. split the training set: ``validation_fraction`` of every class is held out
   (:func:`.common.split_training`); the rest (the *fit* split) trains;
2. train a fresh network on the clean fit split, all classes at once (``baseline``);
3. sleep it once per candidate of ``[select]`` on the fit split's inputs (SRC,
   ``steps_first`` steps) and keep the slept network whose validation score is
   best (``src``); the score averages the accuracy on the validation images under
   the conditions ``robustness.objective`` names (clean and/or every corruption
   level, each drawn once per seed);
4. fine-tune a copy of the baseline for ``finetune_epochs`` on the fit split, every
   image distorted by a condition drawn uniformly from clean and every corruption
   level (``finetune``: the usual defence, which, unlike sleep, sees the distortions);
5. only now read the test split: accuracy of the three networks on the clean test
   images and under every corruption level (the same distorted images for all three).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ann import Dataset
from ann.corruptions import CLEAN, Corruption, corrupt_mixed

from .common import (CORRUPT_TEST, CORRUPT_VALIDATION, FINETUNE, FINETUNE_DATA, TRAIN, accuracies, build_model,
                     cell_seed, fine_tuned, select_sleep, split_training, train)
from .config import ProtocolConfig, RobustnessOptions

#: the networks compared, in table order
METHODS = ("baseline", "src", "finetune")


def condition_sets(x: np.ndarray, conditions: list[Corruption], seed: int, purpose: int) -> dict[str, np.ndarray]:
    """``{"clean": x, label: distorted x, ...}``; condition i's noise from ``cell_seed(seed, purpose, i)``."""
    sets = {CLEAN: x}
    for i, cond in enumerate(conditions):
        sets[cond.label] = cond.apply(x, cell_seed(seed, purpose, i))
    return sets


def objective_value(acc: dict[str, float], objective: str) -> float:
    """The validation score of a network: mean accuracy over the conditions ``objective`` names."""
    if objective == "clean":
        return acc[CLEAN]
    names = [k for k in acc if objective == "all" or k != CLEAN]
    return float(np.mean([acc[k] for k in names]))


def run_robustness_cell(cfg: ProtocolConfig, seed: int, data: Dataset, *,
                        progress: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the cell of ``seed``; returns its record and the three networks (for saving)."""
    t0 = time.perf_counter()
    opts = cfg.options
    assert isinstance(opts, RobustnessOptions)
    conditions = opts.conditions()
    split = split_training(cfg, data, seed)
    val_sets = condition_sets(split.x_val, conditions, seed, CORRUPT_VALIDATION)

    baseline = train(cfg, build_model(cfg, seed), split.x_fit, split.y_fit, epochs=cfg.train.epochs,
                     seed=cell_seed(seed, TRAIN), progress=progress)

    def score(model: Any) -> tuple[float, dict[str, float]]:
        acc = accuracies(model, val_sets, split.y_val)
        return objective_value(acc, opts.objective), acc

    selection = select_sleep(cfg, baseline, split.x_fit, seed, score, progress=progress)
    x_mix, which = corrupt_mixed(split.x_fit, [None, *conditions], [cell_seed(seed, FINETUNE_DATA)])
    finetune = fine_tuned(cfg, baseline, x_mix, split.y_fit, epochs=opts.finetune_epochs,
                          seed=cell_seed(seed, FINETUNE), lr=opts.finetune_lr)
    del x_mix
    models = {"baseline": baseline, "src": selection.model, "finetune": finetune}
    validation = {m: accuracies(net, val_sets, split.y_val) for m, net in models.items()}
    del val_sets
    # the test split is read from here on only
    test_sets = condition_sets(data.x_test, conditions, seed, CORRUPT_TEST)
    acc = {m: accuracies(net, test_sets, data.y_test) for m, net in models.items()}
    record = {
        "seed": int(seed),
        "conditions": list(test_sets),
        "accuracy": acc,
        "validation_accuracy": validation,
        "selection": selection.record,
        "sleep_spikes_per_step": selection.record["candidates"][selection.index]["sleep_spikes_per_step"],
        "examples": {"fit": int(len(split.y_fit)), "validation": int(len(split.y_val)),
                     "test": int(len(data.y_test)),
                     "finetune_per_condition": np.bincount(which, minlength=len(conditions) + 1).tolist()},
        "wall_time_s": time.perf_counter() - t0,
    }
    return record, models


def summarize_robustness(cfg: ProtocolConfig, cells: dict[tuple[Any, int], dict[str, Any]]) -> dict[str, Any]:
    """Per method and condition: accuracy per seed, mean and SD (sample SD); per method
    the mean over the corrupted conditions per seed; per seed the chosen sleep."""
    from .reporting import mean_sd

    recs = [cells[key] for key in cfg.cell_keys]
    conditions = recs[0]["conditions"]
    out: dict[str, Any] = {"conditions": conditions, "methods": {}}
    for m in METHODS:
        entry: dict[str, Any] = {}
        for c in conditions:
            per_seed = {str(r["seed"]): r["accuracy"][m][c] for r in recs}
            entry[c] = {"per_seed": per_seed, **mean_sd(list(per_seed.values()))}
        corrupted = {str(r["seed"]): float(np.mean([r["accuracy"][m][c] for c in conditions if c != CLEAN]))
                     for r in recs}
        entry["corrupted_mean"] = {"per_seed": corrupted, **mean_sd(list(corrupted.values()))}
        out["methods"][m] = entry
    out["chosen_sleep"] = {str(r["seed"]): {"index": r["selection"]["chosen"],
                                            "changes": r["selection"]["candidates"][r["selection"]["chosen"]]["changes"]}
                           for r in recs}
    return out
