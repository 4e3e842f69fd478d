"""Run the cells of an experiment grid on Dask (``dask.distributed``).

A cell (one method, one seed) is a pure function of ``(config, method, seed)``
(:func:`.cells.run_cell`), so cells can run side by side in worker processes of
a local cluster (``workers=N``) or on an existing cluster (``scheduler=ADDRESS``,
e.g. started by ``dask scheduler`` / ``dask worker`` or dask-jobqueue's
``SLURMCluster``). Only the driver (the process of ``sleep-replay run``) writes
cell files, each when its cell has finished, so an interruption or a lost worker
never loses or corrupts a finished cell; Dask reschedules the cell of a lost
worker on another one.

Identical numbers: every random draw of a cell comes from its seed, and every
cell runs with its BLAS/torch/Numba thread count pinned
(:func:`pinned_threads`), so a cell gives the same result bit for bit serially,
on a local cluster or on a remote worker *of the same software and CPU kind*:
the same package, torch, NumPy, Numba and BLAS versions and the same CPU
instruction set (vectorised kernels may round differently on another ISA).

Before any cell is sent, :func:`preflight` asks every worker to import the
package (same version as the driver), load the run's data and write into the
results folder (shared storage is needed for saved models on a cluster); any
failure stops the run with :class:`~bridge.errors.ClusterError` naming the worker.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from tqdm import tqdm

from snn.extras import require

from ..errors import ClusterError
from .config import ExperimentConfig
from .data import load_tasks
from .methods import MethodSpec

#: what needs the dask extra, for the MissingExtraError message
DASK_RUNS = "running on Dask (--workers, --scheduler)"
logger = logging.getLogger(__name__)

#: seconds to wait for a scheduler to answer before giving up
CONNECT_TIMEOUT_S = 10.0

#: per-process cache of loaded task data, keyed by the data part of a config
_DATA_CACHE: dict[str, Any] = {}


def cpu_count() -> int:
    """Cores this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """Run the body with torch and the BLAS libraries (threadpoolctl) limited to
    ``threads`` threads; restore the previous settings afterwards. (The sleep engines
    are single-threaded; Numba's parallel threading layer is never started.)"""
    import torch
    from threadpoolctl import threadpool_limits

    threads = max(1, int(threads))
    old_torch = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(old_torch)


def _data_key(cfg: ExperimentConfig) -> str:
    d = cfg.to_dict()
    keys = ("dataset", "data_dir", "data_dirs", "task_datasets", "download", "split_seed", "class_groups",
            "max_train_per_task", "sizes")
    return repr({k: d.get(k) for k in keys})


def cached_tasks(cfg: ExperimentConfig) -> Any:
    """``load_tasks(cfg)``, loaded once per worker process and data setting."""
    key = _data_key(cfg)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = load_tasks(cfg)
    return _DATA_CACHE[key]


def where_am_i() -> dict[str, Any]:
    """Host, Dask worker address (``"local"`` outside a worker) and process id."""
    try:
        from distributed import get_worker

        address = get_worker().address
    except (ImportError, ValueError):
        address = "local"
    return {"host": socket.gethostname(), "worker": address, "pid": os.getpid()}


def timed_cell(run: Callable[..., dict[str, Any]], cfg: ExperimentConfig, method: str, seed: int, *,
               threads: int, data: Any = None, model_dir: str | None = None,
               progress: bool = False) -> dict[str, Any]:
    """Run one cell with pinned threads; the record gains ``ran_on`` (host, worker,
    pid, threads, wall time in s). Used by the serial and the Dask runner alike."""
    t0 = time.perf_counter()
    with pinned_threads(threads):
        rec = run(cfg, method, seed, data=data if data is not None else cached_tasks(cfg),
                  model_dir=model_dir, progress=progress)
    rec["ran_on"] = {**where_am_i(), "threads": int(threads), "wall_s": time.perf_counter() - t0}
    return rec


def _worker_cell(cfg: ExperimentConfig, method: str, seed: int, model_dir: str | None, threads: int) -> dict[str, Any]:
    from .cells import run_cell

    return timed_cell(run_cell, cfg, method, seed, threads=threads, model_dir=model_dir)


