"""The READMEs' 10-seed gain table, rendered from results/paper/unseen_seeds/summary.json.

    python benchmarks/readme_gains.py            # rewrite the table in README.md and results/paper/README.md
    python benchmarks/readme_gains.py --check    # exit 1 if either file's table differs from summary.json

The table sits between the markers ``<!-- gains-10-seeds:begin -->`` and
``<!-- gains-10-seeds:end -->``; nothing between them is typed by hand. Each row is one
claim of ``benchmarks/bench_unseen_seeds.py`` (the five that issue #25 names): the paired
gain B - A (mean +- sample SD) on the committed seeds 0-4, the unseen seeds 100-104 and
all 10, how many seeds B is ahead, the paired t test's p on all 10 and every seed's gain.
tests/test_unseen_seeds.py checks that both files agree with summary.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SUMMARY = REPO / "results" / "paper" / "unseen_seeds" / "summary.json"
TARGETS = (REPO / "README.md", REPO / "results" / "paper" / "README.md")
SUMMARY_MD = SUMMARY.with_suffix(".md").relative_to(REPO).as_posix()  # as the tables name it
BEGIN, END = "<!-- gains-10-seeds:begin -->", "<!-- gains-10-seeds:end -->"

# (claim name in summary.json, row label)
ROWS = (
    ("fashion_rehearsal_tuned", "Fashion-MNIST: rehearsal + SRC, tuned preset, vs rehearsal"),
    ("m2f_tuned", "MNIST -> Fashion-MNIST: SRC, tuned preset, vs sequential"),
    ("subset_tuned", "MNIST subset: SRC, tuned preset, vs SRC, paper's preset"),
    ("fashion_src", "Fashion-MNIST: SRC (paper's preset) vs sequential"),
    ("fashion_icarl_tuned", "Fashion-MNIST: iCaRL + SRC, tuned preset, vs iCaRL (K = 2000)"),
)


def _mean_sd(mean: float, sd: float | None, sign: bool = False) -> str:
    m = f"{mean:+.2f}" if sign else f"{mean:.2f}"
    return f"{m} +- {'-' if sd is None else f'{sd:.2f}'}"


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def table(summary: dict[str, Any], link: str | None = "results/paper/unseen_seeds/summary.md") -> str:
    """The markdown table (with its markers) of the claims in ``ROWS``.

    Args:
        summary: the parsed summary.json of ``bench_unseen_seeds.py``.
        link: the relative link to summary.md from the file the table goes into; ``None``: name the
            files as repository paths, without links (results/paper/README.md, which the Sphinx site
            includes, where a link to a file outside the site would not resolve).

    Raises:
        KeyError: a claim of ``ROWS`` is missing from ``summary``.
        ValueError: a claim is still pending (no value for some seeds).
    """
    names = list(summary["seed_sets"])  # "0-4", "100-104", "all 10"
    md = SUMMARY_MD
    json_ref, md_ref = ((f"[summary.json]({link.replace('.md', '.json')})", f"[summary.md]({link})") if link
                        else (f"`{md.replace('.md', '.json')}`", f"`{md}`"))
    first, new, both = names
    lines = [BEGIN,
             f"Paired gain B - A in accuracy points, mean +- SD over seeds; seeds {first} are the committed results, "
             f"seeds {new} were never used before. Generated from {json_ref} by "
             f"`benchmarks/readme_gains.py`; every arm's accuracies and the Wilcoxon tests: {md_ref}.",
             "",
             f"| comparison (B vs A) | A, {both} | B, {both} | gain, seeds {first} | gain, seeds {new} | "
             f"**gain, {both}** | B ahead | t test p | gain per seed ({first}; {new}) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, label in ROWS:
        rec = summary["claims"][name]
        if rec.get("status") != "done":
            raise ValueError(f"claim {name!r} is {rec.get('status')!r} in summary.json: run bench_unseen_seeds.py")
        st = rec["stats"]
        a, s1, s2 = st[both], st[first], st[new]
        per_seed = "; ".join(", ".join(f"{g:+.1f}" for g in st[n]["gain"]) for n in (first, new))
        lines.append(
            f"| {label} | {_mean_sd(a['a_mean'], a['a_sd'])} | {_mean_sd(a['b_mean'], a['b_sd'])} | "
            f"{_mean_sd(s1['gain_mean'], s1['gain_sd'], True)} | {_mean_sd(s2['gain_mean'], s2['gain_sd'], True)} | "
            f"**{_mean_sd(a['gain_mean'], a['gain_sd'], True)}** | {a['b_ahead']}/{a['n']} | {_p(a['t_p'])} | "
            f"{per_seed} |")
    lines.append(END)
    return "\n".join(lines)


def block(text: str) -> str:
    """The table between the markers in ``text`` (markers included).

    Raises:
        ValueError: the markers are missing or out of order.
    """
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        raise ValueError(f"no {BEGIN} ... {END} block")
    return text[i:j + len(END)]


def link_for(target: Path) -> str | None:
    """The relative link from ``target``'s folder to summary.md (``None`` for results/paper/README.md,
    which docs/results.md includes)."""
    if target.resolve() == (REPO / "results" / "paper" / "README.md").resolve():
        return None
    return Path(os.path.relpath(SUMMARY.with_suffix(".md"), target.resolve().parent)).as_posix()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 where a table differs")
    args = parser.parse_args(argv)
    summary = json.loads(SUMMARY.read_text())
    stale = []
    for target in TARGETS:
        text = target.read_text()
        want = table(summary, link_for(target))
        if block(text) != want:
            stale.append(target)
            if not args.check:
                target.write_text(text.replace(block(text), want))
    for target in stale:
        print(f"{'differs' if args.check else 'updated'}: {target.relative_to(REPO)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
