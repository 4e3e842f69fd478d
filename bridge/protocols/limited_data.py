"""The limited-data protocol (A. Bazhenov, Dewasurendra, Krishnan & Delanois 2024,
arXiv 2402.10956, "Sleep-like unsupervised replay improves performance when data
are limited or unbalanced").

One cell per (percentage, seed), in order:

1. hold out ``validation_fraction`` of every class of the training set as the
   validation split (:func:`.common.split_training`, the same for every percentage of a seed);
2. draw ``percent`` % of every class of the whole training set from the rest
   (:func:`ann.sampling.class_fraction`: at least one example per class; for one seed
   a smaller percentage is a subset of a larger one);
3. train a fresh network on these examples (``before_sleep``);
4. sleep it once per candidate of ``[select]`` on the same examples and keep the one
   whose validation accuracy is best, after the sleep or after sleep + fine-tuning
   (``limited_data.objective``) (``after_sleep``);
5. fine-tune the slept network on the same examples (``after_sleep_finetune``) and,
   as a control with the same update budget but no sleep, the unslept one
   (``finetune_only``; same data order);
6. only now read the test split: accuracy of the four networks.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ann import Dataset, accuracy
from ann.sampling import class_fraction

from .common import (FINETUNE, SUBSET, TRAIN, build_model, cell_seed, epochs_for, fine_tuned, select_sleep,
                     split_training, train)
from .config import LimitedDataOptions, ProtocolConfig

#: the accuracies a cell reports, in table order
STAGES = ("before_sleep", "after_sleep", "after_sleep_finetune", "finetune_only")


def run_limited_data_cell(cfg: ProtocolConfig, percent: float, seed: int, data: Dataset, *,
                          progress: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the cell of (``percent``, ``seed``); returns its record and its networks (for saving)."""
    t0 = time.perf_counter()
    opts = cfg.options
    assert isinstance(opts, LimitedDataOptions)
    split = split_training(cfg, data, seed)
    totals = {int(c): int(n) for c, n in zip(*np.unique(data.y_train, return_counts=True))}
    idx = class_fraction(split.y_fit, percent, [cell_seed(seed, SUBSET)], class_totals=totals)
    x, y = split.x_fit[idx], split.y_fit[idx]
    batch = cfg.train.batch_size
    epochs = epochs_for(len(y), batch, cfg.train.epochs, opts.min_updates)
    ft_epochs = epochs_for(len(y), batch, opts.finetune_epochs, opts.finetune_min_updates)

    model = train(cfg, build_model(cfg, seed), x, y, epochs=epochs, seed=cell_seed(seed, TRAIN), progress=progress)

    def finetune(net: Any) -> Any:
        return fine_tuned(cfg, net, x, y, epochs=ft_epochs, seed=cell_seed(seed, FINETUNE), lr=opts.finetune_lr)

    def score(slept: Any) -> tuple[float, dict[str, float]]:
        acc = {"after_sleep": accuracy(slept, split.x_val, split.y_val)}
        if opts.objective == "after_sleep_finetune":
            acc["after_sleep_finetune"] = accuracy(finetune(slept), split.x_val, split.y_val)
        return acc[opts.objective], acc

    selection = select_sleep(cfg, model, x, seed, score, progress=progress)
    models = {"before_sleep": model, "after_sleep": selection.model,
              "after_sleep_finetune": finetune(selection.model), "finetune_only": finetune(model)}
    validation = {s: accuracy(net, split.x_val, split.y_val) for s, net in models.items()}
    # the test split is read from here on only
    acc = {s: accuracy(net, data.x_test, data.y_test) for s, net in models.items()}
    record = {
        "percent": float(percent),
        "seed": int(seed),
        "train_examples": int(len(y)),
        "train_per_class": np.bincount(y, minlength=cfg.sizes[-1]).tolist(),
        "epochs": int(epochs),
        "finetune_epochs": int(ft_epochs),
        "accuracy": acc,
        "validation_accuracy": validation,
        "selection": selection.record,
        "sleep_spikes_per_step": selection.record["candidates"][selection.index]["sleep_spikes_per_step"],
        "examples": {"validation": int(len(split.y_val)), "test": int(len(data.y_test))},
        "wall_time_s": time.perf_counter() - t0,
    }
    return record, models


def summarize_limited_data(cfg: ProtocolConfig, cells: dict[tuple[Any, int], dict[str, Any]]) -> dict[str, Any]:
    """Per percentage and stage: test accuracy per seed, mean and SD; the gains of sleep
    (after sleep - before) and of sleep + fine-tuning over the fine-tuning control."""
    from .reporting import mean_sd

    opts = cfg.options
    assert isinstance(opts, LimitedDataOptions)
    rows = []
    for p in opts.percents:
        recs = [cells[(float(p), s)] for s in cfg.seeds]
        row: dict[str, Any] = {"percent": float(p), "train_examples": {str(r["seed"]): r["train_examples"] for r in recs},
                               "epochs": {str(r["seed"]): r["epochs"] for r in recs}}
        for stage in STAGES:
            per_seed = {str(r["seed"]): r["accuracy"][stage] for r in recs}
            row[stage] = {"per_seed": per_seed, **mean_sd(list(per_seed.values()))}
        for name, a, b in (("sleep_gain", "after_sleep", "before_sleep"),
                           ("sleep_finetune_gain", "after_sleep_finetune", "finetune_only")):
            per_seed = {str(r["seed"]): r["accuracy"][a] - r["accuracy"][b] for r in recs}
            row[name] = {"per_seed": per_seed, **mean_sd(list(per_seed.values()))}
        row["chosen_sleep"] = {str(r["seed"]): r["selection"]["candidates"][r["selection"]["chosen"]]["changes"]
                               for r in recs}
        rows.append(row)
    return {"stages": list(STAGES), "rows": rows}
