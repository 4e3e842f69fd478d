"""CNN reference traces (bridge.conv_trace): written by the dense engine, accepted by
``sleep-replay conformance`` on every engine that simulates CNNs; tampered or malformed
traces FAIL or exit 2 naming what is wrong."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ann
import bridge
from bridge.cli import main
from bridge.conformance import check_trace, load_trace
from bridge.conv_trace import main as write_main
from bridge.conv_trace import write_conv_trace
from bridge.errors import TraceError
from snn.errors import OutputExistsError


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    task = ann.class_incremental_tasks(ann.load_mnist_subset(), [(0, 1), (2, 3)])[0]
    model = ann.SleepCNN(channels=(3, 6), kernel_size=3, padding=1,
                         generator=torch.Generator().manual_seed(0))
    ann.train_task(model, task.x_train, task.y_train, ann.TrainConfig(epochs=3), seed=0)
    x = np.round(task.x_train * 255).astype(np.uint8)
    params = bridge.preset("mnist").replace(beta=(2.0, 1.0, 2.0, 1.0, 2.0), inc=0.004, dec=0.0004,
                                            kernel_update="sequential")
    path = tmp_path_factory.mktemp("trace") / "cnn.npz"
    write_conv_trace(path, model, x, params, steps=150, seed=1)
    return path


@pytest.mark.parametrize("engine, dtype", [("fast", "float64"), ("dense", "float64"), ("fast", "float32")])
def test_conv_trace_passes_conformance(trace, engine, dtype):
    data = load_trace(trace)
    assert list(data["layer_kinds"]) == ["conv", "pool", "conv", "pool", "dense"]
    assert data["expected_counts"][:, 1:].sum(0).min() > 0  # every layer fired
    assert any(np.abs(data[f"expected_w{l}"] - data[f"w{l}_trained"]).max() > 1e-4 for l in (1, 3))
    report = check_trace(trace, engine=engine, dtype=dtype)
    assert report.passed, report.format()
    if dtype == "float64":
        assert max(report.max_weight_diff) <= 1e-12 and report.mismatched_steps == 0


def test_cli_conformance_on_a_conv_trace(trace, capsys):
    assert main(["conformance", str(trace)]) == 0
    assert "PASS" in capsys.readouterr().out


@pytest.mark.parametrize("change, outcome", [
    (lambda d: d["expected_counts"].__setitem__((7, 3), d["expected_counts"][7, 3] + 1), "spike counts"),
    (lambda d: d.__setitem__("expected_w3", d["expected_w3"] + 1e-4), "weights"),
    (lambda d: d.__setitem__("kernel_update", np.asarray("sum")), "spike counts|weights"),
])
def test_tampered_conv_trace_fails(tmp_path, trace, change, outcome):
    d = dict(np.load(trace))
    change(d)
    path = tmp_path / "t.npz"
    np.savez(path, **d)
    report = check_trace(path)
    assert not report.passed
    assert any(k for k, ok in report.checks.items() if not ok and k in outcome.split("|"))


@pytest.mark.parametrize("change, message", [
    (lambda d: d.__setitem__("model", np.asarray("{not json")), "model is not valid JSON"),
    (lambda d: d.__setitem__("model", np.asarray(json.dumps({"channels": [3, 6]}))), "model must be a JSON object"),
    (lambda d: d.__setitem__("layer_kinds", np.asarray(["conv", "conv", "conv", "pool", "dense"])),
     "layer_kinds .* do not match"),
    (lambda d: d.pop("expected_w3"), "missing key 'expected_w3'"),
    (lambda d: d.__setitem__("w1_trained", d["w1_trained"][:, :, :2]), "w1_trained has shape"),
    (lambda d: d.__setitem__("kernel_update", np.asarray("mean")), "kernel_update"),
    (lambda d: d.__setitem__("rule", np.asarray(3)), "rule must be a string"),
])
def test_malformed_conv_trace_is_a_trace_error(tmp_path, capsys, trace, change, message):
    d = dict(np.load(trace))
    change(d)
    path = tmp_path / "bad.npz"
    np.savez(path, **d)
    with pytest.raises(TraceError, match=message):
        check_trace(path)
    assert main(["conformance", str(path)]) == 2


def test_trace_writer_command_and_no_overwrite(tmp_path, capsys):
    out = tmp_path / "w.npz"
    assert write_main([str(out), "--steps", "40"]) == 0
    assert check_trace(out).passed
    with pytest.raises(OutputExistsError):
        write_main([str(out), "--steps", "40"])
