"""Command line: ``sleep-replay run`` and ``sleep-replay conformance``.

Exit codes: 0 success; 1 a conformance FAIL (and nothing else); 2 bad input
(a bad flag, config, data or trace file: one line on stderr, the traceback too
with ``-v``); 130 interrupted (Ctrl-C; finished results are kept, files are
written atomically). Any other exception is a bug and propagates with its
traceback. The sleep flags are generated from the metadata of
:class:`bridge.params.SleepParams` (unit, help, choices).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import traceback
import typing
from pathlib import Path
from typing import Any

import snn
from ann import DATASETS
from ann.baselines import LEARNERS
from ann.training import LOSSES
from snn.base import DTYPES
from snn.errors import MissingExtraError

from .version import __version__
from .errors import USER_ERRORS, ConfigError
from .params import PRESETS, SleepParams, field_specs, read_config
from .validation import check_mapping

logger = logging.getLogger(__name__)

#: run flag (argparse dest) -> (config table, field) of an experiment config
_RUN_FLAGS: dict[str, tuple[str, str]] = {
    "dataset": ("experiment", "dataset"), "data_dir": ("experiment", "data_dir"),
    "seeds": ("experiment", "seeds"), "methods": ("experiment", "methods"), "engine": ("experiment", "engine"),
    "dtype": ("experiment", "dtype"), "sizes": ("experiment", "sizes"), "device": ("experiment", "device"),
    "updates_per_task": ("experiment", "updates_per_task"), "epochs": ("train", "epochs"),
    "loss": ("train", "loss"),
}
#: run flags a protocol config (``[robustness]``, ``[limited_data]``) refuses; the others override its fields
_PROTOCOL_REFUSED = ("methods", "updates_per_task")
#: run flags a ``[patches]`` config honours, as (table, field); the others are refused
_PATCHES_FLAGS: dict[str, tuple[str, str]] = {"engine": ("patches", "engine")}
_SLEEP_DEST = "sleep_"
#: further sub-commands: name -> module with ``add_parser(subparsers, parents)`` and ``run(args) -> int``
EXTRA_COMMANDS: dict[str, str] = {"analyze": "bridge.analysis.command", "tune": "bridge.tuning.command",
                                  "rescore": "bridge.tuning.rescore_command"}


def _sleep_flag_kwargs(f: Any, hints: dict[str, Any]) -> dict[str, Any]:
    """argparse keywords of the flag of :class:`SleepParams` field ``f``."""
    meta = f.metadata
    unit = f" [{meta['unit']}]" if meta["unit"] and meta["unit"] != "1" else ""
    default = " ".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
    if meta.get("default_text"):  # a default that needs words (e.g. an empty tuple)
        default = meta["default_text"]
    kw: dict[str, Any] = {"dest": _SLEEP_DEST + f.name, "default": None,
                          "help": f"{meta['help']}{unit} (sleep.{f.name}; default {default} or the preset's)"}
    kind = typing.get_origin(hints[f.name]) or hints[f.name]
    if meta["choices"]:
        kw["choices"] = meta["choices"]
    elif kind is tuple:
        kw.update(type=float, nargs="+", metavar="FLOAT")
    else:
        kw.update(type=kind, metavar=kind.__name__.upper())
    return kw


def _add_sleep_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sleep parameters", "override single fields of the config's [sleep] table "
                                      "(after --preset)")
    hints = typing.get_type_hints(SleepParams)
    for f in field_specs():
        names = [f"--{f.name.replace('_', '-')}"] + [f"--{a}" for a in f.metadata["aliases"]]
        group.add_argument(*names, **_sleep_flag_kwargs(f, hints))


def _methods_help() -> str:
    return (f"methods to run: {', '.join(sorted(LEARNERS))}; any but a joint learner followed by +src sleeps "
            "after every task (src = sequential+src); options inline, e.g. icarl+src(memory=100) "
            "(default sequential src)")


def build_parser() -> argparse.ArgumentParser:
    engines = ", ".join(snn.available_engines())
    p = argparse.ArgumentParser(prog="sleep-replay", description="Sleep Replay Consolidation for PyTorch networks")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log details; print the traceback of errors")
    sub = p.add_subparsers(dest="command", required=True)
    # -v after the command too; SUPPRESS: a -v before the command is not reset by the subcommand's default
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="log details; print the traceback of errors")

    def command(name: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[verbose], **kw)

    r = command("run", help="class-incremental training with and without sleep, or a protocol (robustness, "
                            "limited data)",
                description="Train on class-incremental tasks with and without sleep, or run the robustness or "
                            "limited-data protocol of a config with a [robustness] or [limited_data] table; write a "
                            "table, summary.json and figures. Flags override single fields of the config file.")
    r.add_argument("config", nargs="?", metavar="CONFIG",
                   help="TOML/JSON config with [experiment], [train], [sleep] tables, a [patches] config, or a "
                        "protocol config with a [robustness] or [limited_data] table (docs/protocols.md)")
    r.add_argument("--dataset", metavar="NAME",
                   help=f"data set: {', '.join(DATASETS)} (default mnist-subset; mnist needs --data-dir)")
    r.add_argument("--data-dir", metavar="PATH", help="folder of IDX files, or the .npz file of dataset 'features'")
    r.add_argument("--seeds", type=int, nargs="+", metavar="SEED", help="seeds, distinct integers >= 0 "
                   "(default 0 1 2)")
    r.add_argument("--methods", nargs="+", metavar="METHOD", help=_methods_help())
    r.add_argument("--engine", metavar="ENGINE", help=f"sleep engine: {engines} (default fast)")
    r.add_argument("--dtype", choices=tuple(DTYPES), help="sleep arithmetic (default float64)")
    r.add_argument("--device", metavar="DEVICE",
                   help="where training runs: cpu (default), cuda or cuda:N; sleep always runs on the CPU")
    r.add_argument("--sizes", type=int, nargs="+", metavar="N", help="layer widths, e.g. 784 1200 1200 10")
    r.add_argument("--epochs", type=int, metavar="N", help="epochs per task (default 0: from --updates-per-task)")
    r.add_argument("--updates-per-task", type=int, metavar="N", help="SGD updates per task (reference: 100)")
    r.add_argument("--loss", choices=LOSSES, help="mse on ReLU outputs (reference) or ce on logits")
    r.add_argument("--preset", choices=sorted(PRESETS),
                   help="the paper's sleep hyperparameters; replaces only the fields the preset names "
                        "(the config's sleep lengths and other fields survive)")
    _add_sleep_flags(r)
    r.add_argument("--out", default="results/run", metavar="DIR", help="output folder (default results/run)")
    r.add_argument("--fresh", action="store_true",
                   help="recompute every run (earlier results are archived); default: resume a run of the same config")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")
    dask = r.add_argument_group("parallel runs on Dask (same numbers as a serial run; docs/distributed.md)")
    dask.add_argument("--workers", type=_positive_int, metavar="N",
                      help="run the (method, seed) cells on a local Dask cluster of N worker processes "
                           "(default: serial, the fastest on a 2-core machine)")
    dask.add_argument("--scheduler", metavar="ADDRESS",
                      help="run the cells on the existing Dask cluster at ADDRESS, e.g. tcp://host:8786")
    dask.add_argument("--threads-per-worker", type=_positive_int, metavar="N",
                      help="threads of each cell, serial or on Dask (default: torch's thread count here, "
                           "the same for both so that they give the same numbers)")

    c = command("conformance", help="replay a reference trace (.npz) and compare",
                description="Exit 0 if spike counts match exactly, weights within 1e-6 and alpha within 1e-5 "
                            "relative; 1 on a FAIL; 2 if the trace file is missing or malformed.")
    c.add_argument("trace", metavar="TRACE", help="reference trace .npz (format: see docs/conformance.md)")
    c.add_argument("--engine", default="fast", metavar="ENGINE", help=f"sleep engine: {engines} (default fast)")
    c.add_argument("--dtype", default="float64", choices=tuple(DTYPES), help="sleep arithmetic (default float64)")
    for name, module in EXTRA_COMMANDS.items():
        try:
            importlib.import_module(module).add_parser(sub, parents=[verbose])
        except MissingExtraError as exc:  # listed, and running it says which extra to install
            _add_unavailable_command(sub, name, exc, parents=[verbose])
    return p


def _add_unavailable_command(sub: Any, name: str, error: MissingExtraError,
                             parents: list[argparse.ArgumentParser]) -> None:
    """A sub-command whose optional dependencies are not installed: it takes any
    arguments and fails with ``error`` (exit 2), which names the extra."""
    p = sub.add_parser(name, parents=parents, help=f"(not installed: {error})", description=str(error))
    p.set_defaults(missing_extra=error)


# ----------------------------------------------------------------- config
def _sleep_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {f.name: getattr(args, _SLEEP_DEST + f.name) for f in field_specs()
            if getattr(args, _SLEEP_DEST + f.name) is not None}


def _with_preset(sleep_table: dict[str, Any], name: str | None) -> dict[str, Any]:
    """``--preset NAME`` replaces the fields the preset names (and the table's
    ``preset``); every other field of the table survives."""
    if name is None:
        return sleep_table
    kept = {k: v for k, v in sleep_table.items() if k != "preset" and k not in PRESETS[name]}
    return {"preset": name, **kept}


def _tables(data: dict[str, Any], *names: str) -> list[dict[str, Any]]:
    return [check_mapping(data.get(n, {}), f"[{n}]") for n in names]


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def config_data_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The config file's tables with the flags applied (flags override single fields)."""
    data = read_config(args.config) if args.config else {}
    exp, train, sleep_v = _tables(data, "experiment", "train", "sleep")
    tables = {"experiment": exp, "train": train}
    for flag, (table, name) in _RUN_FLAGS.items():
        if getattr(args, flag) is not None:
            tables[table][name] = getattr(args, flag)
    if args.dataset is not None:
        exp.pop("task_datasets", None)
    sleep_v = {**_with_preset(sleep_v, args.preset), **_sleep_overrides(args)}
    return {**data, "experiment": exp, "train": train, "sleep": sleep_v}


