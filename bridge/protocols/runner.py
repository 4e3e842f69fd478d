"""The cells of a protocol run and its results folder.

``run_protocol(cfg, out)`` works as ``sleep-replay run`` does for the class-incremental
harness (docs/results_folder.md): the folder is locked for the whole run; finished
cells of the same config (fingerprint in each cell file) are reused; the others run
one after another (or on Dask workers, the same numbers) and each is written
atomically by the driver as it finishes; a changed config (or ``fresh``) first
archives every earlier file; the summary, tables and figure are written last.

Layout::

    config.json                                  fingerprint and config of the run
    summary.json, summary.md, <protocol>.png     results over seeds (per-seed values too)
    cells/seed_<s>.json                          robustness: one finished seed
    cells/percent_<p>/seed_<s>.json              limited data: one finished (percentage, seed)
    models/[percent_<p>/]seed<s>/<network>.pt    state_dicts of the cell's networks
    archive/<timestamp>/                         earlier results, never deleted
"""
from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from ann import Dataset

from ..errors import ClusterError
from ..experiments.distributed import dask_client, default_cell_threads, pinned_threads, preflight, where_am_i
from ..experiments.loop import save_model
from ..experiments.results_io import read_json, results_dir, results_lock, write_json
from ..experiments.runner import open_results
from .common import load_data
from .config import ProtocolConfig
from .limited_data import run_limited_data_cell, summarize_limited_data
from .reporting import REPORT_FILES, write_reports
from .robustness import run_robustness_cell, summarize_robustness

logger = logging.getLogger(__name__)

CELLS_DIR, MODELS_DIR = "cells", "models"
RESULT_FILES = [*REPORT_FILES, CELLS_DIR, MODELS_DIR]
Key = tuple[float | None, int]


def _cell_dir(percent: float | None) -> str:
    return "" if percent is None else f"percent_{percent:g}"


def cell_path(out: str | Path, percent: float | None, seed: int) -> Path:
    """``out/cells/[percent_<p>/]seed_<s>.json``."""
    return Path(out) / CELLS_DIR / _cell_dir(percent) / f"seed_{int(seed)}.json"


def cell_model_dir(out: str | Path, percent: float | None, seed: int) -> Path:
    """``out/models/[percent_<p>/]seed<s>``: the folder of a cell's saved networks."""
    return Path(out) / MODELS_DIR / _cell_dir(percent) / f"seed{int(seed)}"


def run_protocol_cell(cfg: ProtocolConfig, percent: float | None, seed: int, *, data: Dataset | None = None,
                      model_dir: str | Path | None = None, progress: bool = False) -> dict[str, Any]:
    """One cell as a pure function of ``(cfg, percent, seed)``: its record (headed by the
    protocol, package version and config fingerprint); with ``model_dir`` its networks
    are saved there as ``<network>.pt`` state_dicts. No other file is written."""
    from ..version import __version__

    cfg = cfg.resolved()
    data = data if data is not None else load_data(cfg)
    if cfg.protocol == "robustness":
        rec, models = run_robustness_cell(cfg, seed, data, progress=progress)
    else:
        rec, models = run_limited_data_cell(cfg, float(percent), seed, data, progress=progress)
    if model_dir is not None:
        for name, net in models.items():
            save_model(net, Path(model_dir) / f"{name}.pt")
    return {"protocol": cfg.protocol, "package_version": __version__, "config_fingerprint": cfg.fingerprint(), **rec}


