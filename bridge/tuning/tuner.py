"""``tune(config)``: search the sleep parameters of a run on a validation split.

Order of work: the config, the search space and the storage are checked (any
error names its field) before the data are loaded, and the data before any
trial. The test split is dropped as soon as the tasks are loaded: trials see
only :class:`~.objective.ValidationData`. Output folder ``out``::

    study.journal          Optuna journal (default storage; a rerun resumes it)
    preset.toml            best parameters with provenance (see .preset_file)
    tuning_summary.json    every trial (number, state, value per seed, parameters), importances
    tuning_history.png     best value over trials; parameter importances
"""
from __future__ import annotations

import datetime as _dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ann import Task
from snn.extras import require

from ..errors import ClusterError, ConfigError
from ..experiments.results_io import results_dir, write_json
from ..params import SleepParams
from .config import TuneConfig
from .objective import ValidationData, trial_value, validation_tasks
from .plots import importances, plot_search
from .preset_file import PRESET_FILE, write_preset_file
from .space import layer_values
from .study import (JOURNAL_FILE, done_trials, open_storage, open_study, requeue_interrupted, run_trials,
                    trial_errors)

optuna = require("optuna")
CategoricalDistribution = require("optuna.distributions").CategoricalDistribution
TrialState = require("optuna.trial").TrialState

logger = logging.getLogger(__name__)

SUMMARY_JSON = "tuning_summary.json"
DEFAULT_OUT = "results/tune"


@dataclass
class TuneResult:
    """What a search found. ``best_params`` / ``best_value`` are ``None`` when no
    trial completed; ``preset_path`` is then ``None`` too."""

    study: optuna.Study
    best_params: SleepParams | None
    best_value: float | None
    preset_path: Path | None
    new_trials: int
    done_trials: int
    out: Path
    wall_time_s: float


def as_tune_config(config: TuneConfig | str | Path | dict[str, Any]) -> TuneConfig:
    """``config`` as a :class:`TuneConfig`: itself, built from its tables, or read from a TOML/JSON file."""
    if isinstance(config, TuneConfig):
        return config
    if isinstance(config, dict):
        return TuneConfig.from_dict(config)
    return TuneConfig.from_file(config)


def training_tasks(data: Any) -> Sequence[Task]:
    """The tasks of ``data`` (a list of tasks, or ``load_tasks``' ``(tasks, x_test, y_test)``);
    the test arrays are dropped here."""
    tasks = data[0] if isinstance(data, tuple) else data
    if not all(isinstance(t, Task) for t in tasks):
        raise ConfigError("data must be a list of ann.Task or the (tasks, x_test, y_test) of load_tasks")
    return list(tasks)


def start_values(cfg: TuneConfig) -> dict[str, Any] | None:
    """The ``[sleep]`` table's values of the searched parameters, if all lie in the space."""
    base = cfg.experiment.sleep
    values = {}
    for p in cfg.space.params:
        v = layer_values(base, p.field, cfg.space.layer_kinds)[p.layer] if p.layer is not None else getattr(
            base, p.field)
        d = p.distribution
        inside = v in d.choices if isinstance(d, CategoricalDistribution) else d.low <= v <= d.high
        if not inside:
            return None
        values[p.name] = v
    return values


def tuning_data(cfg: TuneConfig, tasks: Sequence[Task]) -> ValidationData | dict[int, ValidationData]:
    """The validation data of ``cfg``'s trials: one split of ``tasks`` for every tuning seed
    (``validation_split = "shared"``), or ``{seed: its own split}`` (``"per_seed"``)."""
    if cfg.validation_split == "per_seed":
        return {s: validation_tasks(tasks, cfg.validation_fraction, cfg.validation_seed, split=s) for s in cfg.seeds}
    return validation_tasks(tasks, cfg.validation_fraction, cfg.validation_seed)


