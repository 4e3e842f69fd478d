"""CNNs through the bridge: conversion (torch.fx), normalization, sleep on every engine that
takes them (fast = dense exactly on a trained CNN), fc-only sleep, SleepReplay and the tuner."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ann
import bridge
from bridge.convert import export_weights, layer_output_maxima, read_model
from bridge.errors import ModelError, SleepDataError, SleepParamsError, UnsupportedOperationError

FIVE = (2.0, 1.0, 2.0, 1.0, 2.0)  # thresholds of conv, pool, conv, pool, fc


@pytest.fixture(scope="module")
def trained():
    """A SleepCNN trained on the first task of the MNIST subset (5 epochs, 30 SGD updates)."""
    tasks = ann.class_incremental_tasks(ann.load_mnist_subset(), [(0, 1), (2, 3)])
    model = ann.SleepCNN(generator=torch.Generator().manual_seed(0))
    ann.train_task(model, tasks[0].x_train, tasks[0].y_train, ann.TrainConfig(epochs=5), seed=0)
    return model, tasks


def params(**changes):
    return bridge.preset("mnist").replace(beta=FIVE, **changes)


def test_conversion_layers_and_per_layer_normalization(trained):
    model, tasks = trained
    x = tasks[0].x_train
    spec = bridge.build_sleep_network(model, x, params())
    net = spec.network
    assert [layer.kind for layer in net.layers] == ["conv", "pool", "conv", "pool", "dense"]
    assert net.layer_names == ["input", "conv1", "pool1", "conv2", "pool2", "output"]
    assert net.sizes == [784, 16 * 24 * 24, 16 * 12 * 12, 32 * 8 * 8, 32 * 4 * 4, 10]
    assert net.plasticity_gain.tolist() == [1, 0, 1, 0, 1]
    # maxima over positions and channels, read independently with the model's own layers
    with torch.no_grad():
        model.eval()
        h = torch.from_numpy(x).reshape(-1, 1, 28, 28)
        c1 = F.relu(model[1](h))
        p1 = model[3](c1)
        c2 = F.relu(model[4](p1))
        p2 = model[6](c2) * 0.75  # the fc layer reads it after the reference dropout's test-time scaling
        out = model(torch.from_numpy(x))
    want = [float(t.max()) for t in (c1, p1, c2, p2, out)]
    np.testing.assert_allclose(layer_output_maxima(model, x), want, rtol=1e-6)
    wmax = [float(model[i].weight.detach().max()) if i not in (3, 6) else 0.25 for i in (1, 3, 4, 6, 9)]
    np.testing.assert_allclose(spec.norm_constants, bridge.data_based_normalization(wmax, want), rtol=1e-5)
    assert [w.shape for w in export_weights(model)] == [(16, 1, 5, 5), (2, 2), (32, 16, 5, 5), (2, 2), (10, 512)]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sum", "sequential"])
def test_fast_equals_dense_on_a_trained_cnn(trained, mode):
    model, tasks = trained
    p = params(kernel_update=mode)
    runs = {e: bridge.sleep(model, tasks[0].x_train, p, steps=150, engine=e, seed=3, record_spikes=True)
            for e in ("dense", "fast")}
    dense, fast = runs["dense"].result, runs["fast"].result
    assert (dense.counts[:, 1:].sum(0) > 0).all()
    np.testing.assert_array_equal(fast.counts, dense.counts)
    for a, b in zip(fast.spikes, dense.spikes):
        np.testing.assert_array_equal(a.indices, b.indices)
    assert max(np.abs(a - b).max() for a, b in zip(fast.weights, dense.weights)) <= 1e-12
    slept = runs["fast"].model
    assert torch.equal(slept[1].weight, torch.as_tensor(fast.weights[0], dtype=torch.float32))
    assert not torch.equal(slept[1].weight, model[1].weight)  # the kernels slept


def test_fc_only_sleep_leaves_the_kernels(trained):
    """The paper's frozen-extractor setting: plasticity_gain 0 on every layer but the fc one."""
    model, tasks = trained
    out = bridge.sleep(model, tasks[0].x_train, params(plasticity_gain=(0, 0, 0, 0, 1)), steps=300, seed=0)
    assert torch.equal(out.model[1].weight, model[1].weight) and torch.equal(out.model[4].weight, model[4].weight)
    assert not torch.equal(out.model[9].weight, model[9].weight)
    with pytest.raises(SleepParamsError, match=r"plasticity_gain\[1\] = 1 is for a pooling layer"):
        bridge.sleep(model, tasks[0].x_train, params(plasticity_gain=(1, 1, 1, 1, 1)), steps=5)
    with pytest.raises(ValueError, match="beta has 3 values but the model has 5 layers .conv, pool"):
        bridge.sleep(model, tasks[0].x_train, bridge.preset("mnist"), steps=5)


