"""Serial vs Dask: wall time and identical numbers of a whole Table 1 suite.

    python benchmarks/bench_distributed.py [CONFIG] [--workers 2 ...] [--out DIR]

Runs CONFIG (default: full Fashion-MNIST, every method, 5 seeds) once serially and
once on a local Dask cluster for every ``--workers`` count, each into its own
folder under ``--out`` (from scratch), then prints the wall time, the speed-up
over the serial run, and whether every (method, seed) cell gave the serial
run's numbers bit for bit (cell files compared without ``ran_on``).

``--threads-per-worker N`` sets the threads of every cell, serial and on Dask (default:
this process's torch threads, as ``sleep-replay run``); cells give the same numbers only
with the same count. ``--reuse DIR ...`` takes earlier runs of the same config (same
fingerprint and thread count; serial, or on ``--workers`` N workers) from DIR, their cells
and the wall time their ``summary.json`` recorded, instead of running them again (the
Fashion-MNIST suite takes 30-45 minutes a run here).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from bridge.experiments import ExperimentConfig, run_experiment
from bridge.experiments.distributed import cpu_count, default_cell_threads

REPO = Path(__file__).resolve().parents[1]
#: record keys that say where and how long a cell ran (not results)
VOLATILE = ("ran_on", "wall_time_s", "sleep_seconds", "timing")


def cell_numbers(out: Path) -> dict[str, dict]:
    """Every cell file of a results folder, without the keys that say where it ran."""
    cells = {}
    for path in sorted((out / "cells").rglob("seed_*.json")):
        rec = json.loads(path.read_text())
        cells[str(path.relative_to(out))] = {k: v for k, v in rec.items() if k not in VOLATILE}
    return cells


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", default=str(REPO / "configs" / "tables" / "fashion_mnist.toml"))
    p.add_argument("--workers", type=int, nargs="+", default=[2], help="local worker counts to time")
    p.add_argument("--out", default=str(REPO / "results" / "bench_distributed"))
    p.add_argument("--threads-per-worker", type=int, default=None,
                   help="threads of every cell, serial and on Dask (default: this process's torch threads)")
    p.add_argument("--reuse", nargs="+", default=[], metavar="DIR", help="earlier runs of CONFIG to use")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = ExperimentConfig.from_file(args.config)
    out = Path(args.out)
    runs = [("serial", None)] + [(f"workers{n}", n) for n in args.workers]
    wall, numbers = {}, {}
    threads = args.threads_per_worker or default_cell_threads()
    for folder in map(Path, args.reuse):
        earlier = json.loads((folder / "summary.json").read_text())
        hosts = [r or {} for r in earlier["ran_on"].values()]
        workers = {h.get("worker", "local") for h in hosts} - {"local"}
        name = f"workers{len(workers)}" if workers else "serial"
        if earlier["config_fingerprint"] != cfg.fingerprint() or name not in dict(runs) \
                or {h.get("threads") for h in hosts} != {threads}:
            p.error(f"--reuse {folder}: not a {threads}-thread run of {args.config} among {[n for n, _ in runs]}")
        wall[name], numbers[name] = earlier["wall_time_s"], cell_numbers(folder)
        print(f"{name}: reusing {folder} ({wall[name] / 60:.2f} min)")
    for name, workers in runs:
        if name in wall:
            continue
        t0 = time.perf_counter()
        run_experiment(cfg, out / name, fresh=True, progress=True, save_models=False, workers=workers,
                       threads_per_worker=threads)
        wall[name] = time.perf_counter() - t0
        numbers[name] = cell_numbers(out / name)
    print(f"\n{args.config}: {len(cfg.methods)} methods x {len(cfg.seeds)} seeds, {cpu_count()} cores, "
          f"{threads} thread(s) per cell")
    print("| run | wall time (min) | speed-up | cells identical to serial |")
    print("|---|---|---|---|")
    for name, _ in runs:
        same = numbers[name] == numbers["serial"]
        print(f"| {name} | {wall[name] / 60:.2f} | {wall['serial'] / wall[name]:.2f}x | "
              f"{'yes' if same else 'NO'} ({len(numbers[name])} cells) |")
    return 0 if all(numbers[n] == numbers["serial"] for n, _ in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
