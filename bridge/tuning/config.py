"""What a study searches: the :class:`TuneConfig` schema (a run config plus ``[tune]``).

A tuning config is an experiment config (``[experiment]``, ``[train]``,
``[sleep]``, ``[method_options.*]``: the run every trial simulates, with
``[sleep]`` as the starting point) plus a ``[tune]`` table and its
``[tune.space]`` (see :mod:`.space` and docs/tuning.md)::

    [tune]
    method = "src"             # the sleeping method whose sleep is tuned
    seeds = [0]                # tuning seeds: the objective is their mean
    trials = 100               # finished trials the study should hold
    sampler = "nsga2"          # nsga2 (genetic, as the paper), tpe, cmaes, random
    sampler_seed = 0
    validation_fraction = 0.1  # share of each task's training data held out
    storage = "results/tune/study.journal"   # or a database URL, e.g. sqlite:///tune.db

Every field is checked before any trial; errors name the field (``tune.<name>``).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..experiments.config import ExperimentConfig
from ..experiments.methods import parse_method
from ..params import read_config
from ..validation import check_choice, check_float, check_int, check_int_list, check_mapping, check_str
from .space import SearchSpace, parse_space, space_to_dict

#: Optuna samplers by config name: NSGA-II is the genetic algorithm (the paper's search)
SAMPLERS = ("nsga2", "tpe", "cmaes", "random")
#: how the validation split is drawn: one draw shared by every tuning seed, or one draw per tuning seed
#: (the objective then averages over splits of the training data as well as over seeds)
VALIDATION_SPLITS = ("shared", "per_seed")
#: keys of the [tune] table
TUNE_FIELDS = ("method", "seeds", "trials", "sampler", "sampler_seed", "population_size", "validation_fraction",
               "validation_seed", "validation_split", "storage", "study_name", "workers", "scheduler",
               "threads_per_worker", "max_spikes_per_step", "space")


@dataclass
class TuneConfig:
    """A validated tuning config (build it with :meth:`from_dict` / :meth:`from_file`)."""

    #: the run each trial simulates (``methods = [method]``, ``seeds`` = the tuning seeds)
    experiment: ExperimentConfig
    space: SearchSpace
    method: str
    seeds: list[int]
    trials: int = 50
    sampler: str = "nsga2"
    sampler_seed: int = 0
    #: NSGA-II generation size
    population_size: int = 20
    validation_fraction: float = 0.1
    validation_seed: int = 0
    #: one of :data:`VALIDATION_SPLITS`
    validation_split: str = "shared"
    #: a trial whose sleep fires more spikes per step than this (mean over a block of
    #: steps, every layer but the input) stops and is recorded as failed (snn.activity_limit)
    max_spikes_per_step: float | None = None
    #: journal file path or database URL; ``None``: ``<out>/study.journal``
    storage: str | None = None
    study_name: str = "sleep-tuning"
    #: Dask worker processes for trials (0: serial in this process)
    workers: int = 0
    scheduler: str | None = None
    #: threads of every trial, serial or on Dask (``None``: the driver's torch thread
    #: count, as ``sleep-replay run``; another count rounds differently)
    threads_per_worker: int | None = None
    #: the config's tables as read (provenance of the preset file)
    source: dict[str, Any] = field(default_factory=dict)
    source_path: str | None = None

    def fingerprint(self) -> str:
        """Hash of what makes a study's trial values comparable: the run, method,
        seeds, validation split, space and sampler (not trials, storage or workers)."""
        d = {"experiment": self.experiment.fingerprint(), "method": self.method, "seeds": self.seeds,
             "validation": [self.validation_fraction, self.validation_seed], "space": space_to_dict(self.space),
             "sampler": [self.sampler, self.sampler_seed, self.population_size]}
        if self.max_spikes_per_step is not None:  # (absent: the fingerprint of studies made before the field)
            d["max_spikes_per_step"] = self.max_spikes_per_step
        if self.validation_split != "shared":  # (the same)
            d["validation_split"] = self.validation_split
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> "TuneConfig":
        """A copy with ``changes`` (only the run-time fields: trials, storage,
        study_name, workers, scheduler, threads_per_worker, sampler)."""
        allowed = {"trials", "storage", "study_name", "workers", "scheduler", "threads_per_worker", "sampler"}
        bad = sorted(set(changes) - allowed)
        if bad:
            raise ConfigError(f"cannot override tune field(s) {bad}; allowed: {sorted(allowed)}")
        new = dataclasses.replace(self, **changes)
        _check_runtime(new)
        return new

    @classmethod
    def from_dict(cls, data: dict[str, Any], source_path: str | None = None) -> "TuneConfig":
        """Build and check a tuning config from its tables (raises
        :class:`~bridge.errors.ConfigError` naming the first bad field)."""
        data = check_mapping(data, "tuning config")
        source = copy.deepcopy(data)
        if "tune" not in data:
            raise ConfigError("a tuning config needs a [tune] table with a [tune.space] (see docs/tuning.md)")
        tune = check_mapping(data.pop("tune"), "[tune]")
        unknown = sorted(set(tune) - set(TUNE_FIELDS))
        if unknown:
            raise ConfigError(f"unknown tune field(s) {['tune.' + k for k in unknown]}; known: {list(TUNE_FIELDS)}")
        exp = ExperimentConfig.from_dict(data)
        method = _method(tune.get("method"), exp)
        seeds = check_int_list(tune.get("seeds", list(exp.seeds)), "tune.seeds", min=0, distinct=True)
        exp = dataclasses.replace(exp, methods=[method], seeds=seeds)
        exp.validate()
        kinds = exp.sleep_layer_kinds()
        space = parse_space(tune.get("space"), len(kinds), layer_kinds=kinds if exp.model != "mlp" else ())
        cfg = cls(experiment=exp, space=space, method=method, seeds=seeds,
                  **{k: tune[k] for k in TUNE_FIELDS if k in tune and k not in ("method", "seeds", "space")},
                  source=source, source_path=source_path)
        _check_runtime(cfg)
        check_float(cfg.validation_fraction, "tune.validation_fraction", min=0, max=1, min_open=True, max_open=True)
        check_int(cfg.validation_seed, "tune.validation_seed", min=0)
        check_choice(cfg.validation_split, "tune.validation_split", VALIDATION_SPLITS)
        check_int(cfg.sampler_seed, "tune.sampler_seed", min=0)
        check_int(cfg.population_size, "tune.population_size", min=2)
        if cfg.max_spikes_per_step is not None:
            cfg.max_spikes_per_step = check_float(cfg.max_spikes_per_step, "tune.max_spikes_per_step", min=0,
                                                  min_open=True)
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> "TuneConfig":
        return cls.from_dict(read_config(path), source_path=str(path))


def _method(value: Any, exp: ExperimentConfig) -> str:
    """The tuned method: ``tune.method``, else the only sleeping method of the run."""
    if value is None:
        sleeping = [s.label for s in exp.method_specs() if s.sleep]
        if len(sleeping) != 1:
            raise ConfigError(f"tune.method is needed: experiment.methods has {len(sleeping)} sleeping methods "
                              f"({sleeping}); name the one whose sleep is tuned, e.g. method = \"src\"")
        return sleeping[0]
    value = check_str(value, "tune.method")
    spec = parse_method(value, exp.method_options)
    if not spec.sleep:
        raise ConfigError(f"tune.method = {value!r} does not sleep; tune a method X+src (e.g. src, rehearsal+src)")
    return spec.label


def _check_runtime(cfg: TuneConfig) -> None:
    check_int(cfg.trials, "tune.trials", min=1)
    check_choice(cfg.sampler, "tune.sampler", SAMPLERS)
    check_int(cfg.workers, "tune.workers", min=0)
    if cfg.storage is not None:
        check_str(cfg.storage, "tune.storage")
    check_str(cfg.study_name, "tune.study_name")
    if cfg.scheduler is not None:
        check_str(cfg.scheduler, "tune.scheduler")
    if cfg.threads_per_worker is not None:
        check_int(cfg.threads_per_worker, "tune.threads_per_worker", min=1)
