"""Command line: ``sleep-replay run`` and ``sleep-replay conformance``."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import snn

from .params import PRESETS

logger = logging.getLogger(__name__)

# CLI flag -> SleepParams field
_SLEEP_FLAGS = {
    "max_rate": "max_rate_hz", "inc": "inc", "dec": "dec", "alpha_scale": "alpha_scale", "decay": "decay",
    "threshold": "threshold", "mask_size": "mask_size", "input_mode": "input_mode", "rule": "rule",
    "steps_first": "steps_first", "steps_per_task": "steps_per_task", "beta": "beta",
}


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log details")
    p = argparse.ArgumentParser(prog="sleep-replay", description="Sleep Replay Consolidation for PyTorch networks",
                                parents=[common])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="class-incremental training, sequential vs SRC", parents=[common],
                       description="Train on class-incremental tasks with and without sleep; write a table, "
                                   "summary.json and figures. Flags override the config file.")
    r.add_argument("config", nargs="?", help="TOML/JSON config with [experiment], [train], [sleep] tables")
    r.add_argument("--dataset", help="mnist-subset (default), mnist (needs --data-dir) or fashion-mnist")
    r.add_argument("--data-dir", help="folder of IDX files")
    r.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2)")
    r.add_argument("--methods", nargs="+", help="sequential and/or src")
    r.add_argument("--engine", help=f"sleep engine: {', '.join(snn.available_engines())}")
    r.add_argument("--dtype", choices=["float64", "float32"])
    r.add_argument("--sizes", type=int, nargs="+", help="layer widths, e.g. 784 1200 1200 10")
    r.add_argument("--epochs", type=int, help="epochs per task (default: from --updates-per-task)")
    r.add_argument("--updates-per-task", type=int, help="SGD updates per task (reference: 100)")
    r.add_argument("--loss", choices=["mse", "ce"])
    r.add_argument("--preset", choices=sorted(PRESETS), help="sleep hyperparameter preset")
    r.add_argument("--max-rate", type=float, help="input max rate (Hz)")
    r.add_argument("--inc", type=float)
    r.add_argument("--dec", type=float)
    r.add_argument("--beta", type=float, nargs="+")
    r.add_argument("--alpha-scale", type=float)
    r.add_argument("--decay", type=float)
    r.add_argument("--threshold", type=float)
    r.add_argument("--mask-size", type=int)
    r.add_argument("--input-mode", choices=["masked_mean", "poisson"])
    r.add_argument("--rule", choices=["reference", "plain"])
    r.add_argument("--steps-first", type=int, help="sleep steps after task 1 (reference 15000)")
    r.add_argument("--steps-per-task", type=int, help="extra sleep steps per later task (reference 5000)")
    r.add_argument("--out", default="results/run", help="output folder (default results/run)")
    r.add_argument("--fresh", action="store_true",
                   help="recompute every run (earlier results are archived); default: resume a run of the same config")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")

    c = sub.add_parser("conformance", help="replay a reference trace (.npz) and compare", parents=[common],
                       description="Exit 0 only if spike counts match exactly, weights within 1e-6 and "
                                   "alpha within 1e-5 relative.")
    c.add_argument("trace", help="reference trace .npz (format: see docs/conformance.md)")
    c.add_argument("--engine", default="fast", help=f"sleep engine: {', '.join(snn.available_engines())}")
    c.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    return p


def _config_from_args(args: argparse.Namespace):
    from .experiment import ExperimentConfig
    from .params import read_config

    data = read_config(args.config) if args.config else {}
    exp, train, sleep_v = (dict(data.get(k, {})) for k in ("experiment", "train", "sleep"))
    for flag in ("dataset", "data_dir", "seeds", "methods", "engine", "dtype", "sizes", "updates_per_task"):
        if getattr(args, flag) is not None:
            exp[flag] = getattr(args, flag)
    for flag in ("epochs", "loss"):
        if getattr(args, flag) is not None:
            train[flag] = getattr(args, flag)
    if args.preset is not None:
        sleep_v = {"preset": args.preset}
    for flag, name in _SLEEP_FLAGS.items():
        if getattr(args, flag) is not None:
            sleep_v[name] = getattr(args, flag)
    extra = {k: v for k, v in data.items() if k not in ("experiment", "train", "sleep")}
    if args.dataset is not None:
        exp.pop("task_datasets", None)
    return ExperimentConfig.from_dict({**extra, "experiment": exp, "train": train, "sleep": sleep_v})


def _cmd_run(args: argparse.Namespace) -> int:
    from .experiment import format_table, run_experiment
    from .params import read_config

    if args.config and "patches" in read_config(args.config):
        from .patches import PatchesConfig, run_patches

        pcfg = PatchesConfig.from_dict(read_config(args.config))
        summary = run_patches(pcfg, args.out, progress=not args.no_progress)
        print("\nPatches task: accuracy (%) on task 1 across overlaps, mean of "
              f"{pcfg.trials} trials:\n" + summary["table"])
        print(f"wrote {Path(args.out) / 'summary.json'} and patches_overlap.png ({summary['wall_time_s']:.1f} s)")
        return 0
    cfg = _config_from_args(args)
    summary = run_experiment(cfg, args.out, fresh=args.fresh, progress=not args.no_progress)
    print()
    print(f"Final accuracy over all test classes (%), {summary['paper_row']}, engine {cfg.engine}, "
          f"epochs per task {summary['epochs_per_task'][0]}:")
    print(format_table(summary))
    print(f"\nwrote {Path(args.out) / 'summary.json'} and figures in {args.out} "
          f"({summary['wall_time_s']:.1f} s)")
    return 0


def _cmd_conformance(args: argparse.Namespace) -> int:
    from .conformance import check_trace

    report = check_trace(args.trace, engine=args.engine, dtype=args.dtype)
    print(report.format())
    return 0 if report.passed else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return {"run": _cmd_run, "conformance": _cmd_conformance}[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, OSError, FloatingPointError) as exc:
        print(f"sleep-replay {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sleep-replay {args.command}: interrupted; finished results were kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
