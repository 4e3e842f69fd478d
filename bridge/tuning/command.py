"""``sleep-replay tune CONFIG``: search the sleep parameters (see docs/tuning.md)."""
from __future__ import annotations

import argparse
from typing import Any

from .config import SAMPLERS


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser] | None = None) -> argparse.ArgumentParser:
    """Add the ``tune`` sub-command to ``subparsers`` (of ``sleep-replay``)."""
    p = subparsers.add_parser(
        "tune", parents=parents or [], help="search the sleep parameters on a validation split (Optuna)",
        description="Search the sleep parameters named in the config's [tune.space] on a validation split carved "
                    "from the training data (never the test set); write the best as OUT/preset.toml, the search "
                    "history as OUT/tuning_history.png. A rerun resumes the stored study. Flags override the "
                    "config's [tune] fields.")
    p.add_argument("config", metavar="CONFIG", help="TOML/JSON run config with a [tune] table and [tune.space] ranges")
    p.add_argument("--trials", type=int, metavar="N", help="finished trials the study should hold (tune.trials)")
    p.add_argument("--sampler", choices=SAMPLERS, help="Optuna sampler (tune.sampler)")
    p.add_argument("--out", default="results/tune", metavar="DIR", help="output folder (default results/tune)")
    p.add_argument("--no-figures", action="store_true", help="skip tuning_history.png")
    add_study_flags(p)
    return p


def add_study_flags(p: argparse.ArgumentParser) -> None:
    """The flags that ``tune`` and ``rescore`` share: where the study is stored and where
    its trials run (each overrides the config's ``[tune]`` field), and ``--no-progress``."""
    p.add_argument("--workers", type=int, metavar="N", help="run trials on a local Dask cluster of N worker processes "
                   "(tune.workers; default 0: serially)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="address of an existing Dask scheduler (tune.scheduler)")
    p.add_argument("--threads-per-worker", type=int, metavar="N", help="threads of every trial, serial or on Dask "
                   "(tune.threads_per_worker; default: this process's torch threads)")
    p.add_argument("--storage", metavar="STORAGE", help="journal file or database URL, e.g. sqlite:///tune.db "
                   "(tune.storage; default OUT/study.journal)")
    p.add_argument("--study-name", metavar="NAME", help="study name in the storage (tune.study_name)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the search for parsed ``args``; prints the best value and parameters; returns 0."""
    from .config import TuneConfig
    from .tuner import tune

    cfg = TuneConfig.from_file(args.config)
    if args.sampler is not None:
        cfg = cfg.replace(sampler=args.sampler)
    result = tune(cfg, args.out, trials=args.trials, workers=args.workers, scheduler=args.scheduler,
                  threads_per_worker=args.threads_per_worker, storage=args.storage, study_name=args.study_name,
                  progress=not args.no_progress,
                  figures=not args.no_figures)
    print(f"\nstudy {cfg.study_name}: {result.done_trials} trial(s) done, {result.new_trials} new "
          f"({result.wall_time_s:.1f} s)")
    if result.best_params is None:
        print("no trial completed; no preset written")
        return 0
    print(f"best validation accuracy {result.best_value:.2f} % (method {cfg.method}, seeds {cfg.seeds})")
    for name, value in result.study.best_params.items():
        print(f"  {name} = {value}")
    print(f"wrote {result.preset_path} (use in a run config: [sleep] preset = \"{result.preset_path}\")")
    return 0
