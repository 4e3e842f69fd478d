"""Wall time of a sleep-parameter study: serial vs Dask workers (issue 13).

    python benchmarks/bench_tune.py                       # 100-trial MNIST-subset SRC study (configs/search/tune_subset.toml)
    python benchmarks/bench_tune.py --trials 20 --workers 0 2
    python benchmarks/bench_tune.py --workers 2 --threads-per-worker 1   # no oversubscription on 2 cores
    python benchmarks/bench_tune.py --quick               # tiny network, 6 trials: checks the script

Each setting runs a fresh study (random sampler, so every setting asks the same
parameters) in its own temporary folder and prints its wall time, the time per
trial and the speed-up over the first setting, and whether the trial values
equal those of the first setting. Run it on an otherwise idle machine
(``uptime`` load below the core count); the numbers go into the issue's note.
"""
from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

from bridge.params import read_config
from bridge.tuning import TuneConfig, tune

QUICK = {
    "experiment": {"class_groups": [[0, 1], [2, 3]], "max_train_per_task": 200, "sizes": [784, 64, 10],
                   "init_range": 0.1, "methods": ["src"], "seeds": [0], "updates_per_task": 20},
    "sleep": {"preset": "mnist", "beta": [14.5, 44.5], "steps_first": 500, "steps_per_task": 200},
    "tune": {"seeds": [0], "trials": 6, "sampler": "random", "validation_fraction": 0.1,
             "space": {"inc": {"low": 0.001, "high": 0.1, "log": True},
                       "beta": {"low": 1.0, "high": 60.0, "log": True}}},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/search/tune_subset.toml")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="0 = serial")
    ap.add_argument("--threads-per-worker", type=int, default=None, metavar="N",
                    help="torch threads of every Dask worker's trial (default: this process's, so the values equal "
                         "the serial ones; 1 on 2 cores with 2 workers avoids oversubscription but rounds differently)")
    ap.add_argument("--quick", action="store_true", help="tiny network and 6 trials (script check)")
    ap.add_argument("--sampler", default="random",
                    help="random (default: every setting asks the same parameters, so their values can be compared) "
                         "or the config's own sampler ('config'), e.g. to keep the studies as real searches")
    ap.add_argument("--keep", default=None, metavar="DIR",
                    help="write each setting's study, preset and figures to DIR/serial, DIR/workers<N> "
                         "(DIR/workers<N>x<T> with --threads-per-worker T; default: a temporary folder)")
    args = ap.parse_args()
    data = copy.deepcopy(QUICK) if args.quick else read_config(args.config)
    if not args.quick:
        data["tune"]["trials"] = args.trials
    if args.sampler != "config":  # random: the same parameters in every setting, whatever the order of tells
        data["tune"]["sampler"] = args.sampler
    cfg = TuneConfig.from_dict(data)
    print(f"study: {cfg.trials} trials of {cfg.method} on {cfg.experiment.dataset}, sizes {cfg.experiment.sizes}, "
          f"seeds {cfg.seeds}, sampler {cfg.sampler}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")
    first = None
    for workers in args.workers:
        threads = args.threads_per_worker if workers else None
        label = "serial" if not workers else f"{workers} workers" + (f" x {threads} thr" if threads else "")
        name = "serial" if not workers else f"workers{workers}" + (f"x{threads}" if threads else "")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(args.keep) / name if args.keep else Path(tmp)
            t0 = time.perf_counter()
            result = tune(cfg, out, workers=workers or None, threads_per_worker=threads, progress=False,
                          figures=bool(args.keep))
            wall = time.perf_counter() - t0
            values = [t.value for t in sorted(result.study.trials, key=lambda t: t.number)]
        if first is None:
            first = (wall, values)
        print(f"{label:>10}: {wall:8.1f} s, {wall / cfg.trials:6.2f} s/trial, speed-up {first[0] / wall:4.2f}, "
              f"best {result.best_value:.2f} %, values equal to the first setting: {values == first[1]}")


if __name__ == "__main__":
    main()
