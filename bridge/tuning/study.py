"""The Optuna study of a search: storage, sampler, and the ask-and-tell loop.

Storage: a journal file (Optuna's ``JournalStorage`` with a file backend) by
default, so an interrupted search resumes from its stored trials; a database
URL (``sqlite:///...``, ``postgresql://...``) for drivers on many machines.
A study records the fingerprint of its search config; resuming it with another
search raises :class:`~bridge.errors.ConfigError` (its values would not be
comparable).

Trials are asked for in this process (the sampler runs here) and evaluated
serially or on Dask workers (:func:`run_trials`): the trial's sleep changes
and the validation data go to a worker, a value comes back and is told to
the study. Each trial records the driver's host and process id; a trial left
running by a driver that no longer exists on this host (an interrupted search)
is marked failed (``interrupted``) and its parameters are asked again first.

Reproducibility: the sampler is seeded from ``(sampler_seed, trials already
stored)``, so a new study with the same seed asks the same parameters, and a
resumed one does not repeat the first ones. With several workers, the order in
which values are told depends on timing, so model-based samplers (TPE, CMA-ES,
NSGA-II after its first generation) may differ between parallel runs.
"""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from snn.extras import require

from ..errors import ConfigError
from .config import TuneConfig

optuna = require("optuna")
TrialState = require("optuna.trial").TrialState

logger = logging.getLogger(__name__)

#: default journal file inside the output folder
JOURNAL_FILE = "study.journal"
#: study user attribute holding the search config's fingerprint
FINGERPRINT_ATTR = "search_fingerprint"
#: study user attribute: numbers of the trials a vanished driver left running
INTERRUPTED_ATTR = "interrupted"
#: trial states that count as done
DONE_STATES = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def open_storage(storage: str, name: str = "tune.storage") -> optuna.storages.BaseStorage:
    """Optuna storage for ``storage``: a database URL (``dialect://...``) or a
    journal file path (folders are created). Raises :class:`ConfigError` naming
    ``name`` if it cannot be opened."""
    if "://" in storage:
        try:
            return optuna.storages.RDBStorage(storage)
        except Exception as exc:  # SQLAlchemy raises many types (driver missing, bad URL, no server)
            raise ConfigError(f"{name}: cannot open the database {storage!r}: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    path = Path(storage)
    if path.is_dir():
        raise ConfigError(f"{name}: {storage!r} is a directory; give a journal file path or a database URL")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        return optuna.storages.JournalStorage(backend)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot open the journal file {storage!r}: {exc.strerror or exc}") from exc


def make_sampler(cfg: TuneConfig, n_stored: int) -> optuna.samplers.BaseSampler:
    """The sampler of ``cfg`` seeded from ``(cfg.sampler_seed, n_stored)``."""
    seed = int(np.random.SeedSequence([cfg.sampler_seed, n_stored]).generate_state(1)[0])
    if cfg.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=cfg.population_size, seed=seed)
    if cfg.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if cfg.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)


