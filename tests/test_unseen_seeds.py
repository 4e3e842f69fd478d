"""benchmarks/bench_unseen_seeds.py and bridge.experiments.compare: paired statistics,
the claims' files, and a tiny end-to-end run (committed values read, new seeds run, resume)."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bridge.experiments import ExperimentConfig, comparison_markdown, paired_stats, per_seed_accuracy

REPO = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_unseen_seeds", REPO / "benchmarks" / "bench_unseen_seeds.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_paired_stats_by_hand():
    a = {0: 60.0, 1: 62.0, 2: 55.0, 3: 58.0, 4: 61.0, 100: 50.0}
    b = {0: 63.0, 1: 62.5, 2: 61.0, 3: 57.0, 4: 66.0, 100: 99.0}
    st = paired_stats(a, b, [0, 1, 2, 3, 4])
    gain = np.array([3.0, 0.5, 6.0, -1.0, 5.0])
    assert st["gain"] == pytest.approx(gain.tolist())
    assert st["gain_mean"] == pytest.approx(gain.mean()) and st["gain_sd"] == pytest.approx(gain.std(ddof=1))
    assert st["a_mean"] == pytest.approx(59.2) and st["b_sd"] == pytest.approx(np.std([63, 62.5, 61, 57, 66], ddof=1))
    assert (st["b_ahead"], st["ties"], st["n"]) == (4, 0, 5)
    assert st["t_p"] == pytest.approx(stats.ttest_1samp(gain, 0).pvalue)
    assert st["wilcoxon_p"] == pytest.approx(stats.wilcoxon(gain).pvalue)
    # every seed ahead on 5 seeds: the exact Wilcoxon p cannot go below 2/32
    up = paired_stats({s: 0.0 for s in range(5)}, {s: s + 1.0 for s in range(5)}, range(5))
    assert up["wilcoxon_p"] == pytest.approx(0.0625) and up["b_ahead"] == 5


def test_paired_stats_undefined_tests_and_bad_input():
    same = paired_stats({0: 1.0, 1: 2.0}, {0: 3.0, 1: 4.0}, [0, 1])  # every gain equal: no t test
    assert same["gain_sd"] == 0 and same["t_p"] is None
    tied = paired_stats({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}, [0, 1])
    assert tied["ties"] == 2 and tied["wilcoxon_p"] is None and tied["t_p"] is None
    one = paired_stats({7: 1.0}, {7: 2.0}, [7])
    assert one["gain_sd"] is None and one["t_p"] is None
    with pytest.raises(ValueError, match=r"method B has no value for seed\(s\) \[3\]"):
        paired_stats({3: 1.0}, {}, [3])
    with pytest.raises(ValueError, match="repeat"):
        paired_stats({3: 1.0}, {3: 1.0}, [3, 3])
    with pytest.raises(KeyError, match="'icarl' is not in this summary"):
        per_seed_accuracy({"methods": {"src": {}}}, "icarl")


def test_comparison_markdown_rows():
    a, b = {0: 10.0, 1: 20.0, 5: 30.0}, {0: 12.0, 1: 19.0, 5: 35.5}
    text = comparison_markdown("seq", "SRC", a, b, {"0-1": [0, 1], "5": [5], "all 3": [0, 1, 5]})
    assert "| 0 | 10.00 | 12.00 | +2.00 |" in text and "| 1 | 20.00 | 19.00 | -1.00 |" in text
    assert "| all 3 | 3 | 20.00 +- 10.00 | 22.17 +- 12.07 | +2.17 +- 3.25 | 2/3 |" in text
    assert "| 5 | 1 | 30.00 +- - | 35.50 +- - | +5.50 +- - | 1/1 | - | 1 |" in text


def test_every_claim_names_a_config_method_and_committed_result(monkeypatch):
    monkeypatch.chdir(REPO)  # configs name preset files relative to the repository
    bench = load_bench()
    assert len({c.name for c in bench.CLAIMS}) == len(bench.CLAIMS)
    for claim in bench.CLAIMS:
        for arm in (claim.a, claim.b):
            cfg = ExperimentConfig.from_file(str(REPO / arm.config))
            cfg.methods = [arm.method]
            cfg.validate()
            assert [s.label for s in cfg.method_specs()] == [arm.method]
            if arm.committed:
                summary = json.loads((REPO / arm.committed / "summary.json").read_text())
                assert set(per_seed_accuracy(summary, arm.method)) >= set(bench.COMMITTED_SEEDS), (claim.name, arm)


TINY = """
[experiment]
sizes = [784, 32, 24, 10]
class_groups = [[0, 1], [2, 3]]
max_train_per_task = 100
updates_per_task = 5
init_range = 0.1
seeds = [0]
methods = ["sequential", "src"]