def _timed(cfg: ProtocolConfig, percent: float | None, seed: int, threads: int, data: Dataset | None,
           model_dir: str | None, progress: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    with pinned_threads(threads):
        rec = run_protocol_cell(cfg, percent, seed, data=data if data is not None else _cached_data(cfg),
                                model_dir=model_dir, progress=progress)
    rec["ran_on"] = {**where_am_i(), "threads": int(threads), "wall_s": time.perf_counter() - t0}
    return rec


_DATA: dict[str, Dataset] = {}


def _cached_data(cfg: ProtocolConfig) -> Dataset:
    """The data of ``cfg``, loaded once per (worker) process."""
    key = repr((cfg.dataset, cfg.data_dir, cfg.split_seed))
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = load_data(cfg)
    return _DATA[key]


def load_finished_cell(out: Path, cfg: ProtocolConfig, percent: float | None, seed: int) -> dict[str, Any] | None:
    """The record of a finished cell of this config, or ``None`` (a cell file of another
    config or an unreadable one is recomputed, with a warning)."""
    path = cell_path(out, percent, seed)
    if not path.is_file():
        return None
    rec = read_json(path)
    ok = (isinstance(rec, dict) and rec.get("config_fingerprint") == cfg.fingerprint() and rec.get("seed") == seed
          and rec.get("percent") == percent)
    if not ok:
        logger.warning("cell file %s was made by another config or is unreadable: recomputing it", path)
        return None
    return rec


def _run_on_dask(cfg: ProtocolConfig, todo: list[Key], out: Path, finished: Callable[[Key, dict[str, Any]], None],
                 model_dir_for: Callable[[Key], str | None], *, workers: int | None, scheduler: str | None,
                 threads_per_worker: int | None, progress: bool) -> None:
    from distributed import as_completed

    with dask_client(workers=workers, scheduler=scheduler, threads_per_worker=threads_per_worker) as (client, threads):
        described = preflight(client, cfg, out, load=_cached_data)
        futures = {client.submit(_timed, cfg, p, s, threads, None, model_dir_for((p, s)), False, pure=False,
                                 key=f"protocol-{p}-{s}-{uuid.uuid4().hex[:8]}"): (p, s) for p, s in todo}
        with tqdm(total=len(futures), desc=f"cells ({len(described)} workers)", unit="cell",
                  disable=not progress) as bar:
            for fut in as_completed(futures):
                finished(futures[fut], fut.result())
                bar.update(1)


def run_protocol(cfg: ProtocolConfig, out_dir: str | Path, *, fresh: bool = False, progress: bool = True,
                 save_models: bool = True, workers: int | None = None, scheduler: str | None = None,
                 threads_per_worker: int | None = None) -> dict[str, Any]:
    """Run every cell of ``cfg`` into ``out_dir`` (see the module docstring); returns the summary.

    workers / scheduler: cells on a local Dask cluster of ``workers`` processes or on the
    scheduler at ``scheduler`` (same numbers as serially); threads_per_worker: threads of
    every cell, serial or on Dask (default: this process's torch thread count)."""
    from ..version import __version__

    cfg = cfg.resolved()
    if workers is not None and scheduler is not None:
        raise ClusterError("give workers (a local cluster) or scheduler (an existing one), not both")
    out = results_dir(out_dir)
    t0 = time.perf_counter()
    data = load_data(cfg)  # fails before any work if the data are missing
    keys = cfg.cell_keys
    with results_lock(out):
        reuse = open_results(cfg, out, fresh, result_files=RESULT_FILES, report_files=REPORT_FILES)
        cells: dict[Key, dict[str, Any]] = {}
        for key in keys:
            rec = load_finished_cell(out, cfg, *key) if reuse else None
            if rec is not None:
                cells[key] = rec
        todo = [k for k in keys if k not in cells]
        if cells:
            logger.warning("resuming %s: %d of %d cells already finished", out, len(cells), len(keys))

        def finished(key: Key, rec: dict[str, Any]) -> None:
            write_json(cell_path(out, *key), rec)
            cells[key] = rec

        def model_dir_for(key: Key) -> str | None:
            return str(cell_model_dir(out, *key)) if save_models else None

        if todo and (workers is not None or scheduler is not None):
            _run_on_dask(cfg, todo, out, finished, model_dir_for, workers=workers, scheduler=scheduler,
                         threads_per_worker=threads_per_worker, progress=progress)
        else:
            threads = int(threads_per_worker or default_cell_threads())
            for key in tqdm(todo, desc=f"{cfg.protocol} cells", unit="cell", disable=not progress):
                finished(key, _timed(cfg, *key, threads, data, model_dir_for(key), progress))
        cells = {k: cells[k] for k in keys}
        results = (summarize_robustness(cfg, cells) if cfg.protocol == "robustness"
                   else summarize_limited_data(cfg, cells))
        summary = {"protocol": cfg.protocol, "package_version": __version__, "config": cfg.to_dict(),
                   "config_fingerprint": cfg.fingerprint(), "results": results,
                   "resumed_cells": len(keys) - len(todo), "torch_threads": torch.get_num_threads(),
                   "ran_on": {f"{'' if p is None else f'percent {p:g} '}seed {s}": cells[(p, s)].get("ran_on")
                              for p, s in keys},
                   "wall_time_s": time.perf_counter() - t0}
        summary["table"] = write_reports(out, summary)
    return summary
