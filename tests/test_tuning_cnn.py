"""The tuner and the harness on CNN configs (model = "cnn"): a search on a validation split of
the training data, per-layer thresholds and kernel update searched, pooling layers without gain."""
from __future__ import annotations

import copy

import pytest

from bridge.errors import ConfigError
from bridge.experiments import ExperimentConfig, run_cell
from bridge.tuning import TuneConfig, parse_space, read_preset_file, tune

#: 2 tasks of 100 examples, a conv 2 - pool - conv 4 - pool - fc 10 network, a few updates and sleep steps
TINY_CNN = {
    "experiment": {"model": "cnn", "sizes": [784, 10], "conv_channels": [2, 4], "class_groups": [[0, 1], [2, 3]],
                   "max_train_per_task": 100, "methods": ["src"], "seeds": [0], "updates_per_task": 5},
    "sleep": {"preset": "mnist", "beta": [2.0, 1.0, 2.0, 1.0, 2.0], "steps_first": 40, "steps_per_task": 20},
    "tune": {"seeds": [0], "trials": 3, "sampler": "random", "sampler_seed": 1, "validation_fraction": 0.25,
             "space": {"inc": {"low": 0.0001, "high": 0.01, "log": True},
                       "beta": {"low": 0.5, "high": 5.0, "log": True},
                       "plasticity_gain": {"choices": [0.0, 1.0]},
                       "kernel_update": {"choices": ["sum", "sequential"]}}},
}


def test_tuner_searches_a_cnn_sleep(tmp_path):
    cfg = TuneConfig.from_dict(copy.deepcopy(TINY_CNN))
    names = [p.name for p in cfg.space.params]
    assert [n for n in names if n.startswith("beta_")] == [f"beta_{i}" for i in range(5)]
    # pooling layers (1, 3) have fixed weights: no gain to search
    assert [n for n in names if n.startswith("plasticity_gain_")] == ["plasticity_gain_0", "plasticity_gain_2",
                                                                     "plasticity_gain_4"]
    result = tune(copy.deepcopy(TINY_CNN), tmp_path, progress=False, figures=False)
    assert len(result.study.trials) == 3 and all(t.state.name == "COMPLETE" for t in result.study.trials)
    best, _ = read_preset_file(result.preset_path)
    assert len(best.beta) == 5 and best.kernel_update in ("sum", "sequential")
    assert best.plasticity_gain == () or (best.plasticity_gain[1], best.plasticity_gain[3]) == (0.0, 0.0)


def test_pool_gain_cannot_be_searched():
    data = copy.deepcopy(TINY_CNN)
    data["tune"]["space"] = {"plasticity_gain_1": {"low": 0.5, "high": 2.0}}
    with pytest.raises(ConfigError, match="tune.space.plasticity_gain_1: layer 1 is a pooling layer"):
        TuneConfig.from_dict(data)
    with pytest.raises(ConfigError, match="beta_5"):
        parse_space({"beta_5": {"low": 1.0, "high": 2.0}}, 5, layer_kinds=["conv", "pool", "conv", "pool", "dense"])


def test_harness_runs_a_cnn_cell_with_fc_only_sleep(tmp_path):
    data = copy.deepcopy(TINY_CNN)
    data.pop("tune")
    data["sleep"]["plasticity_gain"] = [0.0, 0.0, 0.0, 0.0, 1.0]
    record = run_cell(ExperimentConfig.from_dict(data), "src", 0)
    assert len(record["accuracy_matrix"]) == 2
    assert len(record["sleep_spikes_per_step"][0]) == 6  # input + 5 layers