def patches_data_from_args(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, Any]:
    """A ``[patches]`` config with the flags it honours applied; a flag it cannot
    honour raises :class:`ConfigError` naming it."""
    refused = [f"--{flag.replace('_', '-')}" for flag in [*_RUN_FLAGS, "preset", "workers", "scheduler",
                                                           "threads_per_worker"]
               if flag not in _PATCHES_FLAGS and getattr(args, flag) is not None]
    if refused:
        raise ConfigError(f"{', '.join(refused)} do(es) not apply to a [patches] config (it honours "
                          f"--engine, the sleep flags, --out, --fresh, --no-progress); edit the config instead")
    patches, sleep_v = _tables(data, "patches", "sleep")
    for flag, (_, name) in _PATCHES_FLAGS.items():
        if getattr(args, flag) is not None:
            patches[name] = getattr(args, flag)
    if "engine" in patches and patches["engine"] not in snn.available_engines():
        raise ConfigError(f"patches.engine: unknown engine {patches['engine']!r}; "
                          f"available: {snn.available_engines()}")
    return {**data, "patches": patches, "sleep": {**sleep_v, **_sleep_overrides(args)}}


def protocol_data_from_args(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, Any]:
    """A protocol config's tables with the flags applied; ``--methods`` and
    ``--updates-per-task`` raise :class:`ConfigError` (a protocol has neither)."""
    refused = [f"--{flag.replace('_', '-')}" for flag in _PROTOCOL_REFUSED if getattr(args, flag) is not None]
    if refused:
        raise ConfigError(f"{', '.join(refused)} do(es) not apply to a protocol config ([robustness] or "
                          "[limited_data]); edit the config instead")
    exp, train, sleep_v = _tables(data, "experiment", "train", "sleep")
    for flag, (table, name) in _RUN_FLAGS.items():
        if flag not in _PROTOCOL_REFUSED and getattr(args, flag) is not None:
            {"experiment": exp, "train": train}[table][name] = getattr(args, flag)
    sleep_v = {**_with_preset(sleep_v, args.preset), **_sleep_overrides(args)}
    return {**data, "experiment": exp, "train": train, "sleep": sleep_v}


