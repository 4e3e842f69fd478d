"""The README's claims of a gain (of SRC, or of a tuned sleep) checked on seeds never used (issue #25).

    python benchmarks/bench_unseen_seeds.py [--claims NAME ...] [--seeds 100 101 102 103 104]
        [--out results/paper/unseen_seeds] [--check-committed] [--list] [--no-progress]

Every claim compares two arms, a (config, method) each, e.g. rehearsal against
rehearsal + SRC with the tuned preset. Seeds 0-4 are the committed results
(``results/paper/.../summary.json``, read, not rerun); arms without a committed
5-seed result (the demo config) are run on those seeds too. The new seeds are run
through the public harness (:func:`bridge.experiments.run_experiment`, the same as
``sleep-replay run CONFIG --seeds ... --out OUT/runs/<config>``) without saving
models. For each claim, OUT/summary.md gets the per-seed table and, for seeds 0-4,
the new seeds and all of them, mean +- SD of both arms, the paired gain B - A
(mean +- SD), how many seeds B is ahead and two-sided paired tests (t test and
Wilcoxon, scipy.stats); OUT/summary.json holds the same and where every value came from.

Resumes: a finished cell (OUT/runs/<config>/cells/...) is never recomputed, and a
config whose cells are all there is not run at all. Output files are written
atomically after every config, so an interrupted run leaves complete files; claims
still missing a value are listed as pending. ``--check-committed`` also reruns
seeds 0-4 here and reports how far the rerun is from the committed numbers
(the committed numbers are still the ones used). ``--claims`` runs a subset.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from tqdm import tqdm

from bridge.experiments import ExperimentConfig, load_finished_cell, run_experiment
from bridge.experiments.compare import comparison_markdown, format_p, paired_stats, per_seed_accuracy
from bridge.experiments.results_io import atomic_write, read_json, write_json
from bridge.version import __version__

REPO = Path(__file__).resolve().parents[1]
COMMITTED_SEEDS = (0, 1, 2, 3, 4)
NEW_SEEDS = (100, 101, 102, 103, 104)
LENT = "seeds 0-4 were computed on the lent 16-core machine's CPU (Python 3.12, torch 2.11), the new seeds here"


@dataclass(frozen=True)
class Arm:
    """One side of a claim: ``method`` of ``config`` (relative to the repository), and
    the committed results folder holding its seeds 0-4 (``None``: run them too)."""
    label: str
    config: str
    method: str
    committed: str | None = None


@dataclass(frozen=True)
class Claim:
    name: str
    title: str
    a: Arm
    b: Arm
    claimed: str  # what README.md / results/paper/README.md say (seeds 0-4)
    note: str = ""


def _arms(config: str, committed: str | None, a: tuple[str, str], b: tuple[str, str]) -> tuple[Arm, Arm]:
    return Arm(a[0], config, a[1], committed), Arm(b[0], config, b[1], committed)


DEMO, FASHION = "configs/demo.toml", "configs/tables/fashion_mnist.toml"
M2F, F2M = "configs/tables/mnist_to_fashion_reference.toml", "configs/tables/fashion_to_mnist_reference.toml"
SUBSET_TUNED = Arm("SRC, tuned preset", "configs/tuned/tuned_subset_refine.toml", "src",
                   "results/paper/tuned/tuned_subset_refine")
DEMO_SRC = Arm("SRC, paper's preset", DEMO, "src")
FASHION_SRC = Arm("SRC, paper's preset", FASHION, "src", "results/paper/tables/fashion_mnist")
M2F_TUNED = Arm("SRC, tuned preset", "configs/tuned/tuned_mnist_to_fashion_reference_refine.toml", "src",
                "results/paper/tuned/tuned_mnist_to_fashion_reference_refine")

CLAIMS: tuple[Claim, ...] = (
    # the claims issue #25 checked first, then every other gain of SRC or of tuning in the READMEs
    Claim("fashion_rehearsal_tuned", "Fashion-MNIST: rehearsal + SRC with the tuned preset (second stage) vs rehearsal",
          *_arms("configs/tuned/tuned_fashion_rehearsal_refine.toml", "results/paper/tuned/tuned_fashion_rehearsal_refine",
                 ("rehearsal", "rehearsal"), ("rehearsal + SRC", "rehearsal+src")), "59.60 -> 65.16 +- 1.53 (+5.6)"),
    Claim("m2f_tuned", "MNIST -> Fashion-MNIST, reference protocol: SRC with the tuned preset (second stage) vs sequential",
          Arm("sequential", M2F, "sequential", "results/paper/tables/mnist_to_fashion_reference"), M2F_TUNED,
          "42.59 -> 50.50 +- 1.48 (+7.9)"),
    Claim("subset_tuned", "MNIST subset, demo protocol: SRC with the tuned preset (second stage) vs the paper's preset",
          DEMO_SRC, SUBSET_TUNED, "45.0 +- 7.8 -> 57.12 +- 3.04 (+12.1)",
          "the paper's preset (configs/demo.toml, 5 seeds) is not committed: its seeds 0-4 are run here"),
    Claim("fashion_src", "Fashion-MNIST: SRC (paper's preset) vs sequential",
          *_arms(FASHION, "results/paper/tables/fashion_mnist", ("sequential", "sequential"), ("SRC", "src")),
          "19.93 -> 41.20 +- 2.48 (paper 19.67 -> 41.68)"),
    Claim("fashion_icarl_tuned", "Fashion-MNIST: iCaRL + SRC with the tuned preset vs iCaRL (K = 2000)",
          *_arms("configs/tuned/tuned_fashion_icarl.toml", "results/paper/tuned/tuned_fashion_icarl",
                 ("iCaRL", "icarl"), ("iCaRL + SRC", "icarl+src")), "64.61 -> 64.71 (+0.10, within seed noise)"),
    Claim("demo_src", "MNIST subset, demo protocol: SRC (paper's preset) vs sequential",
          *_arms(DEMO, None, ("sequential", "sequential"), ("SRC", "src")),
          "README example, seeds 0-2: 19.67 -> 49.50", "no committed 5-seed run: seeds 0-4 are run here too"),
    Claim("subset_tuned_stage1", "MNIST subset, demo protocol: SRC with the first-stage tuned preset vs the paper's",
          DEMO_SRC, Arm("SRC, first-stage preset", "configs/tuned/tuned_subset.toml", "src",
                        "results/paper/tuned/tuned_subset"), "45.0 -> 54.9 +- 2.9"),
    Claim("subset_variant", "MNIST subset: SRC with the plasticity_gain variant's preset vs the second-stage preset",
          SUBSET_TUNED, Arm("SRC, variant preset", "configs/tuned/tuned_subset_variant.toml", "src",
                            "results/paper/tuned/tuned_subset_variant"), "56.98 +- 4.11, the same as 57.12 +- 3.04"),
    Claim("subset_table1_src", "MNIST subset, Table 1 config: SRC vs sequential",
          *_arms("configs/tables/mnist_subset_table1.toml", "results/paper/tables/mnist_subset",
                 ("sequential", "sequential"), ("SRC", "src")), "19.6 -> 44.6 +- 7.9", LENT),
    Claim("subset_table1_rehearsal", "MNIST subset, Table 1 config: rehearsal + SRC vs rehearsal",
          *_arms("configs/tables/mnist_subset_table1.toml", "results/paper/tables/mnist_subset",
                 ("rehearsal", "rehearsal"), ("rehearsal + SRC", "rehearsal+src")), "68.2 -> 78.8", LENT),
    *(Claim(f"table2_K{k}", f"Table 2 (MNIST subset): iCaRL + SRC vs iCaRL, memory K = {k}",
            *_arms(f"configs/tables/icarl_table2_K{k}.toml", f"results/paper/tables/table2_icarl_K{k}",
                   ("iCaRL", f"icarl(memory={k})"), ("iCaRL + SRC", f"icarl+src(memory={k})")), claimed, LENT)
      for k, claimed in ((100, "61.0 -> 75.1"), (500, "79.6 -> 83.3"), (1000, "83.4 -> 85.3"),
                         (2000, "85.5 -> 85.7"))),
    Claim("fashion_rehearsal_paper_preset", "Fashion-MNIST: rehearsal + SRC with the Fashion-MNIST preset vs rehearsal",
          *_arms(FASHION, "results/paper/tables/fashion_mnist", ("rehearsal", "rehearsal"),
                 ("rehearsal + SRC", "rehearsal+src")), "59.60 -> 57.27 (not reproduced; paper 55.19 -> 67.82)"),
    Claim("fashion_icarl_paper_preset", "Fashion-MNIST: iCaRL + SRC with the Fashion-MNIST preset vs iCaRL (K = 2000)",
          *_arms(FASHION, "results/paper/tables/fashion_mnist", ("iCaRL", "icarl"), ("iCaRL + SRC", "icarl+src")),
          "64.61 -> 62.13 (not reproduced)"),
    Claim("fashion_rehearsal_tuned_stage1", "Fashion-MNIST: rehearsal + SRC with the first-stage tuned preset vs rehearsal",
          *_arms("configs/tuned/tuned_fashion_rehearsal.toml", "results/paper/tuned/tuned_fashion_rehearsal",
                 ("rehearsal", "rehearsal"), ("rehearsal + SRC", "rehearsal+src")), "59.60 -> 63.49 +- 2.82 (+3.9)"),
    Claim("fashion_src_gain_variant", "Fashion-MNIST: SRC with the plasticity_gain variant's preset vs the paper's preset",
          FASHION_SRC, Arm("SRC, variant preset", "configs/tuned/tuned_fashion_src_gain.toml", "src",
                           "results/paper/tuned/tuned_fashion_src_gain"), "41.20 -> 41.15 (the same)"),
    Claim("m2f_tuned_stage1", "MNIST -> Fashion-MNIST, reference protocol: SRC with the first-stage tuned preset vs sequential",
          Arm("sequential", M2F, "sequential", "results/paper/tables/mnist_to_fashion_reference"),
          Arm("SRC, first-stage preset", "configs/tuned/tuned_mnist_to_fashion_reference.toml", "src",
              "results/paper/tuned/tuned_mnist_to_fashion_reference"), "42.59 -> 48.23 +- 2.00 (+5.6)"),
    Claim("m2f_tuning", "MNIST -> Fashion-MNIST, reference protocol: SRC with the tuned preset vs the paper's preset",
          Arm("SRC, paper's preset", M2F, "src", "results/paper/tables/mnist_to_fashion_reference"), M2F_TUNED,
          "39.95 +- 3.90 -> 50.50 +- 1.48"),
    Claim("m2f_paper_preset", "MNIST -> Fashion-MNIST, reference protocol: SRC (paper's cross-modal preset) vs sequential",
          *_arms(M2F, "results/paper/tables/mnist_to_fashion_reference", ("sequential", "sequential"),
                 ("SRC, paper's preset", "src")), "42.59 -> 39.95 (the paper's preset costs 2-3 points)"),
    Claim("f2m_tuned", "Fashion-MNIST -> MNIST, reference protocol: SRC with the tuned preset vs sequential",
          Arm("sequential", F2M, "sequential", "results/paper/tables/fashion_to_mnist_reference"),
          Arm("SRC, tuned preset", "configs/tuned/tuned_fashion_to_mnist_reference.toml", "src",
              "results/paper/tuned/tuned_fashion_to_mnist_reference"), "52.96 -> 55.24 (+2.3)"),
)


def seed_set_name(seeds: Sequence[int]) -> str:
    """``0-4`` for a contiguous run of seeds, else the seeds joined by commas."""
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _load_config(repo: Path, config: str) -> ExperimentConfig:
    return ExperimentConfig.from_file(str(repo / config))


def committed_values(repo: Path, arm: Arm, seeds: Iterable[int]) -> tuple[dict[int, float], dict[str, Any]]:
    """The committed per-seed values of ``arm`` for ``seeds`` (those it has) and
    where they came from (folder, hosts, whether the config's fingerprint still matches)."""
    if arm.committed is None:
        return {}, {}
    summary = read_json(repo / arm.committed / "summary.json")
    if not isinstance(summary, dict):
        raise FileNotFoundError(f"claim arm {arm.label!r}: no readable {arm.committed}/summary.json")
    values = per_seed_accuracy(summary, arm.method)
    fingerprint = _load_config(repo, arm.config).resolved().fingerprint()
    ran_on = [r for r in (summary.get("ran_on") or {}).values() if isinstance(r, dict)]
    hosts = sorted({str(r.get("host")) for r in ran_on})
    threads = sorted({int(r["threads"]) for r in ran_on if "threads" in r})
    meta = {"folder": arm.committed, "hosts": hosts or None, "threads": threads or None,
            "fingerprint": summary.get("config_fingerprint"), "config_fingerprint_now": fingerprint,
            "fingerprint_matches": (summary.get("config_fingerprint") == fingerprint
                                    if summary.get("config_fingerprint") else None)}
    return {s: values[s] for s in seeds if s in values}, meta


def run_folder(out: Path, config: str) -> Path:
    return out / "runs" / Path(config).stem


def cell_values(repo: Path, out: Path, arm: Arm, seeds: Iterable[int]) -> tuple[dict[int, float], dict[int, dict]]:
    """Values of ``arm`` for the ``seeds`` whose cells are finished in its run folder, and their ``ran_on``."""
    cfg = _load_config(repo, arm.config)
    values, ran_on = {}, {}
    for s in seeds:
        rec = load_finished_cell(run_folder(out, arm.config), cfg, arm.method, s)
        if rec is not None:
            values[s] = float(rec["final_accuracy"])
            ran_on[s] = rec.get("ran_on") or {}
    return values, ran_on


def plan(repo: Path, claims: Sequence[Claim], committed_seeds: Sequence[int], new_seeds: Sequence[int],
         check_committed: bool) -> dict[str, dict[str, list]]:
    """config -> {"methods": [...], "seeds": [...]} that must have cells: the new
    seeds of every arm, and the committed seeds an arm has no committed value for."""
    need: dict[str, dict[str, list]] = {}
    for claim in claims:
        for arm in (claim.a, claim.b):
            have, _ = committed_values(repo, arm, committed_seeds)
            seeds = list(new_seeds) + [s for s in committed_seeds if check_committed or s not in have]
            entry = need.setdefault(arm.config, {"methods": [], "seeds": []})
            entry["methods"] += [arm.method] if arm.method not in entry["methods"] else []
            entry["seeds"] = sorted(set(entry["seeds"]) | set(seeds))
    return need


def run_missing(repo: Path, out: Path, need: dict[str, dict[str, list]], progress: bool = True,
                after_each=None, threads: int | None = None) -> dict[str, float]:
    """Run every config of ``need`` that lacks a cell (the harness reuses the finished
    ones); ``after_each()`` is called after each config. Returns config -> wall time in s."""
    walls = {}
    for config, entry in tqdm(need.items(), desc="configs", unit="config", disable=not progress):
        missing = [(m, s) for m in entry["methods"] for s in entry["seeds"]
                   if not cell_values(repo, out, Arm("", config, m), [s])[0]]
        if not missing:
            continue
        cfg = _load_config(repo, config)
        cfg.seeds, cfg.methods = list(entry["seeds"]), list(entry["methods"])
        print(f"{config}: {len(missing)} of {len(entry['methods']) * len(entry['seeds'])} cells to run "
              f"({', '.join(entry['methods'])}; seeds {seed_set_name(entry['seeds'])})", flush=True)
        t0 = time.perf_counter()
        run_experiment(cfg, run_folder(out, config), progress=progress, save_models=False, threads_per_worker=threads)
        walls[config] = time.perf_counter() - t0
        print(f"{config}: done in {walls[config] / 60:.1f} min", flush=True)
        if after_each is not None:
            after_each()
    return walls


def arm_values(repo: Path, out: Path, arm: Arm, committed_seeds: Sequence[int], new_seeds: Sequence[int]):
    """Per-seed values of an arm (committed where there are, else this script's cells),
    their sources, the committed folder's provenance and the rerun check."""
    committed, meta = committed_values(repo, arm, committed_seeds)
    ran, ran_on = cell_values(repo, out, arm, [*committed_seeds, *new_seeds])
    values = {s: committed.get(s, ran.get(s)) for s in [*committed_seeds, *new_seeds]}
    source = {s: (arm.committed if s in committed else str(run_folder(out, arm.config).relative_to(out))
                  if s in ran else None) for s in values}
    rerun = {s: ran[s] - committed[s] for s in committed if s in ran}
    info = {"label": arm.label, "config": arm.config, "method": arm.method, "committed": meta or None,
            "source": {str(s): v for s, v in source.items()},
            "cell_wall_s": {str(s): r.get("wall_s") for s, r in ran_on.items()},
            "hosts": sorted({str(r.get("host")) for r in ran_on.values()}) or None,
            "threads": sorted({int(r["threads"]) for r in ran_on.values() if "threads" in r}) or None,
            "rerun_minus_committed": {str(s): d for s, d in rerun.items()} or None}
    return values, info


def evaluate_claim(repo: Path, out: Path, claim: Claim, committed_seeds: Sequence[int],
                   new_seeds: Sequence[int]) -> dict[str, Any]:
    """One claim's record: arms, per-seed values, and :func:`paired_stats` per seed set (or pending)."""
    a, a_info = arm_values(repo, out, claim.a, committed_seeds, new_seeds)
    b, b_info = arm_values(repo, out, claim.b, committed_seeds, new_seeds)
    rec = {"title": claim.title, "claimed": claim.claimed, "note": claim.note, "a": a_info, "b": b_info,
           "per_seed": {str(s): {"a": a[s], "b": b[s]} for s in a}}
    missing = sorted({s for s in a if a[s] is None} | {s for s in b if b[s] is None})
    if missing:
        rec.update(status="pending", missing_seeds=missing)
        return rec
    sets = seed_sets(committed_seeds, new_seeds)
    rec.update(status="done", markdown=comparison_markdown(claim.a.label, claim.b.label, a, b, sets),
               stats={name: paired_stats(a, b, seeds) for name, seeds in sets.items()})
    return rec


def seed_sets(committed_seeds: Sequence[int], new_seeds: Sequence[int]) -> dict[str, list[int]]:
    both = [*committed_seeds, *new_seeds]
    return {seed_set_name(committed_seeds): list(committed_seeds), seed_set_name(new_seeds): list(new_seeds),
            f"all {len(both)}": both}


def _gain(st: dict[str, Any]) -> str:
    sd = "-" if st["gain_sd"] is None else f"{st['gain_sd']:.2f}"
    return f"{st['gain_mean']:+.2f} +- {sd}"


def _provenance(rec: dict[str, Any], committed_name: str) -> list[str]:
    lines = []
    for side in ("a", "b"):
        arm = rec[side]
        c = arm["committed"]
        where = f"`{arm['config']}`, method `{arm['method']}`"
        if c:
            fp = {True: "fingerprint matches today's config", False: "FINGERPRINT DIFFERS from today's config",
                  None: "no fingerprint in that summary"}[c["fingerprint_matches"]]
            where += (f"; seeds {committed_name} committed in `{c['folder']}` (hosts {c['hosts'] or 'not recorded'}, "
                      f"torch threads {c['threads'] or 'not recorded'}; {fp})")
        if arm["hosts"]:
            where += f"; cells run here: hosts {arm['hosts']}, torch threads {arm['threads']}"
        if arm["rerun_minus_committed"]:
            diffs = arm["rerun_minus_committed"].values()
            where += f"; rerun here: max |rerun - committed| = {max(abs(d) for d in diffs):.2f}"
        lines.append(f"- {side.upper()} = {arm['label']}: {where}")
    return lines


def _set_label(name: str) -> str:
    return name if name.startswith("all") else f"seeds {name}"


def markdown(result: dict[str, Any]) -> str:
    """summary.md: the overview table of every claim, then each claim's tables."""
    names = list(result["seed_sets"])
    out = ["# The README's gains checked on seeds never used", "",
           f"Generated by `benchmarks/bench_unseen_seeds.py` (package {result['package_version']}). Final accuracy "
           "in %; gain = B - A on the same seed (paired); SD is the sample SD over seeds; p values are two-sided "
           "paired tests (t test, Wilcoxon signed-rank; with 5 seeds Wilcoxon cannot go below 0.062). "
           f"Seeds {names[0]} are the committed results, seeds {names[1]} new runs on host "
           f"`{result['host']}`.", "",
           f"| claim | B vs A | README (seeds {names[0]}) | " + " | ".join(f"gain, {_set_label(n)}" for n in names)
           + f" | B ahead ({names[2]}) | t p ({names[2]}) | Wilcoxon p ({names[2]}) |",
           "|---|---|---|" + "---|" * len(names) + "---|---|---|"]
    for name, rec in result["claims"].items():
        vs = f"{rec['b']['label']} vs {rec['a']['label']}"
        if rec["status"] != "done":
            out.append(f"| `{name}` | {vs} | {rec['claimed']} | " + " | ".join("pending" for _ in names) + " | | | |")
            continue
        st = rec["stats"]
        all_ = st[names[2]]
        out.append(f"| `{name}` | {vs} | {rec['claimed']} | " + " | ".join(_gain(st[n]) for n in names)
                   + f" | {all_['b_ahead']}/{all_['n']} | {format_p(all_['t_p'])} | {format_p(all_['wilcoxon_p'])} |")
    for name, rec in result["claims"].items():
        out += ["", f"## `{name}`: {rec['title']}", "", f"README (seeds {names[0]}): {rec['claimed']}."]
        if rec["note"]:
            out.append(f"Note: {rec['note']}.")
        out += ["", *_provenance(rec, names[0]), ""]
        out.append(rec["markdown"] if rec["status"] == "done" else f"pending: no value yet for seeds {rec['missing_seeds']}")
    if result["run_wall_s"]:
        out += ["", "## Run times (this invocation, wall clock)", "", "| config | minutes |", "|---|---|"]
        out += [f"| `{c}` | {w / 60:.1f} |" for c, w in result["run_wall_s"].items()]
    return "\n".join(out) + "\n"


def write_results(repo: Path, out: Path, committed_seeds: Sequence[int], new_seeds: Sequence[int],
                  run_wall_s: dict[str, float], claims: Sequence[Claim] = CLAIMS) -> dict[str, Any]:
    """Evaluate every claim from the files there are and write OUT/summary.json and summary.md atomically."""
    result = {"package_version": __version__, "host": socket.gethostname(),
              "seed_sets": seed_sets(committed_seeds, new_seeds), "run_wall_s": run_wall_s,
              "claims": {c.name: evaluate_claim(repo, out, c, committed_seeds, new_seeds) for c in claims}}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", result)
    text = markdown(result)
    atomic_write(out / "summary.md", lambda p: p.write_text(text))
    return result


def main(argv: list[str] | None = None, claims: Sequence[Claim] = CLAIMS, repo: Path = REPO) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claims", nargs="+", metavar="NAME", help="run only these claims (default: all; see --list)")
    p.add_argument("--seeds", nargs="+", type=int, default=list(NEW_SEEDS), metavar="SEED", help="new seeds")
    p.add_argument("--committed-seeds", nargs="+", type=int, default=list(COMMITTED_SEEDS), metavar="SEED",
                   help="seeds read from the committed results (default 0-4)")
    p.add_argument("--out", default=str(repo / "results" / "paper" / "unseen_seeds"))
    p.add_argument("--check-committed", action="store_true", help="rerun the committed seeds too and report the difference")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads of every cell (default: the harness's, "
                   "this process's torch thread count; on a loaded machine 1 avoids threads waiting on each other)")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    by_name = {c.name: c for c in claims}
    if args.list:
        for c in claims:
            print(f"{c.name:32s} {c.title}")
        return 0
    unknown = sorted(set(args.claims or []) - set(by_name))
    if unknown:
        p.error(f"unknown claim(s) {unknown}; known: {sorted(by_name)}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if set(args.seeds) & set(args.committed_seeds):
        p.error(f"--seeds {args.seeds} overlap --committed-seeds {args.committed_seeds}")
    selected = [by_name[n] for n in args.claims] if args.claims else list(claims)
    out = Path(args.out).resolve()
    cwd = Path.cwd()
    os.chdir(repo)  # configs name their preset files relative to the repository
    try:
        return _run(repo, out, selected, claims, args)
    finally:
        os.chdir(cwd)


def _run(repo: Path, out: Path, selected: Sequence[Claim], claims: Sequence[Claim], args: argparse.Namespace) -> int:
    need = plan(repo, selected, args.committed_seeds, args.seeds, args.check_committed)
    print(f"{len(selected)} claims, {len(need)} configs; results in {out}", flush=True)
    walls: dict[str, float] = {}

    def write() -> None:
        write_results(repo, out, args.committed_seeds, args.seeds, walls, claims)

    t0 = time.perf_counter()
    walls.update(run_missing(repo, out, need, progress=not args.no_progress, after_each=write,
                             threads=args.threads))
    result = write_results(repo, out, args.committed_seeds, args.seeds, walls, claims)
    print(markdown(result).split("\n## ")[0])
    print(f"total wall time {(time.perf_counter() - t0) / 60:.1f} min; {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
