"""Issue 25 (hardening round 2), the Python API: every case fails on the issue's base
commit (cf44305) and passes now. The point of the issue is named in each test."""
from __future__ import annotations

import copy
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import bridge
from ann import SleepMLP, TrainConfig, train_task
from bridge.errors import ArgumentTypeError, ConfigError, ModelError, SleepDataError, SleepParamsError
from bridge.experiments import ExperimentConfig
from snn import SleepNetwork
from snn.errors import OutputPathError, SpikeFileError
from snn.export import load_network, read_nir, save_network
from snn.export.pynn_script import write_pynn_model

RNG = np.random.default_rng(0)
X1 = RNG.random((60, 784)).astype(np.float32)
X2 = RNG.random((40, 784)).astype(np.float32)


def mlp(n_in: int = 784, seed: int = 0) -> nn.Sequential:
    """A bias-free 3-layer ReLU network (what the MNIST preset fits)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, 32, bias=False), nn.ReLU(), nn.Linear(32, 16, bias=False), nn.ReLU(),
                         nn.Linear(16, 10, bias=False), nn.ReLU())


def weights(model: nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.parameters()]


# ----------------------------------------------------------------- point 1
def test_point1_replay_failed_calls_leave_no_trace():
    """Bad calls (empty data, a model of another width, a bad sleep length) raise typed
    errors and change nothing: the next good call gives what a run without them gives."""
    clean_model, model = mlp(), mlp()
    clean = bridge.SleepReplay("mnist", seed=3, memory=25)
    clean(clean_model, X1, steps=60)
    expected = clean(clean_model, X2, steps=60)

    replay = bridge.SleepReplay("mnist", seed=3, memory=25)
    replay(model, X1, steps=60)
    with pytest.raises(SleepDataError, match="empty"):
        replay(model, np.zeros((0, 784), np.float32), steps=60)
    narrow = mlp(n_in=100)
    with pytest.raises(SleepDataError, match="100 inputs but the earlier tasks' data have 784"):
        replay(narrow, RNG.random((20, 100)), steps=60)
    with pytest.raises(SleepParamsError, match="steps"):
        replay(model, X2, steps=-1)  # fails inside the sleep, after the data were read
    assert replay.tasks_seen == 1 and replay.n_examples == 25
    got = replay(model, X2, steps=60)
    assert got.task == 2 and got.n_examples == expected.n_examples
    assert got.spikes_per_layer == expected.spikes_per_layer
    for a, b in zip(weights(model), weights(clean_model)):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- point 9
def test_point9_silently_accepted_inputs_are_refused(tmp_path, caplog):
    model = mlp()
    with pytest.raises(SleepDataError, match="uniforms must hold finite draws"):
        bridge.sleep(model, X1, steps=10, uniforms=np.full((10, 784), np.nan))
    with pytest.raises(ArgumentTypeError, match="inplace must be True or False"):
        bridge.sleep(model, X1, steps=10, inplace="yes")
    base = {"experiment": {"sizes": [784, 16, 12, 10], "class_groups": [[0, 1], [2, 3]]}}
    with pytest.raises(ConfigError, match=r"train.n_classes = 3 .*sizes\[-1\] = 10"):
        ExperimentConfig.from_dict({**base, "train": {"n_classes": 3}})
    with pytest.raises(ConfigError, match="experiment.data_dir .* is not used"):
        ExperimentConfig.from_dict({"experiment": {**base["experiment"], "data_dir": str(tmp_path / "nope")}})
    ExperimentConfig.from_dict({**base, "train": {"n_classes": 10}})  # the value a run uses is fine
    # a learning rate so large that the loss explodes, then the units die (finite loss, chance accuracy)
    x = RNG.random((200, 784)).astype(np.float32)
    y = RNG.integers(0, 10, 200)
    torch.manual_seed(0)
    with caplog.at_level(logging.WARNING, logger="ann.training"):
        losses = train_task(SleepMLP((784, 32, 24, 10)), x, y, TrainConfig(epochs=2, lr=1e6, loss="ce"))
    assert np.isfinite(losses[-1])
    assert "training diverged: the loss rose" in caplog.text and "lower the learning rate" in caplog.text


# ---------------------------------------------------------------- point 10
def test_point10_api_errors_are_typed_and_say_what_to_do(tmp_path):
    model = mlp()
    with pytest.raises(SleepParamsError, match="seed must be an integer >= 0, got -1"):
        bridge.sleep(model, X1, steps=10, seed=-1)
    with pytest.raises(SleepParamsError, match="seed"):
        bridge.SleepReplay("mnist", seed=-1)
    with pytest.raises(ModelError, match=r"bfloat16 weights.*model\.float\(\)"):
        bridge.sleep(mlp().to(torch.bfloat16), X1, steps=10)
    half = bridge.sleep(mlp().to(torch.float16), X1, steps=10).model  # float16 works as before
    assert next(half.parameters()).dtype == torch.float16
    with pytest.raises(SpikeFileError, match="is a folder, not a network file"):
        load_network(tmp_path)
    with pytest.raises(SpikeFileError, match="is a folder, not a NIR file"):
        read_nir(tmp_path)
    net = SleepNetwork(weights=[np.ones((3, 4), np.float32)], alpha=[1.0], threshold=[1.0])
    for overwrite in (False, True):
        with pytest.raises(OutputPathError, match="is a folder"):
            save_network(tmp_path, net, overwrite=overwrite)
    a_file = tmp_path / "model.txt"
    a_file.write_text("mine")
    with pytest.raises(OutputPathError, match="is a file"):
        write_pynn_model(a_file, net)
    assert a_file.read_text() == "mine"
    script = write_pynn_model(tmp_path / "pynn", net)["script"]
    proc = subprocess.run([sys.executable, str(script), "--simulator", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--simulator nope: cannot import pyNN.nope" in proc.stderr
    with pytest.raises(SleepParamsError, match=r"sleep.steps_first.*GiB.*memory"):
        ExperimentConfig.from_dict({"sleep": {"steps_first": 10**12}})


# ---------------------------------------------------------------- point 11
class _Compiled(nn.Module):
    """What ``torch.compile`` returns, as far as the bridge sees it: a wrapper holding the
    model in ``_orig_mod`` whose class has no ``forward`` of its own (torch.fx cannot read it)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self._orig_mod = model

    def __call__(self, x):
        return self._orig_mod(x)


