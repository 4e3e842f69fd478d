"""`sleep-replay analyze` on a tiny finished CNN run: every convolution and pooling layer is
analysed under its sleep-network name, the sleeps are reproduced from the saved models, and
the kernels before / after a sleep are drawn."""
import json

import numpy as np
import pytest

from ann.representations import hidden_layer_activations, layer_modules, mean_input_drive
from bridge.analysis import load_model, open_run, plot_kernels
from bridge.cli import main
from bridge.experiments import ExperimentConfig, run_experiment

TINY_CNN = {
    "experiment": {"dataset": "mnist-subset", "class_groups": [[0, 1], [2, 3]], "max_train_per_task": 120,
                   "model": "cnn", "sizes": [784, 10], "conv_channels": [3, 4], "init_range": 0.1,
                   "seeds": [1], "methods": ["sequential", "src"], "updates_per_task": 20},
    "sleep": {"preset": "mnist", "beta": [1.0, 1.0, 1.0, 1.0, 1.0], "steps_first": 200, "steps_per_task": 100},
}
LAYERS = ["conv1", "pool1", "conv2", "pool2"]


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn_run")
    run_experiment(ExperimentConfig.from_dict(TINY_CNN), out, progress=False)
    assert main(["analyze", str(out), "--top-n", "5", "--no-progress"]) == 0
    return out, json.loads((out / "analysis" / "analysis.json").read_text())


@pytest.mark.slow
def test_cnn_analysis_has_every_conv_and_pool_layer(cnn_run):
    out, a = cnn_run
    sleeps = a["per_seed"]["1"]
    assert [s["task"] for s in sleeps] == [1, 2]
    widths = {"conv1": 3 * 24 * 24, "pool1": 3 * 12 * 12, "conv2": 4 * 8 * 8, "pool2": 4 * 4 * 4}
    for s in sleeps:
        assert s["reproduced"] is True
        assert list(s["layers"]) == LAYERS
        assert set(s["weight_change"]) == {f"layer{l}" for l in range(1, 6)}
        assert s["weight_change"]["layer2"]["fraction_changed"] == 0.0  # pooling never learns
        for name, layer in s["layers"].items():
            assert layer["reactivation"]["top_n"] == min(5, widths[name] // 2)
            assert 0.0 <= layer["treves_rolls_sparseness"]["before"] <= 1.0
            assert np.isfinite(layer["between_class_correlation"]["after"])
            assert [r["task"] for r in layer["input_drive"]["tasks"]] == list(range(1, s["task"] + 1))
    assert set(a["summary"]["layers"]) == set(LAYERS)
    for name in ("kernels_conv1.png", "kernels_conv2.png", "correlation_conv1.png", "reactivation.png"):
        assert name in a["figures"] and (out / "analysis" / name).stat().st_size > 1000


@pytest.mark.slow
def test_cnn_activations_and_drive_match_the_model(cnn_run):
    """Activations are the inputs of the next layer; the mean drive of a layer is the layer
    applied to its mean input (checked on conv2 against a direct forward pass)."""
    import torch

    out, a = cnn_run
    data = open_run(out)
    model = load_model(data, 1, 2, "after_sleep")
    x = data.x_test[:50]
    acts = hidden_layer_activations(model, x)
    assert [h.shape[1] for h in acts] == [3 * 24 * 24, 3 * 12 * 12, 4 * 8 * 8, 4 * 4 * 4]
    conv2 = layer_modules(model)[2]
    with torch.no_grad():
        direct = conv2(torch.as_tensor(acts[1], dtype=torch.float32).reshape(-1, 3, 12, 12)).flatten(1)
    drive = mean_input_drive(model, x)
    np.testing.assert_allclose(drive[2], direct.double().mean(0).numpy(), atol=1e-5)
    assert drive[-1].shape == (10,)
    entry = a["per_seed"]["1"][1]["layers"]["pool2"]
    assert entry["active_fraction"]["after"] == pytest.approx(
        float((hidden_layer_activations(model, data.x_test[np.isin(data.y_test, [0, 1, 2, 3])])[3] > 0).mean()))


def test_plot_kernels_refuses_bad_shapes():
    k = np.zeros((2, 1, 3, 3))
    assert plot_kernels(k, k + 0.1) is not None
    with pytest.raises(ValueError, match="kernels"):
        plot_kernels(k, np.zeros((2, 1, 3)))
