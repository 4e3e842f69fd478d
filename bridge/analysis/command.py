"""``sleep-replay analyze RUN_DIR``: the sleep analyses of a finished run.

Writes ``RUN_DIR/analysis/analysis.json`` (schema: docs/analysis.md) and the
figures next to it, and prints the summary per hidden layer.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

#: folder (inside the run folder) of the analysis outputs
ANALYSIS_DIR = "analysis"
ANALYSIS_JSON = "analysis.json"


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser] | None = None) -> argparse.ArgumentParser:
    """Add the ``analyze`` sub-command to ``subparsers`` (of ``sleep-replay``)."""
    p = subparsers.add_parser(
        "analyze", parents=parents or [], help="sleep analyses of a finished run (Figs 4-6 of the paper)",
        description="Re-run each sleep of a finished run from its saved models and write analysis.json "
                    "(representational correlation, sparseness, reactivation, input drive, weight changes) "
                    "and figures to RUN_DIR/analysis/.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="results folder of `sleep-replay run` (with models/)")
    p.add_argument("--method", metavar="METHOD",
                   help="sleeping method to analyse (default: the run's first X+src method)")
    p.add_argument("--seeds", type=int, nargs="+", metavar="SEED", help="seeds to analyse (default: all of the run)")
    p.add_argument("--top-n", type=int, default=100, metavar="N",
                   help="selective units per task/class: the top-N by mean activation (default 100)")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN_DIR/analysis)")
    p.add_argument("--no-figures", action="store_true", help="write analysis.json only")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def clean_json(value: Any) -> Any:
    """``value`` with NaN/infinite floats replaced by ``None`` and NumPy scalars made
    plain, so it is strict JSON."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def format_summary(report: dict[str, Any]) -> str:
    """The summary per hidden layer as a Markdown table."""
    s = report["summary"]
    if not s:
        return "(nothing analysed)"
    lines = [f"Sleep after task {s['sleep_after_task']}, method {report['method']}, mean of {s['seeds']} seed(s):",
             "| layer | between-class r before -> after | within-class r before -> after | "
             "sparseness (1-a) before -> after | active fraction before -> after | task units / random "
             "(sleep spikes) | significant (Bonferroni p<0.05) | max p_bonf | drive change old / newest |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, e in s["layers"].items():
        r = e["task_reactivation"]
        d = e["input_drive"]
        ba = lambda m: f"{_fmt(e[m]['before'])} -> {_fmt(e[m]['after'])}"  # noqa: E731
        lines.append(f"| {name} | {ba('between_class_correlation')} | {ba('within_class_correlation')} | "
                     f"{ba('treves_rolls_sparseness')} | {ba('active_fraction')} | "
                     f"{_fmt(r['selective_mean'], 2)} / {_fmt(r['random_mean'], 2)} | "
                     f"{r['significant_tests']} of {r['tests']} | {_fmt(r['max_p_bonferroni'], 4)} | "
                     f"{_fmt(d['old_tasks_change'])} / {_fmt(d['newest_task_change'])} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the analysis for parsed ``args``; returns the exit code (0)."""
    from ..experiments.results_io import results_lock, write_json
    from .run import analyze_run

    run_dir = Path(args.run_dir)
    out = Path(args.out) if args.out else run_dir / ANALYSIS_DIR
    with results_lock(run_dir):  # no run may write the folder meanwhile
        report = analyze_run(run_dir, method=args.method, seeds=args.seeds, top_n=args.top_n,
                             figures_dir=None if args.no_figures else out, progress=not args.no_progress)
        report = clean_json(report)
        write_json(out / ANALYSIS_JSON, report)
    print(format_summary(report))
    print(f"\nwrote {out / ANALYSIS_JSON}" + (f" and {len(report.get('figures', []))} figures" if not args.no_figures
                                             else "") + f" ({report['wall_time_s']:.1f} s)")
    return 0


__all__ = ["ANALYSIS_DIR", "ANALYSIS_JSON", "add_parser", "clean_json", "format_summary", "run"]