def worker_trial(exp: Any, method: str, changes: dict[str, Any], seeds: list[int],
                  data: ValidationData | dict[int, ValidationData],
                  threads: int, max_spikes_per_step: float | None = None) -> dict[str, Any] | BaseException:
    """One trial on a Dask worker. An error that fails the trial, not the search
    (:func:`.study.trial_errors`, e.g. a runaway sleep), is returned rather than
    raised, so the worker does not log it as a failed task with its traceback."""
    import snn

    from ..experiments.distributed import pinned_threads, where_am_i

    try:
        with pinned_threads(threads), snn.activity_limit(max_spikes_per_step):
            result = trial_value(exp, method, changes, seeds, data)
    except trial_errors() as exc:
        return exc
    return {**result, "ran_on": {**where_am_i(), "threads": threads}}


def check_workers(client: Any) -> int:
    """The number of workers of ``client``'s cluster; :class:`ClusterError` if it has none, or if a
    worker cannot import this package or runs another version of it."""
    from ..version import __version__

    def version() -> str:
        from bridge.version import __version__ as v

        return v

    workers = client.scheduler_info().get("workers", {})
    if not workers:
        raise ClusterError("the Dask cluster has no workers")
    try:
        found = client.run(version)
    except ModuleNotFoundError as exc:
        raise ClusterError(f"a Dask worker cannot import this package ({exc}); install sleep-replay on every "
                           "worker") from exc
    bad = {a: v for a, v in found.items() if v != __version__}
    if bad:
        raise ClusterError(f"Dask worker(s) run another package version than the driver ({__version__}): {bad}")
    return len(workers)


def _search(cfg: TuneConfig, study: optuna.Study, val: ValidationData | dict[int, ValidationData], n_new: int,
            progress: bool) -> None:
    from ..experiments.distributed import dask_client, default_cell_threads

    base = cfg.experiment.sleep
    dists = cfg.space.distributions()

    def changes(params: dict[str, Any]) -> dict[str, Any]:
        return cfg.space.sleep_changes(params, base)

    if not cfg.workers and cfg.scheduler is None:
        threads = cfg.threads_per_worker or default_cell_threads()
        run_trials(study, dists, n_new,
                   lambda params: worker_trial(cfg.experiment, cfg.method, changes(params), cfg.seeds, val, threads,
                                                 cfg.max_spikes_per_step),
                   progress=progress)
        return
    with dask_client(workers=cfg.workers or None, scheduler=cfg.scheduler,
                     threads_per_worker=cfg.threads_per_worker) as (client, threads):
        n_workers = check_workers(client)
        logger.info("tuning on %d Dask worker(s), %d thread(s) per trial", n_workers, threads)
        data_future = client.scatter(val, broadcast=True)

        def submit(params: dict[str, Any]) -> Any:
            return client.submit(worker_trial, cfg.experiment, cfg.method, changes(params), cfg.seeds, data_future,
                                 threads, cfg.max_spikes_per_step, pure=False)

        run_trials(study, dists, n_new, lambda p: {}, submit=submit, in_flight=n_workers, progress=progress)


def _trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    return [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
             "per_seed": t.user_attrs.get("per_seed"), "wall_s": t.user_attrs.get("wall_s"),
             "error": t.user_attrs.get("error")} for t in study.get_trials(deepcopy=False)]


def _provenance(cfg: TuneConfig, study: optuna.Study, storage: str, best: optuna.trial.FrozenTrial) -> dict[str, Any]:
    from ..version import __version__

    return {
        "package_version": __version__, "optuna_version": optuna.__version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "search_config": cfg.source_path or "(Python API)", "search_fingerprint": cfg.fingerprint(),
        "study_name": cfg.study_name, "storage": storage, "sampler": cfg.sampler, "sampler_seed": cfg.sampler_seed,
        "trials": len(done_trials(study)),
        "complete_trials": len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
        "best_trial": best.number, "validation_accuracy": best.value,
        "validation_per_seed": best.user_attrs.get("per_seed"), "method": cfg.method, "tuning_seeds": cfg.seeds,
        "validation_fraction": cfg.validation_fraction, "validation_seed": cfg.validation_seed,
        "objective": "final accuracy (%) over the validation examples of all tasks, mean over tuning_seeds",
        "search": cfg.source,
    }


