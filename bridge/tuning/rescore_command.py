"""``sleep-replay rescore CONFIG``: run a finished search's best trials again on other
tuning seeds or another validation split (see :mod:`.rescoring`, docs/tuning.md)."""
from __future__ import annotations

import argparse
from typing import Any

from .command import add_study_flags
from .config import VALIDATION_SPLITS


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser] | None = None) -> argparse.ArgumentParser:
    """Add the ``rescore`` sub-command to ``subparsers`` (of ``sleep-replay``)."""
    p = subparsers.add_parser(
        "rescore", parents=parents or [], help="re-score a search's best trials on other seeds or splits",
        description="Run the start trial and the best trials of the study that `sleep-replay tune CONFIG --out OUT` "
                    "stored again, with other tuning seeds or another validation split of the training data "
                    "(never the test set), to check that the best trial's gain is not the noise of its own seeds "
                    "and split. Writes OUT/rescore_<key>.json; the study is not changed.")
    p.add_argument("config", metavar="CONFIG", help="the search's TOML/JSON config (with [tune] and [tune.space])")
    p.add_argument("--out", default="results/tune", metavar="DIR",
                   help="the search's output folder (default results/tune)")
    p.add_argument("--top", type=int, default=5, metavar="N",
                   help="how many of the best trials to re-score (default 5)")
    p.add_argument("--seeds", type=int, nargs="+", metavar="SEED", help="tuning seeds (default: tune.seeds)")
    p.add_argument("--validation-fraction", type=float, metavar="FRACTION",
                   help="share of each task's training examples held out "
                   "(default: tune.validation_fraction)")
    p.add_argument("--validation-seed", type=int, metavar="SEED",
                   help="seed of the split (default: tune.validation_seed)")
    p.add_argument("--validation-split", choices=VALIDATION_SPLITS, help="one split for every seed or one per "
                   "seed (default: tune.validation_split)")
    add_study_flags(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Re-score for parsed ``args``; prints one line per trial; returns 0."""
    from .rescoring import rescore

    result = rescore(args.config, args.out, top=args.top, seeds=args.seeds,
                     validation_fraction=args.validation_fraction, validation_seed=args.validation_seed,
                     validation_split=args.validation_split, storage=args.storage, study_name=args.study_name,
                     workers=args.workers, scheduler=args.scheduler, threads_per_worker=args.threads_per_worker,
                     progress=not args.no_progress)
    s = result.settings
    print(f"re-scored with seeds {s['seeds']}, validation_fraction {s['validation_fraction']}, validation_seed "
          f"{s['validation_seed']}, validation_split {s['validation_split']}:")
    for row in result.rows:
        tag = " (start)" if row["start"] else ""
        if row["value"] is None:
            print(f"  trial {row['number']}{tag}: study {row['study_value']:.2f} -> failed: {row['error']}")
            continue
        per_seed = ", ".join(f"{v:.2f}" for v in row["per_seed"])
        print(f"  trial {row['number']}{tag}: study {row['study_value']:.2f} -> {row['value']:.2f} ({per_seed})")
    print(f"wrote {result.path}")
    return 0
