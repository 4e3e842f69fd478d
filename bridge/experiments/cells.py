"""A cell of the experiment grid: one (method, seed).

:func:`run_cell` is a pure function of ``(config, method, seed)`` -> a result
dict (it reads the data and, if asked, writes model files, but no other file),
so cells can run anywhere, in any order, e.g. on Dask workers. The process
that receives a finished cell writes it with :func:`finish_cell` (atomically);
:func:`load_finished_cell` reuses a cell file only if it was made by the same
config (the fingerprint written into it).

Layout in a results folder::

    cells/<method>/seed_<s>.json                      one finished cell
    models/<method>/seed<s>/task<t>_before_sleep.pt   state_dict before the sleep after task t (1-based)
    models/<method>/seed<s>/task<t>_after_sleep.pt    state_dict after that sleep
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ann import Task
from ann.devices import device_name, model_device

from .config import ExperimentConfig
from .data import load_tasks
from .first_task_cache import FirstTaskCache
from .learners import build_learner
from .loop import SleepPlugin, model_file, run_cell_loop
from .methods import MethodSpec, parse_method
from .results_io import read_json, write_json

logger = logging.getLogger(__name__)

CELLS_DIR = "cells"
MODELS_DIR = "models"

TaskData = tuple[list[Task], np.ndarray, np.ndarray]


def _spec(cfg: ExperimentConfig | None, method: str | MethodSpec) -> MethodSpec:
    if isinstance(method, MethodSpec):
        return method
    return parse_method(method, cfg.method_options if cfg is not None else None)


def cell_path(out_dir: str | Path, method: str | MethodSpec, seed: int, cfg: ExperimentConfig | None = None) -> Path:
    """``out_dir/cells/<method>/seed_<seed>.json``."""
    spec = _spec(cfg, method)
    return Path(out_dir) / CELLS_DIR / spec.slug / f"seed_{int(seed)}.json"


def cell_model_dir(out_dir: str | Path, method: str | MethodSpec, seed: int,
                   cfg: ExperimentConfig | None = None) -> Path:
    """``out_dir/models/<method>/seed<seed>``: the folder of a cell's saved models."""
    spec = _spec(cfg, method)
    return Path(out_dir) / MODELS_DIR / spec.slug / f"seed{int(seed)}"


def model_path(out_dir: str | Path, method: str | MethodSpec, seed: int, task: int, stage: str) -> Path:
    """Path of the state_dict of ``method``/``seed`` after task ``task`` (1-based), at
    ``stage`` ``"before_sleep"`` or ``"after_sleep"`` (load with ``torch.load``)."""
    return model_file(cell_model_dir(out_dir, method, seed), task, stage)


def run_cell(cfg: ExperimentConfig, method: str | MethodSpec, seed: int, *, data: TaskData | None = None,
             model_dir: str | Path | None = None, progress: bool = False,
             first_task_cache: FirstTaskCache | None = None) -> dict[str, Any]:
    """Run one (method, seed) cell of ``cfg`` and return its record (see
    :func:`bridge.experiments.loop.run_cell_loop`), headed by ``method``, ``seed``,
    ``package_version`` and ``config_fingerprint``. ``cfg`` is not changed.

    Args:
        data: ``load_tasks(cfg)`` if already loaded (else loaded here).
        model_dir: where a sleeping method saves its models (``None``: not saved).
        first_task_cache: start from the learner it keeps for this cell's wake side
            after the first experience, or keep it there (runs that differ only in
            sleep, e.g. a parameter search); the record is the same either way.
    """
    from ..version import __version__

    cfg = cfg.resolved()
    spec = _spec(cfg, method)
    tasks, x_test, y_test = data if data is not None else load_tasks(cfg)
    learner = build_learner(cfg, spec, seed)
    cached, after_learn = None, None
    if first_task_cache is not None:
        first = learner.experiences(tasks)[0]
        key = first_task_cache.key(cfg, spec, seed, first.x, first.y)
        cached = first_task_cache.get(key)
        if cached is not None:
            learner = cached
        else:
            def after_learn(k: int, trained: Any) -> None:
                if k == 0:
                    first_task_cache.put(key, trained)
    plugins = []
    if spec.sleep:
        plugins.append(SleepPlugin(cfg.sleep_params_for(spec), engine=cfg.engine, dtype=cfg.dtype,
                                   model_dir=model_dir, image=cfg.sleep_image))
    rec = run_cell_loop(learner, tasks, x_test, y_test, seed, cfg.epochs_for, plugins,
                        desc=f"{spec.label} seed {seed}", progress=progress, weighting=cfg.accuracy_weighting,
                        first_learned=cached is not None, after_learn=after_learn)
    return {"method": spec.label, "seed": seed, "package_version": __version__,
            "device": device_name(model_device(learner.model)),
            "config_fingerprint": cfg.fingerprint(), **rec}


def finish_cell(out_dir: str | Path, cfg: ExperimentConfig, method: str | MethodSpec, seed: int,
                record: dict[str, Any]) -> Path:
    """Write a finished cell's ``record`` to its file (atomically); the record must
    carry ``cfg``'s fingerprint."""
    if record.get("config_fingerprint") != cfg.resolved().fingerprint():
        raise ValueError(f"cell {record.get('method')!r} seed {record.get('seed')!r} was made by another config")
    return write_json(cell_path(out_dir, _spec(cfg, method), seed), record)


def load_finished_cell(out_dir: str | Path, cfg: ExperimentConfig, method: str | MethodSpec,
                       seed: int) -> dict[str, Any] | None:
    """The record of a finished cell of this config, or ``None`` if there is none.
    A cell file of another config (other fingerprint, or none), or an unreadable
    one, is never reused (a warning names it)."""
    spec = _spec(cfg, method)
    path = cell_path(out_dir, spec, seed)
    if not path.is_file():
        return None
    rec = read_json(path)
    fingerprint = cfg.resolved().fingerprint()
    if not isinstance(rec, dict):
        logger.warning("cell file %s is not valid JSON: recomputing it", path)
        return None
    if rec.get("config_fingerprint") != fingerprint or rec.get("method") != spec.label or rec.get("seed") != seed:
        logger.warning("cell file %s was made by another config (fingerprint %s, this run %s): recomputing it",
                       path, rec.get("config_fingerprint"), fingerprint)
        return None
    return rec