def tune(config: TuneConfig | str | Path | dict[str, Any], out: str | Path = DEFAULT_OUT, *,
         trials: int | None = None, workers: int | None = None, scheduler: str | None = None,
         threads_per_worker: int | None = None, storage: str | None = None, study_name: str | None = None,
         data: Any = None, progress: bool = True,
         figures: bool = True) -> TuneResult:
    """Search the sleep parameters of ``config`` (a :class:`TuneConfig`, its tables,
    or a TOML/JSON file) and write the results to ``out``.

    Args:
        trials: finished trials the study should hold (a resumed study runs only the rest).
        workers / scheduler: run trials on a local Dask cluster of that many processes,
            or on the cluster at that address (default: serially in this process).
        threads_per_worker: torch/BLAS threads of every trial, serial or on Dask (default:
            this process's torch thread count, so Dask trials give the serial values).
        storage / study_name: override ``tune.storage`` (default ``out/study.journal``) / ``tune.study_name``.
        data: the run's tasks (``load_tasks(...)`` or a list of :class:`ann.Task`), else loaded
            here; only their training data are used.

    Raises :class:`~bridge.errors.ConfigError` naming the field before any trial.
    """
    t0 = time.perf_counter()
    cfg = as_tune_config(config)
    overrides = {k: v for k, v in dict(trials=trials, workers=workers, scheduler=scheduler, storage=storage,
                                       study_name=study_name, threads_per_worker=threads_per_worker).items()
                 if v is not None}
    cfg = cfg.replace(**overrides) if overrides else cfg
    out = results_dir(out)
    storage_text = cfg.storage or str(out / JOURNAL_FILE)
    study = open_study(cfg, open_storage(storage_text))
    requeue_interrupted(study)
    if data is None:
        from ..experiments.data import load_tasks

        data = load_tasks(cfg.experiment.resolved())
    val = tuning_data(cfg, training_tasks(data))
    del data  # the test split goes no further
    first = val if isinstance(val, ValidationData) else next(iter(val.values()))
    logger.info("validation split (train, validation) per task: %s (%s)", first.sizes, cfg.validation_split)
    if not study.trials:
        start = start_values(cfg)
        if start is not None:  # trial 0: the [sleep] table's own values
            study.enqueue_trial(start, user_attrs={"start": True})
    n_done = len(done_trials(study))
    n_new = max(0, cfg.trials - n_done)
    if n_done:
        logger.warning("study %s: %d trial(s) already done; running %d more", cfg.study_name, n_done, n_new)
    try:
        _search(cfg, study, val, n_new, progress)
    except KeyboardInterrupt:  # keep what the finished trials found, then stop
        _write_outputs(cfg, study, out, storage_text, figures)
        raise
    best_params, best_value, preset_path = _write_outputs(cfg, study, out, storage_text, figures)
    return TuneResult(study, best_params, best_value, preset_path, n_new, len(done_trials(study)), out,
                      time.perf_counter() - t0)


def _write_outputs(cfg: TuneConfig, study: optuna.Study, out: Path, storage_text: str,
                   figures: bool) -> tuple[SleepParams | None, float | None, Path | None]:
    """Write the preset (if a trial completed), the summary and the figure; returns
    the best parameters, value and preset path (``None`` without a complete trial)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best_params = best_value = preset_path = None
    if complete:
        best = study.best_trial
        best_value = float(best.value)
        best_params = cfg.space.sleep_params(best.params, cfg.experiment.sleep)
        preset_path = write_preset_file(out / PRESET_FILE, best_params, _provenance(cfg, study, storage_text, best))
    else:
        logger.warning("study %s has no complete trial; no preset written", cfg.study_name)
    start_trial = next((t for t in complete if t.user_attrs.get("start")), None)
    write_json(out / SUMMARY_JSON, {
        "study_name": cfg.study_name, "storage": storage_text, "search_fingerprint": cfg.fingerprint(),
        "best_value": best_value, "best_params": best_params.to_dict() if best_params else None,
        "start_value": start_trial.value if start_trial else None,
        "importances": importances(study) if complete else {}, "trials": _trial_rows(study)})
    if figures and complete:
        plot_search(study, out, start_trial.value if start_trial else None)
    return best_params, best_value, preset_path