def _probe(cfg: Any, out: str, version: str, load: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Runs on every worker before the cells: package version, data (``load(cfg)``, default
    :func:`cached_tasks`), results folder."""
    from ..version import __version__

    where = where_am_i()
    if __version__ != version:
        return {**where, "problem": f"package version {__version__} differs from the driver's {version}"}
    try:
        (load or cached_tasks)(cfg)
    except Exception as exc:  # reported to the driver, which raises ClusterError
        return {**where, "problem": f"cannot load the data: {type(exc).__name__}: {exc}"}
    probe = Path(out) / f".probe-{uuid.uuid4().hex}"
    try:
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return {**where, "problem": f"cannot write the results folder {out}: {exc}"}
    return {**where, "problem": None}


def preflight(client: Any, cfg: Any, out: Path, load: Callable[[Any], Any] | None = None) -> list[dict[str, Any]]:
    """Check every worker of ``client`` (see module docstring); returns their descriptions.
    ``load(cfg)`` loads the data of ``cfg`` on a worker (default :func:`cached_tasks`, for an
    :class:`ExperimentConfig`; another harness passes its own loader, a module-level function)."""
    from ..version import __version__

    workers = client.scheduler_info().get("workers", {})
    if not workers:
        raise ClusterError("the Dask cluster has no workers")
    try:
        answers = client.run(_probe, cfg, str(out.resolve()), __version__, load)
    except ModuleNotFoundError as exc:
        raise ClusterError(f"a Dask worker cannot import this package ({exc}); install sleep-replay "
                           "on every worker") from exc
    bad = {addr: a["problem"] for addr, a in answers.items() if a.get("problem")}
    if bad:
        lines = "; ".join(f"{addr}: {problem}" for addr, problem in sorted(bad.items()))
        raise ClusterError(f"{len(bad)} Dask worker(s) cannot run this experiment: {lines}")
    return list(answers.values())


def default_cell_threads() -> int:
    """Threads of every cell unless the user says otherwise: this (the driver's)
    process's torch thread count, serial or on Dask alike. Torch and BLAS round
    differently with another thread count, so one setting for both is what makes a
    cell's numbers the same wherever it runs."""
    import torch

    return max(1, int(torch.get_num_threads()))


@contextlib.contextmanager
def dask_client(*, workers: int | None = None, scheduler: str | None = None,
                threads_per_worker: int | None = None) -> Iterator[tuple[Any, int]]:
    """A ``distributed.Client`` on an existing ``scheduler`` or on a new local
    cluster of ``workers`` processes; yields ``(client, threads per cell)``:
    ``threads_per_worker`` or :func:`default_cell_threads` (the serial run's count,
    so that the numbers are the serial run's)."""
    distributed = require("distributed", what=DASK_RUNS)
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler!r} within "
                               f"{CONNECT_TIMEOUT_S:.0f} s: {exc}") from exc
        with client:
            yield client, int(threads_per_worker or default_cell_threads())
        return
    n = int(workers or 1)
    threads = int(threads_per_worker or default_cell_threads())
    if n * threads > cpu_count():
        logger.warning("%d local workers x %d thread(s) per cell exceed the %d cores: the cells share them "
                       "(same numbers as a serial run); --threads-per-worker %d runs faster per cell but "
                       "rounds differently from a serial run with %d thread(s)", n, threads, cpu_count(),
                       max(1, cpu_count() // n), default_cell_threads())
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1", silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client, threads


def run_cells_on_dask(cfg: ExperimentConfig, todo: Sequence[tuple[MethodSpec, int]], out: Path,
                      on_finish: Callable[[MethodSpec, int, dict[str, Any]], None], *,
                      model_dir_for: Callable[[MethodSpec, int], Path | None],
                      workers: int | None = None, scheduler: str | None = None,
                      threads_per_worker: int | None = None, progress: bool = True) -> None:
    """Run the ``todo`` cells on Dask; call ``on_finish(spec, seed, record)`` in this
    process as each one finishes (in completion order). One progress bar for all
    workers. Raises :class:`~bridge.errors.ClusterError` before any cell is sent if
    the cluster cannot run them."""
    as_completed = require("distributed", what=DASK_RUNS).as_completed

    with dask_client(workers=workers, scheduler=scheduler, threads_per_worker=threads_per_worker) as (client, threads):
        described = preflight(client, cfg, out)
        logger.info("Dask: %d worker(s) on %s, %d thread(s) per cell", len(described),
                    ", ".join(sorted({d["host"] for d in described})), threads)
        futures = {}
        for spec, seed in todo:
            model_dir = model_dir_for(spec, seed)
            fut = client.submit(_worker_cell, cfg, spec.label, seed, None if model_dir is None else str(model_dir),
                                threads, pure=False, key=f"cell-{spec.slug}-seed{seed}-{uuid.uuid4().hex[:8]}")
            futures[fut] = (spec, seed)
        with tqdm(total=len(futures), desc=f"runs ({len(described)} workers)", unit="run",
                  disable=not progress) as bar:
            for fut in as_completed(futures):
                spec, seed = futures[fut]
                rec = fut.result()
                on_finish(spec, seed, rec)
                bar.set_postfix_str(f"{spec.label} seed {seed} on {rec['ran_on']['worker']}")
                bar.update(1)
