"""What a protocol run reports: Markdown tables (means and every seed's value) and figures."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ann.corruptions import CLEAN, CORRUPTIONS  # noqa: E402

from ..experiments.results_io import atomic_write, write_json  # noqa: E402

SUMMARY_JSON, SUMMARY_MD = "summary.json", "summary.md"
#: the figure of each protocol
FIGURES = {"robustness": "robustness.png", "limited_data": "limited_data.png"}
REPORT_FILES = [SUMMARY_JSON, SUMMARY_MD, *FIGURES.values()]
#: column titles
METHOD_TITLES = {"baseline": "baseline", "src": "SRC", "finetune": "fine-tuned on distorted data"}
STAGE_TITLES = {"before_sleep": "before sleep", "after_sleep": "after sleep",
                "after_sleep_finetune": "after sleep + fine-tune", "finetune_only": "fine-tune only (no sleep)"}


def mean_sd(values: list[float]) -> dict[str, float | None]:
    """Mean and sample SD (0 for one value; ``None`` for none)."""
    vals = np.asarray([v for v in values if v is not None], dtype=float)
    if vals.size == 0:
        return {"mean": None, "sd": None}
    return {"mean": float(vals.mean()), "sd": float(vals.std(ddof=1)) if vals.size > 1 else 0.0}


def _fmt(entry: dict[str, Any], signed: bool = False) -> str:
    if entry["mean"] is None:
        return "n/a"
    return f"{entry['mean']:+.2f} +- {entry['sd']:.2f}" if signed else f"{entry['mean']:.2f} +- {entry['sd']:.2f}"


def robustness_tables(summary: dict[str, Any]) -> str:
    """Mean +- SD per condition and network, then every seed's value."""
    res = summary["results"]
    methods, conditions = list(res["methods"]), res["conditions"]
    seeds = list(res["methods"][methods[0]][CLEAN]["per_seed"])
    rows = [*conditions, "corrupted_mean"]
    title = {"corrupted_mean": "mean of the corrupted conditions"}
    lines = ["| condition | " + " | ".join(METHOD_TITLES[m] for m in methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for c in rows:
        lines.append(f"| {title.get(c, c)} | " + " | ".join(_fmt(res["methods"][m][c]) for m in methods) + " |")
    lines += ["", "Every seed:", "", "| condition | network | " + " | ".join(f"seed {s}" for s in seeds) + " |",
              "|---" * (len(seeds) + 2) + "|"]
    for c in rows:
        for m in methods:
            vals = res["methods"][m][c]["per_seed"]
            lines.append(f"| {title.get(c, c)} | {METHOD_TITLES[m]} | " + " | ".join(f"{vals[s]:.2f}" for s in seeds)
                         + " |")
    return "\n".join(lines)


def limited_data_tables(summary: dict[str, Any]) -> str:
    """Mean +- SD per percentage and stage (with the gains), then every seed's value."""
    rows = summary["results"]["rows"]
    stages = summary["results"]["stages"]
    seeds = list(rows[0][stages[0]]["per_seed"])
    head = (["% of training set", "examples"] + [STAGE_TITLES[s] for s in stages]
            + ["sleep gain (after - before)", "sleep + fine-tune - fine-tune only"])
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        n = sorted(set(r["train_examples"].values()))
        cells = [f"{r['percent']:g}", "/".join(map(str, n))] + [_fmt(r[s]) for s in stages]
        cells += [_fmt(r["sleep_gain"], True), _fmt(r["sleep_finetune_gain"], True)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Every seed:", "", "| % | stage | " + " | ".join(f"seed {s}" for s in seeds) + " |",
              "|---" * (len(seeds) + 2) + "|"]
    for r in rows:
        for s in stages:
            vals = r[s]["per_seed"]
            lines.append(f"| {r['percent']:g} | {STAGE_TITLES[s]} | " + " | ".join(f"{vals[k]:.2f}" for k in seeds)
                         + " |")
    return "\n".join(lines)


def header(summary: dict[str, Any]) -> str:
    """One paragraph saying what was run."""
    cfg = summary["config"]
    exp, name = cfg["experiment"], summary["protocol"]
    n_cand = max(1, len(cfg["select"]["candidates"]))
    objective = cfg[name]["objective"]
    return (f"{name.replace('_', ' ')}: {exp['dataset']}, {exp['model']} {'-'.join(map(str, exp['sizes']))}, "
            f"{len(exp['seeds'])} seed(s), test accuracy (%), mean +- SD over seeds. Sleep: "
            f"{cfg['sleep']['steps_first']} steps, chosen per seed among {n_cand} candidate(s) on a validation split "
            f"of {exp['validation_fraction']:g} of the training set (objective: {objective}).")


def write_reports(out: Path, summary: dict[str, Any]) -> str:
    """Write ``summary.json``, ``summary.md`` and the protocol's figure; returns the Markdown."""
    write_json(out / SUMMARY_JSON, summary)
    tables = robustness_tables(summary) if summary["protocol"] == "robustness" else limited_data_tables(summary)
    text = header(summary) + "\n\n" + tables + "\n"
    atomic_write(out / SUMMARY_MD, lambda p: p.write_text(text))
    figure = out / FIGURES[summary["protocol"]]
    if summary["protocol"] == "robustness":
        plot_robustness(summary, figure)
    else:
        plot_limited_data(summary, figure)
    return text


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png"))
    plt.close(fig)


def plot_robustness(summary: dict[str, Any], path: Path) -> None:
    """Accuracy against corruption level, one panel per kind, a line per network (mean +- SD)."""
    res = summary["results"]
    kinds = [k for k in CORRUPTIONS if any(c.startswith(k + " ") for c in res["conditions"])]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.6), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        conds = [CLEAN] + [c for c in res["conditions"] if c.startswith(kind + " ")]
        levels = [0.0] + [float(c.split()[1]) for c in conds[1:]]
        for m, entry in res["methods"].items():
            mean = np.array([entry[c]["mean"] for c in conds])
            sd = np.array([entry[c]["sd"] for c in conds])
            ax.plot(levels, mean, marker="o", label=METHOD_TITLES[m])
            ax.fill_between(levels, mean - sd, mean + sd, alpha=0.2)
        ax.set_xlabel(f"{kind} level (0 = clean)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{summary['config']['experiment']['dataset']}: robustness", fontsize=10)
    _save(fig, path)


def plot_limited_data(summary: dict[str, Any], path: Path) -> None:
    """Test accuracy against the percentage of training data, a line per stage (mean +- SD)."""
    rows = summary["results"]["rows"]
    x = np.array([r["percent"] for r in rows])
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for stage in summary["results"]["stages"]:
        mean = np.array([r[stage]["mean"] for r in rows])
        sd = np.array([r[stage]["sd"] for r in rows])
        ax.plot(x, mean, marker="o", label=STAGE_TITLES[stage])
        ax.fill_between(x, mean - sd, mean + sd, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{v:g}" for v in x])
    ax.set_xlabel("% of the training set")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title(f"{summary['config']['experiment']['dataset']}: limited data")
    _save(fig, path)
