"""Serial vs Dask: wall time and identical numbers of a whole Table 1 suite.

    python benchmarks/bench_distributed.py [CONFIG] [--workers 2 ...] [--out DIR]

Runs CONFIG (default: full Fashion-MNIST, every method, 5 seeds) once serially and
once on a local Dask cluster for every ``--workers`` count, each into its own
folder under ``--out`` (from scratch), then prints the wall time, the speed-up
over the serial run, and whether every (method, seed) cell gave the serial
run's numbers bit for bit (cell files compared without ``ran_on``).

``--serial DIR`` reuses an earlier serial run of the same config (same fingerprint) in
DIR, its cells and the wall time its ``summary.json`` recorded, instead of running it
again (the serial Fashion-MNIST suite takes about 33 minutes here).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from bridge.experiments import ExperimentConfig, run_experiment
from bridge.experiments.distributed import cpu_count

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
    p.add_argument("config", nargs="?", default=str(REPO / "configs" / "fashion_mnist.toml"))
    p.add_argument("--workers", type=int, nargs="+", default=[2], help="local worker counts to time")
    p.add_argument("--out", default=str(REPO / "results" / "bench_distributed"))
    p.add_argument("--serial", metavar="DIR", help="an earlier serial run of CONFIG to compare with")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = ExperimentConfig.from_file(args.config)
    out = Path(args.out)
    runs = [("serial", None)] + [(f"workers{n}", n) for n in args.workers]
    wall, numbers = {}, {}
    if args.serial:
        earlier = json.loads((Path(args.serial) / "summary.json").read_text())
        if earlier["config_fingerprint"] != cfg.fingerprint() or any(
                (r or {}).get("worker", "local") != "local" for r in earlier["ran_on"].values()):
            p.error(f"--serial {args.serial}: not a serial run of {args.config}")
        wall["serial"], numbers["serial"] = earlier["wall_time_s"], cell_numbers(Path(args.serial))
        print(f"serial: reusing {args.serial} ({wall['serial'] / 60:.2f} min)")
    for name, workers in runs:
        if name in wall:
            continue
        t0 = time.perf_counter()
        run_experiment(cfg, out / name, fresh=True, progress=True, save_models=False, workers=workers)
        wall[name] = time.perf_counter() - t0
        numbers[name] = cell_numbers(out / name)
    print(f"\n{args.config}: {len(cfg.methods)} methods x {len(cfg.seeds)} seeds, {cpu_count()} cores")
    print("| run | wall time (min) | speed-up | cells identical to serial |")
    print("|---|---|---|---|")
    for name, _ in runs:
        same = numbers[name] == numbers["serial"]
        print(f"| {name} | {wall[name] / 60:.2f} | {wall['serial'] / wall[name]:.2f}x | "
              f"{'yes' if same else 'NO'} ({len(numbers[name])} cells) |")
    return 0 if all(numbers[n] == numbers["serial"] for n, _ in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