[sleep]
preset = "mnist"
steps_first = 100
steps_per_task = 50
"""


@pytest.mark.slow
def test_bench_tiny_run_reads_committed_runs_new_seeds_and_resumes(tmp_path, capsys):
    bench = load_bench()
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny.toml").write_text(TINY)
    cfg = ExperimentConfig.from_file(str(tmp_path / "configs" / "tiny.toml"))
    committed = tmp_path / "results" / "tiny"
    committed.mkdir(parents=True)
    fabricated = {"sequential": {"0": 20.0, "1": 21.0}, "src": {"0": 40.0, "1": 45.0}}
    committed.joinpath("summary.json").write_text(json.dumps({
        "config_fingerprint": cfg.resolved().fingerprint(),
        "ran_on": {"src seed 0": {"host": "elsewhere"}},
        "methods": {m: {"final_accuracy": {"per_seed": v}} for m, v in fabricated.items()}}))
    claims = (
        bench.Claim("committed", "SRC vs sequential", *bench._arms("configs/tiny.toml", "results/tiny",
                    ("seq", "sequential"), ("SRC", "src")), "20.5 -> 42.5"),
        bench.Claim("fresh", "SRC vs sequential, run", *bench._arms("configs/tiny.toml", None,
                    ("seq", "sequential"), ("SRC", "src")), "none"),
    )
    out = tmp_path / "unseen"
    argv = ["--seeds", "5", "--committed-seeds", "0", "1", "--out", str(out), "--no-progress", "--threads", "1"]
    assert bench.main(argv, claims=claims, repo=tmp_path) == 0
    result = json.loads((out / "summary.json").read_text())
    assert list(result["seed_sets"]) == ["0, 1", "5", "all 3"]
    rec = result["claims"]["committed"]
    assert rec["status"] == "done"
    # seeds 0-1 are the committed numbers, seed 5 a new run of the same cell the harness writes
    assert [rec["per_seed"][s]["b"] for s in ("0", "1")] == [40.0, 45.0]
    cell = json.loads((out / "runs" / "tiny" / "cells" / "src" / "seed_5.json").read_text())
    assert rec["per_seed"]["5"]["b"] == cell["final_accuracy"]
    assert rec["b"]["source"] == {"0": "results/tiny", "1": "results/tiny", "5": "runs/tiny"}
    assert rec["b"]["committed"]["fingerprint_matches"] is True and rec["b"]["committed"]["hosts"] == ["elsewhere"]
    assert rec["stats"]["0, 1"]["gain"] == [20.0, 24.0]
    assert rec["stats"]["all 3"]["n"] == 3
    fresh = result["claims"]["fresh"]
    assert set(fresh["a"]["source"].values()) == {"runs/tiny"}  # no committed result: seeds 0, 1 were run here
    assert fresh["per_seed"]["5"] == rec["per_seed"]["5"]
    md = (out / "summary.md").read_text()
    assert "## `committed`: SRC vs sequential" in md and "| 0 | 20.00 | 40.00 | +20.00 |" in md
    assert ("seeds 0, 1 committed in `results/tiny` (hosts ['elsewhere'], torch threads not recorded; "
            "fingerprint matches") in md
    assert rec["b"]["threads"] == [1] and "cells run here: hosts" in md
    assert set(result["run_wall_s"]) == {"configs/tiny.toml"}

    # a second run finds every cell and runs nothing; --check-committed then reruns the committed seeds' cells
    # (they exist from the "fresh" claim) and reports the difference to the fabricated numbers
    cells = sorted((out / "runs" / "tiny" / "cells").rglob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in cells]
    assert bench.main([*argv, "--check-committed"], claims=claims, repo=tmp_path) == 0
    assert [p.stat().st_mtime_ns for p in cells] == stamps
    again = json.loads((out / "summary.json").read_text())
    assert again["run_wall_s"] == {}
    diff = again["claims"]["committed"]["b"]["rerun_minus_committed"]
    assert diff["0"] == pytest.approx(again["claims"]["fresh"]["per_seed"]["0"]["b"] - 40.0)
    assert "rerun here: max |rerun - committed|" in (out / "summary.md").read_text()


def test_bench_bad_arguments_exit_2(tmp_path, capsys):
    bench = load_bench()
    with pytest.raises(SystemExit) as exc:
        bench.main(["--claims", "nope", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "unknown claim(s) ['nope']" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        bench.main(["--seeds", "0", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "overlap" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def load_readme_gains():
    spec = importlib.util.spec_from_file_location("readme_gains", REPO / "benchmarks" / "readme_gains.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("target", ["README.md", "results/paper/README.md"])
def test_readme_10_seed_gains_match_summary_json(target):
    """Issue #25: the READMEs' 10-seed gains are the benchmark's numbers, not typed by hand."""
    rg = load_readme_gains()
    summary = json.loads((REPO / "results/paper/unseen_seeds/summary.json").read_text())
    text = (REPO / target).read_text()
    got = rg.block(text)
    assert got == rg.table(summary, rg.link_for(REPO / target)), \
        f"{target}: run `python benchmarks/readme_gains.py` to regenerate its 10-seed table"
    # independently of the renderer: every issue-#25 claim's gains (seeds 0-4, 100-104, all 10) and
    # every per-seed gain are in its row, and the linked files exist
    rows = got.splitlines()
    for name, label in rg.ROWS:
        (row,) = [r for r in rows if r.startswith(f"| {label} |")]
        st = summary["claims"][name]["stats"]
        for seeds in ("0-4", "100-104", "all 10"):
            assert f"{st[seeds]['gain_mean']:+.2f} +- {st[seeds]['gain_sd']:.2f}" in row, (name, seeds)
        per_seed = row.rsplit("|", 2)[1].replace(";", ",").split(",")
        assert [float(g) for g in per_seed] == pytest.approx(st["all 10"]["gain"], abs=0.051), name
    for name in ("summary.json", "summary.md"):
        if rg.link_for(REPO / target) is None:  # included in the Sphinx site: repository paths, no links
            (rel,) = [part.split("`")[0] for part in got.split("`")[1::2] if part.endswith(name)]
            assert (REPO / rel).is_file() and "](" not in got, rel
        else:
            (rel,) = [part.split(")")[0] for part in got.split("](")[1:] if part.split(")")[0].endswith(name)]
            assert ((REPO / target).parent / rel).is_file(), rel


def test_readme_gains_check_flags_a_stale_table(tmp_path, monkeypatch, capsys):
    rg = load_readme_gains()
    readme = tmp_path / "README.md"
    text = (REPO / "README.md").read_text()
    block = rg.block(text)
    readme.write_text(text.replace(block, block.replace("| 10/10 |", "| 9/10 |", 1)))
    monkeypatch.setattr(rg, "TARGETS", (readme,))
    monkeypatch.setattr(rg, "REPO", tmp_path)
    assert rg.main(["--check"]) == 1 and "differs: README.md" in capsys.readouterr().out
    assert rg.main([]) == 0 and rg.main(["--check"]) == 0
    assert rg.block(readme.read_text()).count("| 10/10 |") == block.count("| 10/10 |")
