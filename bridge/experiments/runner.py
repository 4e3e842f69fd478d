"""The grid of (method, seed) cells of a run, and its results folder.

``run_experiment(cfg, out)`` locks ``out`` for the whole run, reuses the
finished cells of the same config (the fingerprint in each cell file), runs the
others one after another with :func:`.cells.run_cell` (a cell is written only by
its finisher, so an interrupted run resumes where it stopped) and writes the
summary, the table and the plot. Nothing is silently replaced: a changed
config archives the earlier results; other seeds/methods of the same config
archive the earlier summary, table, plot and ``config.json``.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm import tqdm

from ann.errors import TrainingDivergedError

from .cells import CELLS_DIR, MODELS_DIR, TaskData, cell_model_dir, finish_cell, load_finished_cell, run_cell
from .config import ExperimentConfig
from .distributed import default_cell_threads, run_cells_on_dask, timed_cell
from .data import load_tasks
from .methods import MethodSpec
from .reporting import REPORT_FILES, paper_mismatch, summarize, write_reports
from .results_io import archive_files, read_json, results_dir, results_lock, write_json

logger = logging.getLogger(__name__)

CONFIG_JSON = "config.json"
#: every file of a run; all are archived when a run of another config starts in the folder
RESULT_FILES = [*REPORT_FILES, CONFIG_JSON, CELLS_DIR, MODELS_DIR]


def _config_state(cfg: Any) -> dict[str, Any]:
    """What ``config.json`` holds (as JSON would read it back)."""
    return json.loads(json.dumps({"fingerprint": cfg.fingerprint(), "config": cfg.to_dict()}))


def open_results(cfg: Any, out: Path, fresh: bool, *, result_files: Sequence[str] = tuple(RESULT_FILES),
                 report_files: Sequence[str] = tuple(REPORT_FILES)) -> bool:
    """Prepare the (locked) folder ``out`` for ``cfg`` (an :class:`ExperimentConfig`, or any
    config with ``fingerprint()`` and ``to_dict()``); returns whether finished cells may be
    reused (same fingerprint and not ``fresh``).

    Another config (or ``fresh``): every earlier result file (``result_files``) is archived.
    The same config with other seeds, methods or paper row: the earlier summary, table,
    plot (``report_files``) and ``config.json`` are archived (cells stay: they are valid).
    Either way ``config.json`` then describes this run.
    """
    state = _config_state(cfg)
    earlier = read_json(out / CONFIG_JSON)
    same = not fresh and isinstance(earlier, dict) and earlier.get("fingerprint") == state["fingerprint"]
    if not same:
        archive_files(out, [*result_files, CONFIG_JSON] + [p.name for p in out.glob("seed_*.json")])
    elif earlier != state:
        archive_files(out, [*report_files, CONFIG_JSON])
    if earlier != state or not same:
        write_json(out / CONFIG_JSON, state)
    return same


def run_cells_serially(cfg: ExperimentConfig, todo: Sequence[tuple[MethodSpec, int]],
                       on_finish: Callable[[MethodSpec, int, dict[str, Any]], None], *, data: TaskData,
                       model_dir_for: Callable[[MethodSpec, int], Path | None], progress: bool = True,
                       threads: int | None = None) -> None:
    """Run the ``todo`` cells one after another in this process; ``on_finish(spec,
    seed, record)`` is called as each one finishes (it writes the cell). Each cell
    runs with ``threads`` threads (default :func:`.distributed.default_cell_threads`)."""
    threads = int(threads or default_cell_threads())
    for spec, seed in tqdm(todo, desc="runs", unit="run", disable=not progress):
        try:
            rec = timed_cell(run_cell, cfg, spec.label, seed, threads=threads, data=data,
                             model_dir=model_dir_for(spec, seed), progress=progress)
        except FloatingPointError as exc:
            raise TrainingDivergedError(f"method {spec.label}, seed {seed}: {exc} (finished runs are kept; "
                                     "rerun to resume)") from exc
        on_finish(spec, seed, rec)


def run_experiment(cfg: ExperimentConfig, out_dir: str | Path, *, fresh: bool = False, progress: bool = True,
                   save_models: bool = True, workers: int | None = None, scheduler: str | None = None,
                   threads_per_worker: int | None = None) -> dict[str, Any]:
    """Run ``cfg``; write ``summary.json``, ``summary.md``, ``accuracy_over_tasks.png``,
    ``config.json``, ``cells/<method>/seed_<s>.json`` and, with ``save_models``, the
    models of sleeping methods before and after every sleep
    (``models/<method>/seed<s>/task<t>_{before,after}_sleep.pt``) to ``out_dir``.

    A finished (method, seed) of the same config is not recomputed unless
    ``fresh``. ``cfg`` is not changed. Raises :class:`~bridge.errors.ResultsDirError`
    if another run holds ``out_dir``. Returns the summary.

    workers / scheduler: run the cells on a local Dask cluster of ``workers``
    processes or on the Dask scheduler at ``scheduler`` (see
    :mod:`.distributed`; same numbers as a serial run); default serial.
    threads_per_worker: threads of every cell, serial or on Dask (default: this
    process's torch thread count in both cases, so that serial and Dask runs give
    the same numbers; torch and BLAS round differently with another count).
    """
    from ..version import __version__

    cfg = cfg.resolved()
    out = results_dir(out_dir)
    t0 = time.perf_counter()
    data = load_tasks(cfg)  # fails before any training if data are missing
    tasks, _, y_test = data
    specs = cfg.method_specs()
    with results_lock(out):
        resuming = open_results(cfg, out, fresh)
        cells: dict[tuple[str, int], dict[str, Any]] = {}
        todo = []
        for spec in specs:
            for seed in cfg.seeds:
                rec = load_finished_cell(out, cfg, spec, seed) if resuming else None
                if rec is not None:
                    cells[(spec.label, seed)] = rec
                else:
                    todo.append((spec, seed))
        if resuming:
            logger.warning("resuming %s: %d of %d (method, seed) runs already finished", out, len(cells),
                           len(cells) + len(todo))

        def finished(spec: MethodSpec, seed: int, rec: dict[str, Any]) -> None:
            finish_cell(out, cfg, spec, seed, rec)
            cells[(spec.label, seed)] = rec

        def model_dir_for(spec: MethodSpec, seed: int) -> Path | None:
            return cell_model_dir(out, spec, seed) if save_models and spec.sleep else None

        if todo and (workers is not None or scheduler is not None):
            run_cells_on_dask(cfg, todo, out, finished, model_dir_for=model_dir_for, workers=workers,
                              scheduler=scheduler, threads_per_worker=threads_per_worker, progress=progress)
        else:
            run_cells_serially(cfg, todo, finished, data=data, model_dir_for=model_dir_for, progress=progress,
                               threads=threads_per_worker)
        # grid order (as a clean serial run), whatever the order the cells were reused or finished in
        grid = [(spec.label, seed) for spec in specs for seed in cfg.seeds]
        cells = {key: cells[key] for key in grid}
        summary = {
            "package_version": __version__,
            "config": cfg.to_dict(),
            "config_fingerprint": cfg.fingerprint(),
            "paper_row": cfg.row,
            "paper_mismatch": paper_mismatch(cfg),  # None: the paper's numbers apply (the table's paper column)
            "epochs_per_task": [cfg.epochs_for(len(t.y_train)) for t in tasks],
            "train_examples_per_task": [len(t.y_train) for t in tasks],
            "test_examples": int(len(y_test)),
            "methods": summarize(specs, cells),
            "resumed_runs": len(cfg.seeds) * len(specs) - len(todo),
            "ran_on": {f"{label} seed {seed}": rec.get("ran_on") for (label, seed), rec in cells.items()},
            # one device per results folder (it is part of the config's fingerprint)
            "devices": sorted({str(rec.get("device", "cpu")) for rec in cells.values()}),
            "wall_time_s": time.perf_counter() - t0,
        }
        write_reports(out, summary, cells)
    return summary

