"""Re-score a finished search's best trials on other tuning seeds or another validation split.

The best of many trials overstates what its parameters do on new data: it was picked for
the noise of its tuning seeds and split too (the winner's curse; docs/tuning.md, "A
validation gain may not reach the test set"). Before a test run, :func:`rescore` runs the
study's start trial (trial 0, the ``[sleep]`` table's values) and its ``top`` best complete
trials again with other ``seeds`` and/or another ``validation_fraction``,
``validation_seed`` or ``validation_split``, still on training data only, so the test
split is never read, serially or on Dask workers as :func:`~.tuner.tune` runs its trials
(the same threads per trial and activity limit, so the same values). The study is only
read, never changed. Output ``out/rescore_<key>.json``
(``key``: a hash of the re-scoring settings, so other settings never overwrite it)::

    {"study_name", "search_fingerprint", "settings": {...}, "rows": [
        {"number", "start", "study_value", "study_per_seed", "value", "per_seed", "error", "params"}, ...]}

``value`` and ``per_seed`` are ``None`` for a trial that failed (``error`` says why).
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from snn.extras import require

from ..errors import ConfigError
from ..experiments.results_io import results_dir, write_json
from ..validation import check_int
from .config import TuneConfig
from .objective import ValidationData
from .study import FINGERPRINT_ATTR, JOURNAL_FILE, open_storage
from .tuner import DEFAULT_OUT, as_tune_config, check_workers, training_tasks, tuning_data, worker_trial

optuna = require("optuna")
TrialState = require("optuna.trial").TrialState

logger = logging.getLogger(__name__)

@dataclass
class RescoreResult:
    """``rows``: the start trial first (if the study has one), then the best trials by
    study value; each row has the study's and the new value (mean over the new seeds)."""

    rows: list[dict[str, Any]]
    settings: dict[str, Any]
    path: Path


def _rescore_config(cfg: TuneConfig, changes: dict[str, Any]) -> TuneConfig:
    """``cfg`` with other ``[tune]`` validation fields, checked as a config file's are."""
    if not cfg.source:
        raise ConfigError("rescore needs the search config's tables (a TOML/JSON file or a dict), not a "
                          "TuneConfig built in code")
    data = copy.deepcopy(cfg.source)
    data["tune"].update(changes)
    return TuneConfig.from_dict(data, source_path=cfg.source_path)


def _load_study(cfg: TuneConfig, storage_text: str) -> optuna.Study:
    """The stored study of ``cfg``, read only; a missing one or one of another search
    config raises :class:`ConfigError`."""
    if "://" not in storage_text and not Path(storage_text).is_file():
        raise ConfigError(f"tune.storage: no study journal at {storage_text!r}; run `sleep-replay tune` with "
                          "this config and --out first")
    storage = open_storage(storage_text)
    try:
        study = optuna.load_study(study_name=cfg.study_name, storage=storage)
    except KeyError as exc:
        raise ConfigError(f"tune.study_name: no study {cfg.study_name!r} in {storage_text!r}") from exc
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    if stored != cfg.fingerprint():
        raise ConfigError(f"tune.study_name: study {cfg.study_name!r} holds trials of another search config "
                          f"(fingerprint {stored}, this config {cfg.fingerprint()})")
    return study