def test_point11_normalized_data_and_compiled_models():
    with pytest.raises(SleepDataError, match=r"model itself must be trained on data in \[0, 1\]"):
        bridge.sleep(mlp(), (X1 - 0.3) / 0.2, steps=10)
    plain, inner = mlp(), mlp()
    wrapped = _Compiled(inner)
    expected = bridge.sleep(plain, X1, steps=80, seed=1)
    out = bridge.sleep(wrapped, X1, steps=80, seed=1, inplace=True)
    assert out.model is wrapped  # slept in place: the wrapper's module holds the slept weights
    for a, b in zip(weights(inner), weights(expected.model)):
        np.testing.assert_array_equal(a, b)
    report = bridge.SleepReplay("mnist")(_Compiled(mlp()), X1, steps=20)
    assert report.task == 1


@pytest.mark.slow
def test_point11_real_torch_compile_model_is_unwrapped():
    """A real ``torch.compile`` model (never called, so nothing is compiled) sleeps as its module."""
    model = mlp()
    compiled = torch.compile(model)
    expected = bridge.sleep(mlp(), X1, steps=80, seed=1)
    bridge.sleep(compiled, X1, steps=80, seed=1, inplace=True)
    for a, b in zip(weights(model), weights(expected.model)):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- point 12
def _adam_task(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int = 30) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()


def test_point12_sleep_warns_about_silent_layers_and_reports_validation(caplog):
    """The issue's scenario in small: an Adam-trained own loop with ``SleepReplay``. The
    preset's output layer never fires (warned, in the report too); ``validate`` reports the
    accuracy before and after each sleep and ``keep_better`` undoes a sleep that harmed."""
    from ann import load_dataset

    ds = load_dataset("mnist-subset")
    first = np.isin(ds.y_train, [0, 1])
    x1, y1 = ds.x_train[first][:300], ds.y_train[first][:300].astype(np.int64)
    test1 = np.isin(ds.y_test, [0, 1])
    val = (ds.x_test[test1][:200], ds.y_test[test1][:200])
    model = mlp()
    _adam_task(model, x1, y1)
    trained = copy.deepcopy(model)
    with caplog.at_level(logging.WARNING, logger="bridge.sleep_checks"):
        report = bridge.SleepReplay("mnist", seed=0, validate=val)(model, x1, steps=150)
    assert report.spikes_per_layer[-1] == 0 and report.spikes_per_layer[1] > 0
    assert any("layer 3 (output) never fired in 150 sleep steps" in w for w in report.warnings)
    assert "never fired" in caplog.text and "weights did not change" in caplog.text
    np.testing.assert_array_equal(weights(model)[2], weights(trained)[2])  # as the warning says
    v = report.validation
    assert v.metric == "accuracy (%)" and v.kept == "slept"
    assert v.before == pytest.approx(bridge.sleep_checks.as_score(val)(trained))
    assert v.after == pytest.approx(bridge.sleep_checks.as_score(val)(model))

    # a sleep that harms (strong depression): reported, and undone with keep_better
    harsh = bridge.preset("mnist").replace(dec=0.5, inc=0.0, beta=(1.0, 1.0, 1.0))
    model = copy.deepcopy(trained)
    replay = bridge.SleepReplay(harsh, seed=0, validate=val, keep_better=True)
    report = replay(model, x1, steps=300)
    v = report.validation
    assert v.after < v.before and v.kept == "before"
    for a, b in zip(weights(model), weights(trained)):
        np.testing.assert_array_equal(a, b)
    assert replay.tasks_seen == 1  # the task still counts: its data are kept for the next sleep
    # a runaway layer is named as such
    notes = bridge.sleep_checks.activity_warnings([np.zeros(4), np.full(5, 90)], ["in", "hidden1"], 100, 1.0)
    assert notes and "runaway rate: 0.90 spikes per neuron per step (900 Hz)" in notes[0]
    with pytest.raises(ArgumentTypeError, match="keep_better=True needs validate"):
        bridge.sleep(trained, x1, steps=10, keep_better=True)
    with pytest.raises(ArgumentTypeError, match="validate must be"):
        bridge.sleep(trained, x1, steps=10, validate="yes")
    score = bridge.sleep(trained, x1, steps=10, validate=lambda m: 1.0).validation
    assert (score.before, score.after, score.metric) == (1.0, 1.0, "score")
