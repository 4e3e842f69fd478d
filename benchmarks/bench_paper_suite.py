"""Wall time of a whole Table 1 suite (default: full Fashion-MNIST, every method, 5 seeds).

    python benchmarks/bench_paper_suite.py [CONFIG] [--out results/paper/tables/fashion_mnist] [--resume]

Runs the config from scratch (earlier results in the folder are archived) unless
``--resume``, prints the results table, the wall time and the time per method,
and leaves summary.json / summary.md / accuracy_over_tasks.png in the folder.
Target on the 2-core reference machine: <= 45 minutes for configs/tables/fashion_mnist.toml.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch

from bridge.experiments import ExperimentConfig, format_table, run_experiment

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", default=str(REPO / "configs" / "tables" / "fashion_mnist.toml"))
    p.add_argument("--out", default=str(REPO / "results" / "paper" / "tables" / "fashion_mnist"))
    p.add_argument("--resume", action="store_true", help="keep finished (method, seed) runs")
    p.add_argument("--budget-min", type=float, default=45.0, help="target wall time in minutes")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = ExperimentConfig.from_file(args.config)
    t0 = time.perf_counter()
    summary = run_experiment(cfg, args.out, fresh=not args.resume, progress=True)
    wall = time.perf_counter() - t0
    print(format_table(summary))
    print(f"\n{len(cfg.methods)} methods x {len(cfg.seeds)} seeds on {summary['paper_row']} "
          f"({torch.get_num_threads()} torch threads): wall time {wall / 60:.1f} min "
          f"(budget {args.budget_min:.0f} min){' [resumed runs not timed]' if summary['resumed_runs'] else ''}")
    print(f"{'within' if wall / 60 <= args.budget_min else 'OVER'} budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