def _cmd_protocol(args: argparse.Namespace, data: dict[str, Any]) -> int:
    from .protocols import ProtocolConfig, run_protocol

    cfg = ProtocolConfig.from_dict(protocol_data_from_args(args, data))
    if args.workers is not None and args.scheduler is not None:
        raise ConfigError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    summary = run_protocol(cfg, args.out, fresh=args.fresh, progress=not args.no_progress, workers=args.workers,
                           scheduler=args.scheduler, threads_per_worker=args.threads_per_worker)
    print("\n" + summary["table"])
    print(f"wrote {Path(args.out) / 'summary.json'} and figures in {args.out} ({summary['wall_time_s']:.1f} s)")
    return 0


# --------------------------------------------------------------- commands
def _cmd_run(args: argparse.Namespace) -> int:
    from .protocols import is_protocol_config

    data = read_config(args.config) if args.config else {}
    if is_protocol_config(data):
        return _cmd_protocol(args, data)
    if "patches" in data:
        from .experiments import PatchesConfig, run_patches

        pcfg = PatchesConfig.from_dict(patches_data_from_args(args, data))
        summary = run_patches(pcfg, args.out, progress=not args.no_progress)
        print("\nPatches task: accuracy (%) on task 1 across overlaps, mean of "
              f"{pcfg.trials} trials:\n" + summary["table"])
        print(f"wrote {Path(args.out) / 'summary.json'} and patches_overlap.png ({summary['wall_time_s']:.1f} s)")
        return 0
    from .experiments import ExperimentConfig, format_table, run_experiment

    cfg = ExperimentConfig.from_dict(config_data_from_args(args))
    if args.workers is not None and args.scheduler is not None:
        raise ConfigError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    summary = run_experiment(cfg, args.out, fresh=args.fresh, progress=not args.no_progress,
                             workers=args.workers, scheduler=args.scheduler,
                             threads_per_worker=args.threads_per_worker)
    print()
    print(f"Final accuracy over all test classes (%), {summary['paper_row']}, engine {cfg.engine}, "
          f"training on {', '.join(summary['devices'])}, "
          f"epochs per task {summary['epochs_per_task'][0]}:")
    print(format_table(summary))
    if summary.get("paper_mismatch"):
        print(f"(no paper column: {summary['paper_mismatch']})")
    print(f"\nwrote {Path(args.out) / 'summary.json'} and figures in {args.out} "
          f"({summary['wall_time_s']:.1f} s)")
    return 0


