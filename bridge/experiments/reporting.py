"""What a run reports: the summary over seeds, the Markdown table with the
paper's numbers next to ours, and the files that hold them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ann.baselines import LEARNERS

from .methods import MethodSpec
from .results_io import atomic_write, write_json

#: SRC_SPEC.md section 6: class-incremental accuracy over all classes (%), by paper row
PAPER_RESULTS: dict[str, dict[str, str]] = {
    "mnist": {"sequential": "19.49", "src": "48.47 +- 5.03", "owm": "77.04 +- 2.91",
              "rehearsal": "79.91 +- 5.34", "rehearsal+src": "86.47 +- 1.06", "parallel": "98.02",
              "icarl(memory=100)": "65.50 +- 4.66", "icarl+src(memory=100)": "78.09 +- 3.16"},
    "fashion-mnist": {"sequential": "19.67", "src": "41.68 +- 5.04", "owm": "58.35 +- 2.05",
                      "rehearsal": "55.19 +- 7.74", "rehearsal+src": "67.82 +- 3.64", "parallel": "87.86"},
    "mnist->fashion-mnist": {"sequential": "47.18", "src": "61.33", "ewc": "about 74-75", "si": "about 74-75",
                             "owm": "91.29 +- 1.05", "rehearsal": "83.13 +- 0.89", "rehearsal+src": "83.18 +- 1.91",
                             "parallel": "90.05"},
    "cifar10": {"sequential": "19.01", "src": "44.55 +- 1.45", "owm": "34.23 +- 1.87", "rehearsal": "39.39 +- 0.64",
                "rehearsal+src": "58.24 +- 0.56", "parallel": "72.43",
                "icarl(memory=500)": "54.90 +- 1.49", "icarl+src(memory=500)": "57.50 +- 0.61"},
}

#: the wake settings of every run in the paper's tables (SRC_SPEC.md section 1; the cifar10 row sleeps on
#: ResNet features with its own widths): a run that changes one is not the paper's and has no paper column
PAPER_WAKE: dict[str, Any] = {"sizes": [784, 1200, 1200, 10], "dropout": 0.25, "init_range": 0.01,
                              "train.loss": "mse", "train.lr": 0.1, "train.momentum": 0.5, "train.batch_size": 100}
PAPER_SIZES: dict[str, list[int]] = {"cifar10": [2048, 1028, 256, 10]}
#: sleep fields a paper preset leaves at the reference's value (sleep lengths vary between the paper's runs)
_SLEEP_LENGTHS = ("steps_first", "steps_per_task")

#: the report files of a run (the plot is written by :mod:`.plots`)
SUMMARY_JSON, SUMMARY_MD, ACCURACY_PLOT = "summary.json", "summary.md", "accuracy_over_tasks.png"
REPORT_FILES = [SUMMARY_JSON, SUMMARY_MD, ACCURACY_PLOT]

Cells = dict[tuple[str, int], dict[str, Any]]


def _mean_sd(values: list[float | None]) -> dict[str, float | None]:
    vals = np.array([v for v in values if v is not None], dtype=float)
    if vals.size == 0:
        return {"mean": None, "sd": None}
    return {"mean": float(vals.mean()), "sd": float(vals.std(ddof=1)) if vals.size > 1 else 0.0}


def summarize(specs: list[MethodSpec], cells: Cells) -> dict[str, Any]:
    """Per method: final accuracy per seed and mean +- SD (sample SD), the mean
    continual-learning metrics, mean curves and accuracy matrix, and (for learners
    with a task sequence) the lowest accuracy on a task right after learning it."""
    methods = {}
    for spec in specs:
        recs = {seed: r for (label, seed), r in cells.items() if label == spec.label}
        finals = {str(s): r["final_accuracy"] for s, r in recs.items()}
        entry = {"final_accuracy": {"per_seed": finals, **_mean_sd(list(finals.values()))}}
        for metric in ("average_accuracy", "backward_transfer", "forgetting"):
            entry[metric] = _mean_sd([r[metric] for r in recs.values()])
        curves = np.array([r["accuracy_all"] for r in recs.values()])
        entry["accuracy_all_mean"] = curves.mean(0).tolist()
        entry["accuracy_matrix_mean"] = np.mean([r["accuracy_matrix"] for r in recs.values()], 0).tolist()
        # accuracy on each task right after training on it (before any sleep)
        if not LEARNERS[spec.base].joint:
            entry["new_task_accuracy_min"] = float(min(
                np.diag(np.array(r.get("accuracy_matrix_before_sleep", r["accuracy_matrix"]))).min()
                for r in recs.values()))
        methods[spec.label] = entry
    return methods


def _paper_sleep(params: Any) -> bool:
    """Whether sleep parameters are one of the paper's presets (sleep lengths aside)."""
    from ..params import PRESETS, preset

    have = {k: v for k, v in params.to_dict().items() if k not in _SLEEP_LENGTHS}
    for name in PRESETS:
        want = {k: v for k, v in preset(name).to_dict().items() if k not in _SLEEP_LENGTHS}
        if have == want:
            return True
    return False