def test_model_taking_images_gives_the_same_sleep(trained):
    """A CNN without nn.Unflatten takes (n, C, H, W) data; flat data is refused with a message."""
    model, tasks = trained
    images = nn.Sequential(*list(model)[1:])
    x = tasks[0].x_train
    a = bridge.sleep(model, x, params(), steps=100, seed=1)
    b = bridge.sleep(images, x.reshape(-1, 1, 28, 28), params(), steps=100, seed=1)
    np.testing.assert_array_equal(a.result.counts, b.result.counts)
    with pytest.raises(SleepDataError, match=r"images \(n, 1, H, W\)"):
        bridge.sleep(images, x, params(), steps=5)


@pytest.mark.parametrize("layers, message", [
    ([nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(), nn.MaxPool2d(2)], "MaxPool2d .*use nn.AvgPool2d"),
    ([nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4)], "BatchNorm2d"),
    ([nn.Conv2d(1, 4, 3)], r"Conv2d \('1'\) has a bias"),
    ([nn.Conv2d(1, 4, 3, bias=False, dilation=2)], "dilation=.2, 2."),
    ([nn.Conv2d(1, 4, 3, bias=False, groups=1, padding="same")], "padding='same'"),
    ([nn.Conv2d(1, 2, 3, bias=False, padding_mode="reflect", padding=1)], "padding_mode='reflect'"),
    ([nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(), nn.AvgPool2d(2, padding=1)], "padding=1"),
    ([nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True)], "ceil_mode=True"),
    ([nn.Conv2d(1, 4, 3, bias=False), nn.AvgPool2d(2)], "not followed by a ReLU before the pooling"),
    ([nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(), nn.Linear(26, 10, bias=False)], "put nn.Flatten"),
])
def test_unsupported_cnn_operations_are_refused_naming_them(layers, message):
    model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), *layers)
    with pytest.raises(ModelError, match=message):
        read_model(model)
    with pytest.raises(ModelError, match=message):
        bridge.sleep(model, np.random.rand(4, 784), steps=5)


def test_residual_cnn_is_refused():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 1, 3, padding=1, bias=False), nn.Conv2d(1, 1, 3, padding=1, bias=False)

        def forward(self, x):
            h = F.relu(self.c1(x))
            return self.c2(h) + h
    with pytest.raises(UnsupportedOperationError, match="single chain"):
        read_model(Residual())


@pytest.mark.slow
def test_sleep_replay_and_calibration_on_a_cnn(trained):
    model, tasks = trained
    model = ann.SleepCNN(generator=torch.Generator().manual_seed(1))
    replay = bridge.SleepReplay(params(steps_first=200, steps_per_task=100), seed=0, calibrate=True)
    for k, task in enumerate(tasks):
        ann.train_task(model, task.x_train, task.y_train, ann.TrainConfig(epochs=3), seed=k)
        report = replay(model, task.x_train)
        assert report.steps == 200 + 100 * k and len(report.spikes_per_layer) == 6
    assert len(replay.params.beta) == 5 and len(replay.calibration.rates_hz) == 5
