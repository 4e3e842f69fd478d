"""`sleep-replay analyze RUN_DIR` on a tiny finished run: analysis.json (schema),
figures, reproduction of the sleeps from the saved models, bad input."""
import json
import shutil

import pytest

from bridge.analysis import analyze_run
from bridge.cli import main
from bridge.errors import AnalysisError, MissingModelsError
from bridge.experiments import ExperimentConfig, run_experiment

# a finished run, its analysis and figures: about 10 CPU-s on a fresh clone (matplotlib's font cache)
pytestmark = pytest.mark.slow

TINY = {
    "experiment": {"dataset": "mnist-subset", "class_groups": [[0, 1], [2, 3]], "max_train_per_task": 150,
                   "sizes": [784, 40, 30, 10], "init_range": 0.1, "seeds": [1], "methods": ["sequential", "src"],
                   "updates_per_task": 20},
    "sleep": {"preset": "mnist", "steps_first": 600, "steps_per_task": 300},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run_experiment(ExperimentConfig.from_dict(TINY), out, progress=False)
    return out


@pytest.fixture(scope="module")
def analysed(tiny_run):
    assert main(["analyze", str(tiny_run), "--top-n", "5", "--no-progress"]) == 0
    return json.loads((tiny_run / "analysis" / "analysis.json").read_text())


def test_analysis_json_schema(analysed, tiny_run):
    a = analysed
    assert a["schema_version"] == 1 and a["method"] == "src" and a["seeds"] == [1]
    assert set(a["per_seed"]) == {"1"}
    for sleeps in a["per_seed"].values():
        assert [s["task"] for s in sleeps] == [1, 2]
        assert [s["steps"] for s in sleeps] == [600, 900]
        assert sleeps[0]["classes_seen"] == [0, 1] and sleeps[1]["classes_seen"] == [0, 1, 2, 3]
        for s in sleeps:
            assert s["reproduced"] is True  # the re-run sleep gives the saved slept model
            assert set(s["layers"]) == {"hidden1", "hidden2"}
            assert set(s["weight_change"]) == {"layer1", "layer2", "layer3"}
            for layer in s["layers"].values():
                for m in ("between_class_correlation", "within_class_correlation", "treves_rolls_sparseness",
                          "active_fraction"):
                    assert set(layer[m]) == {"before", "after", "change"}
                tasks = layer["reactivation"]["tasks"]
                assert list(tasks) == [f"task{j}" for j in range(1, s["task"] + 1)]
                for t in tasks.values():
                    assert t["n_units"] == 5 and t["n_tests"] <= s["task"]
                    if t["p"] is not None:
                        assert t["p_bonferroni"] == pytest.approx(min(1.0, t["p"] * t["n_tests"]))
                assert [r["task"] for r in layer["input_drive"]["tasks"]] == list(range(1, s["task"] + 1))
    summary = a["summary"]["layers"]["hidden1"]
    assert set(summary) >= {"between_class_correlation", "task_reactivation", "input_drive"}
    for name in a["figures"]:
        assert (tiny_run / "analysis" / name).stat().st_size > 1000
    assert {"raster.png", "population_rate.png", "reactivation.png", "weight_change.png",
            "correlation_hidden1.png", "representations_before_after.png"} <= set(a["figures"])


def test_analysis_numbers_match_the_measures(analysed, tiny_run):
    """Recompute one entry with the public measures on the saved models."""
    from ann.representations import class_correlation_matrix, hidden_layer_activations, within_between
    from bridge.analysis import load_model, open_run

    data = open_run(tiny_run)
    after = load_model(data, 1, 2, "after_sleep")
    acts = hidden_layer_activations(after, data.x_test)[1]
    _, r = class_correlation_matrix(acts, data.y_test)
    entry = analysed["per_seed"]["1"][1]["layers"]["hidden2"]
    assert entry["between_class_correlation"]["after"] == pytest.approx(within_between(r)["between"])


def test_run_without_saved_models(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("models", ".lock"))
    with pytest.raises(MissingModelsError, match="no saved model"):
        analyze_run(run)
    assert main(["analyze", str(run), "--no-progress"]) == 2
    assert "no saved model" in capsys.readouterr().err


def test_bad_arguments(tiny_run, tmp_path):
    with pytest.raises(AnalysisError, match="does not exist"):
        analyze_run(tmp_path / "nothing")
    with pytest.raises(AnalysisError, match="no config.json"):
        analyze_run(tmp_path)
    with pytest.raises(AnalysisError, match="not a sleeping method"):
        analyze_run(tiny_run, method="sequential")
    with pytest.raises(AnalysisError, match=r"seed\(s\) \[7\]"):
        analyze_run(tiny_run, seeds=[7])
    with pytest.raises(AnalysisError, match="top_n"):
        analyze_run(tiny_run, top_n=0)


def test_saved_model_of_another_width(tiny_run, tmp_path):
    import torch

    from bridge.experiments import model_path

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns(".lock", "analysis"))
    path = model_path(run, "src", 1, 1, "before_sleep")
    state = torch.load(path)
    state = {k: torch.zeros(v.shape[0], v.shape[1] + 1) if v.shape[1] == 784 else v for k, v in state.items()}
    torch.save(state, path)
    with pytest.raises(AnalysisError, match="does not fit"):
        analyze_run(run, seeds=[1])