def open_study(cfg: TuneConfig, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Create or load the study ``cfg.study_name`` in ``storage`` (maximising);
    a stored study of another search config raises :class:`ConfigError`."""
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    n_stored = existing[cfg.study_name].n_trials if cfg.study_name in existing else 0
    study = optuna.create_study(storage=storage, study_name=cfg.study_name, direction="maximize",
                                sampler=make_sampler(cfg, n_stored), load_if_exists=True)
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    if stored is None:
        study.set_user_attr(FINGERPRINT_ATTR, cfg.fingerprint())
    elif stored != cfg.fingerprint():
        raise ConfigError(f"tune.study_name: study {cfg.study_name!r} in this storage holds trials of another "
                          f"search config (fingerprint {stored}, this config {cfg.fingerprint()}); use another "
                          "tune.study_name or tune.storage")
    return study


def done_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Finished trials (complete, failed or pruned), not those a vanished driver left running."""
    interrupted = set(study.user_attrs.get(INTERRUPTED_ATTR, []))
    return [t for t in study.get_trials(deepcopy=False, states=DONE_STATES) if t.number not in interrupted]


def _driver() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_interrupted(study: optuna.Study, number: int, params: dict[str, Any]) -> None:
    """Fail running trial ``number`` as ``interrupted`` (it does not count as done)
    and ask its ``params`` again first."""
    study.set_user_attr(INTERRUPTED_ATTR, [*study.user_attrs.get(INTERRUPTED_ATTR, []), number])
    study.tell(number, state=TrialState.FAIL)
    study.enqueue_trial(params, user_attrs={"retry_of": number})


def requeue_interrupted(study: optuna.Study) -> int:
    """Mark trials left running by a driver that no longer runs on this host as
    failed (``interrupted``) and ask their parameters again first; returns how many."""
    here = socket.gethostname()
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        driver = t.user_attrs.get("driver") or {}
        if driver.get("host") != here or driver.get("pid") == os.getpid() or _alive(int(driver.get("pid", 0))):
            continue
        mark_interrupted(study, t.number, t.params)
        n += 1
    if n:
        logger.warning("study %s: %d trial(s) of an interrupted search are asked again", study.study_name, n)
    return n


def _best_text(study: optuna.Study) -> str:
    try:
        return f"{study.best_value:.2f}"
    except ValueError:  # no complete trial yet
        return "n/a"


Evaluate = Callable[[dict[str, Any]], dict[str, Any]]


def _tell(study: optuna.Study, trial: optuna.Trial, result: dict[str, Any] | BaseException) -> None:
    if isinstance(result, BaseException):
        trial.set_user_attr("error", f"{type(result).__name__}: {result}")
        logger.warning("trial %d failed: %s: %s", trial.number, type(result).__name__, result)
        study.tell(trial, state=TrialState.FAIL)
        return
    for key in ("per_seed", "wall_s", "ran_on"):
        if key in result:
            trial.set_user_attr(key, result[key])
    study.tell(trial, result["value"])


def trial_errors() -> tuple[type[BaseException], ...]:
    """Errors that fail a trial, not the search (training diverged under extreme parameters)."""
    from ann.errors import TrainingDivergedError
    from snn.errors import ActivityLimitError

    return (ArithmeticError, TrainingDivergedError, ActivityLimitError)


def run_trials(study: optuna.Study, distributions: dict[str, Any], n_new: int, evaluate: Evaluate, *,
               submit: Callable[[dict[str, Any]], Any] | None = None, in_flight: int = 1,
               progress: bool = True) -> None:
    """Ask ``n_new`` trials and tell their values.

    ``evaluate(params) -> {"value": ...}`` runs a trial in this process; with
    ``submit(params) -> future`` (a Dask future) up to ``in_flight`` trials run at
    once and are told as they finish. One progress bar, with the best value so far.
    """
    errors = trial_errors()
    bar = tqdm(total=n_new, desc=f"tuning {study.study_name}", unit="trial", disable=not progress)

    def ask() -> optuna.Trial:
        trial = study.ask(distributions)
        trial.set_user_attr("driver", _driver())
        return trial

    def finished(trial: optuna.Trial, result: dict[str, Any] | BaseException) -> None:
        _tell(study, trial, result)
        bar.set_postfix_str(f"best {_best_text(study)}")
        bar.update(1)

    running: dict[Any, optuna.Trial] = {}  # future (or trial number when serial) -> trial
    try:
        if submit is None:
            for _ in range(n_new):
                trial = ask()
                running[trial.number] = trial
                try:
                    result: dict[str, Any] | BaseException = evaluate(trial.params)
                except errors as exc:
                    result = exc
                finished(running.pop(trial.number), result)
            return
        from ..experiments.distributed import DASK_RUNS

        wait = require("distributed", what=DASK_RUNS).wait

        asked = 0
        while asked < n_new or running:
            while asked < n_new and len(running) < in_flight:
                trial = ask()
                running[submit(trial.params)] = trial
                asked += 1
            done, _ = wait(list(running), return_when="FIRST_COMPLETED")
            for fut in done:
                trial = running.pop(fut)
                try:
                    result = fut.result()  # a trial error comes back as a returned exception (worker_trial)
                except errors as exc:
                    result = exc
                finished(trial, result)
    except KeyboardInterrupt:  # the running trials are asked again when the search resumes
        for trial in running.values():
            mark_interrupted(study, trial.number, trial.params)
        raise
    finally:
        bar.close()