def _cmd_conformance(args: argparse.Namespace) -> int:
    from .conformance import check_trace

    report = check_trace(args.trace, engine=args.engine, dtype=args.dtype)
    print(report.format())
    return 0 if report.passed else 1


COMMANDS = {"run": _cmd_run, "conformance": _cmd_conformance}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse exits 2 itself on a bad flag)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and getattr(args, "missing_extra", None) is None:  # what parse_args does
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if getattr(args, "missing_extra", None) is not None:
            raise args.missing_extra
        run = COMMANDS.get(args.command) or importlib.import_module(EXTRA_COMMANDS[args.command]).run
        return run(args)
    except USER_ERRORS as exc:  # bad input: one line; anything else is a bug and propagates
        if args.verbose:
            traceback.print_exc()
        print(f"sleep-replay {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sleep-replay {args.command}: interrupted; finished results were kept", file=sys.stderr)
        return 130


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def console_main() -> None:
    """Entry point of the ``sleep-replay`` command: :func:`main`, then exit with its code.

    After Ctrl-C the process ends with ``os._exit(130)`` once the output is flushed
    (every result file is already whole and the lock released by then): CPython marks a
    KeyboardInterrupt raised inside code that C extensions run with ``PyRun_String``
    as "unhandled" even when :func:`main` caught it, and would then end the process by
    SIGINT (exit status -2) instead of 130.

    SIGTERM (``kill``, a batch system's time limit or ``scancel``) stops the command the
    same way as Ctrl-C: finished results are kept, no file is left half-written, exit 130.
    """
    signal.signal(signal.SIGTERM, _terminate)
    code = main()
    if code == 130:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)


if __name__ == "__main__":
    console_main()
