"""What every protocol cell does: split, build, train, sleep, choose the sleep on
validation, evaluate.

Seeds: every random draw of a cell comes from ``SeedSequence([seed, purpose, ...])``
(:func:`cell_seed`) with one purpose per use, so a cell is a pure function of
``(config, percent, seed)`` and gives the same numbers bit for bit in any process.
The validation split of seed ``s`` is drawn from ``[validation_seed, s]``; it holds
``validation_fraction`` of every class of the training set and is the only data a
sleep candidate is scored on (the test split is read only after the choice).
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from ann import Dataset, TrainConfig, accuracy, load_dataset, train_task
from ann.devices import resolve_device
from ann.sampling import class_holdout

from ..errors import ConfigError
from ..experiments.learners import new_model
from ..params import SleepParams
from ..sleep import sleep
from .config import ProtocolConfig

logger = logging.getLogger(__name__)

#: purposes of :func:`cell_seed`
TRAIN, SLEEP, FINETUNE, FINETUNE_DATA, CORRUPT_VALIDATION, CORRUPT_TEST, SUBSET = range(7)


def cell_seed(seed: int, purpose: int, *more: int) -> int:
    """The seed of one use (``purpose``) inside the cell of seed ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(purpose), *map(int, more)]).generate_state(1)[0])


def load_data(cfg: ProtocolConfig) -> Dataset:
    """The data set of ``cfg`` (fails before any work when it is missing or not 28 x 28 images)."""
    data = load_dataset(cfg.dataset, cfg.data_dir, cfg.split_seed)
    if data.n_features != cfg.sizes[0]:
        raise ConfigError(f"experiment.sizes[0] = {cfg.sizes[0]} but {cfg.dataset} has {data.n_features} features")
    classes = np.unique(data.y_train)
    if classes.min() < 0 or classes.max() >= cfg.sizes[-1]:
        raise ConfigError(f"experiment.sizes[-1] = {cfg.sizes[-1]} outputs cannot hold classes {classes.tolist()}")
    return data


@dataclass(frozen=True)
class Split:
    """The training split of a cell's seed: what trains (``fit``) and what scores sleeps (``validation``)."""

    x_fit: np.ndarray
    y_fit: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def split_training(cfg: ProtocolConfig, data: Dataset, seed: int) -> Split:
    """Hold out ``validation_fraction`` of every class of the training set (seed ``[validation_seed, seed]``)."""
    fit, val = class_holdout(data.y_train, cfg.validation_fraction, [cfg.validation_seed, seed])
    return Split(data.x_train[fit], data.y_train[fit], data.x_train[val], data.y_train[val])


def build_model(cfg: ProtocolConfig, seed: int) -> torch.nn.Module:
    """A fresh network of ``cfg`` with initial weights from ``seed``, on ``cfg.device``."""
    return new_model(cfg.wake_config(), seed, logits=False).to(resolve_device(cfg.device))


def epochs_for(n_examples: int, batch_size: int, epochs: int, min_updates: int = 0) -> int:
    """``epochs``, raised to ``ceil(min_updates / batches per epoch)`` when that is more."""
    batches = math.ceil(n_examples / batch_size)
    return max(int(epochs), math.ceil(min_updates / batches)) if min_updates else int(epochs)


def train(cfg: ProtocolConfig, model: torch.nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int,
          seed: int, lr: float | None = None, progress: bool = False) -> torch.nn.Module:
    """Train ``model`` in place with ``cfg.train`` (``epochs`` and ``lr`` replaced); returns it."""
    tc = TrainConfig(**{**dataclasses.asdict(cfg.train), "epochs": int(epochs),
                        "lr": cfg.train.lr if lr is None else lr})
    train_task(model, x, y, tc, seed=seed, progress=progress)
    return model


def fine_tuned(cfg: ProtocolConfig, model: torch.nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int,
               seed: int, lr: float | None) -> torch.nn.Module:
    """A copy of ``model`` trained ``epochs`` more epochs on ``(x, y)``; ``model`` is unchanged."""
    return train(cfg, copy.deepcopy(model), x, y, epochs=epochs, seed=seed, lr=lr)


def accuracies(model: torch.nn.Module, sets: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    """Accuracy (%) of ``model`` on every named input set (all with labels ``y``)."""
    return {name: accuracy(model, x, y) for name, x in sets.items()}


@dataclass
class Selection:
    """The outcome of :func:`select_sleep`: the chosen slept network and the record of every candidate."""

    model: torch.nn.Module
    index: int
    record: dict[str, Any]


def select_sleep(cfg: ProtocolConfig, model: torch.nn.Module, x_seen: np.ndarray, seed: int,
                 score: Callable[[torch.nn.Module], tuple[float, dict[str, Any]]], *,
                 progress: bool = False, desc: str = "sleep candidates") -> Selection:
    """Sleep ``model`` once per candidate of ``cfg`` (on the training inputs ``x_seen``,
    ``steps_first`` steps, the same input seed for every candidate) and keep the slept
    network whose ``score`` (a validation value; higher is better; the first best wins)
    is highest. ``model`` is unchanged."""
    rows, best = [], None
    candidates = cfg.sleep_candidates()
    for i, params in enumerate(tqdm(candidates, desc=desc, unit="sleep", leave=False,
                                    disable=not progress or len(candidates) == 1)):
        slept, spikes = sleep_once(cfg, model, x_seen, params, seed)
        value, details = score(slept)
        rows.append({"changes": copy.deepcopy(cfg.candidates[i]) if cfg.candidates else {},
                     "validation_value": value, "validation": details, "sleep_spikes_per_step": spikes})
        if best is None or value > best[0]:
            best = (value, i, slept)
    assert best is not None
    value, index, slept = best
    logger.info("sleep candidate %d of %d chosen (validation %.2f)", index, len(candidates), value)
    return Selection(slept, index, {"chosen": index, "chosen_params": candidates[index].to_dict(),
                                    "candidates": rows})


def sleep_once(cfg: ProtocolConfig, model: torch.nn.Module, x_seen: np.ndarray, params: SleepParams,
               seed: int) -> tuple[torch.nn.Module, list[float] | None]:
    """A slept copy of ``model`` (``params.steps_first`` steps) and the mean spikes per step of each layer."""
    outcome = sleep(model, x_seen, params, steps=params.steps_first, engine=cfg.engine, dtype=cfg.dtype,
                    seed=cell_seed(seed, SLEEP))
    counts = np.asarray(outcome.result.counts)
    return outcome.model, (counts.mean(0).tolist() if len(counts) else None)