def paper_mismatch(cfg: Any) -> str | None:
    """Why the paper's numbers do not apply to a run of ``cfg`` (an
    :class:`~bridge.experiments.ExperimentConfig`), or ``None`` when they do: the run's
    paper row has numbers, its network and training are the paper's (:data:`PAPER_WAKE`)
    and every sleeping method sleeps with one of the paper's presets (not a tuned or
    changed one). Only then does the table have a ``paper`` column."""
    row = cfg.row
    if row not in PAPER_RESULTS:
        return f"the paper has no row {row!r}"
    wanted = dict(PAPER_WAKE, sizes=PAPER_SIZES.get(row, PAPER_WAKE["sizes"]))
    for key, value in wanted.items():
        obj, name = (cfg.train, key[6:]) if key.startswith("train.") else (cfg, key)
        have = getattr(obj, name)
        if (list(have) if isinstance(have, (list, tuple)) else have) != value:
            return f"{key} = {have!r} is not the paper's {value!r}"
    for spec in cfg.method_specs():
        if spec.sleep and not _paper_sleep(cfg.sleep_params_for(spec)):
            return f"method {spec.label!r} sleeps with parameters that are none of the paper's presets"
    return None


def paper_key(label: str) -> str:
    """The paper's name of a method label (``sequential+src`` is the paper's ``src``)."""
    return "src" if label == "sequential+src" else label


def format_table(summary: dict[str, Any]) -> str:
    """Markdown table: final accuracy per seed, mean +- SD, BWT, forgetting, and the
    paper's number only when the run is the paper's (``summary["paper_mismatch"]`` is
    ``None``: :func:`paper_mismatch`; summaries written before it had the column always)."""
    methods = summary["methods"]
    seeds = list(next(iter(methods.values()))["final_accuracy"]["per_seed"])
    paper = PAPER_RESULTS.get(summary.get("paper_row", ""), {})
    with_paper = bool(paper) and summary.get("paper_mismatch") is None
    fmt = lambda d: "n/a" if d["mean"] is None else f"{d['mean']:.2f} +- {d['sd']:.2f}"  # noqa: E731
    head = ("| method | " + " | ".join(f"seed {s}" for s in seeds)
            + " | mean +- SD | BWT | forgetting |" + (" paper |" if with_paper else ""))
    lines = [head, "|" + "---|" * (len(seeds) + 4 + with_paper)]
    for m, r in methods.items():
        fa = r["final_accuracy"]
        cells = " | ".join(f"{fa['per_seed'][s]:.2f}" if s in fa["per_seed"] else "-" for s in seeds)
        lines.append(f"| {m} | {cells} | {fmt(fa)} | {fmt(r['backward_transfer'])} | {fmt(r['forgetting'])} |"
                     + (f" {paper.get(paper_key(m), '')} |" if with_paper else ""))
    return "\n".join(lines)


def write_reports(out_dir: str | Path, summary: dict[str, Any], cells: Cells) -> None:
    """Write ``summary.json``, ``summary.md`` (the table) and ``accuracy_over_tasks.png``."""
    from .plots import plot_accuracy_over_tasks

    out = Path(out_dir)
    write_json(out / SUMMARY_JSON, summary)
    table = format_table(summary) + "\n"
    atomic_write(out / SUMMARY_MD, lambda p: p.write_text(table))
    plot_accuracy_over_tasks(summary, cells, out / ACCURACY_PLOT)