def _chosen_trials(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ConfigError(f"tune.study_name: study {study.study_name!r} has no complete trial to re-score")
    start = [t for t in complete if t.user_attrs.get("start")]
    best = sorted((t for t in complete if not t.user_attrs.get("start")), key=lambda t: (-t.value, t.number))
    return start + best[:top]


def _run_trials(cfg: TuneConfig, chosen: list[optuna.trial.FrozenTrial],
                val: ValidationData | dict[int, ValidationData], workers: int | None, scheduler: str | None,
                threads_per_worker: int | None, progress: bool) -> list[dict[str, Any] | BaseException]:
    """The result of every chosen trial, in order (an exception for a failed trial)."""
    from ..experiments.distributed import DASK_RUNS, dask_client, default_cell_threads

    args = [(cfg.experiment, cfg.method, cfg.space.sleep_changes(t.params, cfg.experiment.sleep), cfg.seeds)
            for t in chosen]
    bar = tqdm(total=len(chosen), desc="re-scoring trials", disable=not progress)
    if not workers and scheduler is None:
        threads = threads_per_worker or default_cell_threads()
        results = []
        for a in args:
            results.append(worker_trial(*a, val, threads, cfg.max_spikes_per_step))
            bar.update()
        bar.close()
        return results
    as_completed = require("distributed", what=DASK_RUNS).as_completed

    with dask_client(workers=workers, scheduler=scheduler, threads_per_worker=threads_per_worker) as (client, threads):
        check_workers(client)
        data = client.scatter(val, broadcast=True)
        futures = [client.submit(worker_trial, *a, data, threads, cfg.max_spikes_per_step, pure=False) for a in args]
        for _ in as_completed(futures):
            bar.update()
        bar.close()
        return client.gather(futures)


def rescore(config: TuneConfig | str | Path | dict[str, Any], out: str | Path = DEFAULT_OUT, *, top: int = 5,
            seeds: Sequence[int] | None = None, validation_fraction: float | None = None,
            validation_seed: int | None = None, validation_split: str | None = None,
            storage: str | None = None, study_name: str | None = None, workers: int | None = None,
            scheduler: str | None = None, threads_per_worker: int | None = None, data: Any = None,
            progress: bool = True) -> RescoreResult:
    """Run the start trial and the ``top`` best trials of the study that ``tune(config, out)``
    stored, with the given tuning ``seeds`` / validation fields instead of the config's
    (``None``: the config's own; the same settings give the study's values back).

    Args:
        storage / study_name: as for :func:`~.tuner.tune` (default ``out/study.journal``).
        workers / scheduler / threads_per_worker: as for ``tune`` (default: serially in this
            process, with its torch thread count).
        data: the run's tasks, as for ``tune``; only their training data are used.

    A trial that fails (e.g. a runaway sleep, ``tune.max_spikes_per_step``) gets
    ``value`` ``None`` and its ``error``. Raises :class:`ConfigError` naming the field
    (``top``, ``tune.seeds``, ``tune.validation_fraction``, ``tune.storage``, ...)
    before any trial runs.
    """
    cfg = as_tune_config(config)
    top = check_int(top, "top", min=1, error=ConfigError)
    changes = {k: v for k, v in dict(seeds=None if seeds is None else list(seeds),
                                     validation_fraction=validation_fraction, validation_seed=validation_seed,
                                     validation_split=validation_split).items() if v is not None}
    overrides = {k: v for k, v in dict(storage=storage, study_name=study_name, workers=workers, scheduler=scheduler,
                                       threads_per_worker=threads_per_worker).items() if v is not None}
    cfg = cfg.replace(**overrides) if overrides else cfg
    new = _rescore_config(cfg, {**changes, **overrides})
    out = results_dir(out)
    storage_text = cfg.storage or str(out / JOURNAL_FILE)
    chosen = _chosen_trials(_load_study(cfg, storage_text), top)
    settings = {"seeds": new.seeds, "validation_fraction": new.validation_fraction,
                "validation_seed": new.validation_seed, "validation_split": new.validation_split}
    if data is None:
        from ..experiments.data import load_tasks

        data = load_tasks(new.experiment.resolved())
    val = tuning_data(new, training_tasks(data))
    del data  # the test split goes no further
    results = _run_trials(new, chosen, val, new.workers, new.scheduler, new.threads_per_worker, progress)
    rows = []
    for t, r in zip(chosen, results):
        failed = isinstance(r, BaseException)
        rows.append({"number": t.number, "start": bool(t.user_attrs.get("start")), "study_value": t.value,
                     "study_per_seed": t.user_attrs.get("per_seed"), "value": None if failed else r["value"],
                     "per_seed": None if failed else r["per_seed"],
                     "error": f"{type(r).__name__}: {r}" if failed else None, "params": t.params})
        logger.info("trial %d: study %.2f, re-scored %s", t.number, t.value, rows[-1]["value"])
    key = hashlib.sha256(json.dumps({**settings, "top": top}, sort_keys=True).encode()).hexdigest()[:8]
    path = write_json(out / f"rescore_{key}.json", {"study_name": cfg.study_name,
                                                    "search_fingerprint": cfg.fingerprint(),
                                                    "settings": {**settings, "top": top}, "rows": rows})
    return RescoreResult(rows, settings, path)
