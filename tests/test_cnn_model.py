"""The bias-free CNN of the wake side (ann.SleepCNN) and the harness's ``model = "cnn"`` schema."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import ann
from ann.errors import TrainingConfigError
from bridge.errors import ConfigError
from bridge.experiments import ExperimentConfig
from bridge.experiments.learners import new_model

CNN_EXPERIMENT = {"model": "cnn", "sizes": [784, 10]}
FIVE_BETAS = {"beta": [1.0, 1.0, 1.0, 1.0, 1.0]}


def test_default_cnn_is_the_issue_network():
    m = ann.SleepCNN(generator=torch.Generator().manual_seed(0))
    convs = [l for l in m if isinstance(l, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 16, (5, 5)), (16, 32, (5, 5))]
    assert all(l.bias is None for l in m.weight_layers)
    assert sum(isinstance(l, nn.AvgPool2d) for l in m) == 2
    assert [l.in_features for l in m.linears] == [512] and m.sizes == [784, 10]
    assert all(float(l.weight.abs().max()) <= 0.01 for l in m.weight_layers)
    assert m(torch.rand(3, 784)).shape == (3, 10)
    # the same generator seed gives the same weights
    m2 = ann.SleepCNN(generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(m.weight_layers, m2.weight_layers))


def test_cnn_reference_dropout_only_before_fully_connected_layers():
    m = ann.SleepCNN(fc_sizes=(20, 10), dropout=0.25)
    kinds = [type(l).__name__ for l in m]
    assert kinds.count("ReferenceDropout") == 2  # on the flattened features and the hidden fc layer
    assert kinds.index("ReferenceDropout") > kinds.index("Flatten")
    assert isinstance(ann.SleepCNN(dropout=0.0)[-2], nn.Linear)


@pytest.mark.parametrize("kwargs, field", [
    (dict(channels=()), "channels"), (dict(channels=(0,)), "channels"), (dict(image_shape=(28, 28)), "image_shape"),
    (dict(kernel_size=0), "kernel_size"), (dict(stride=(1, 2, 3)), "stride"), (dict(padding=-1), "padding"),
    (dict(pool_size=-2), "pool_size"), (dict(kernel_size=29), "no output positions"), (dict(dropout=1.0), "dropout"),
    (dict(fc_sizes=(10.5,)), "fc_sizes"), (dict(init_range=0), "init_range"), (dict(output_activation="tanh"),
                                                                                  "output_activation"),
])
def test_cnn_refuses_bad_arguments_naming_them(kwargs, field):
    with pytest.raises(TrainingConfigError, match=field):
        ann.SleepCNN(**kwargs)


@pytest.mark.slow
def test_cnn_trains_with_the_reference_loop():
    data = ann.load_mnist_subset()
    task = ann.class_incremental_tasks(data, [(0, 1)])[0]
    m = ann.SleepCNN(generator=torch.Generator().manual_seed(0))
    # the harness's reference protocol: 100 SGD updates per task (17 epochs of 600 examples)
    ann.train_task(m, task.x_train, task.y_train, ann.TrainConfig(epochs=17), seed=0)
    assert ann.accuracy(m, task.x_test, task.y_test) > 90


def test_cnn_config_schema_and_fingerprint():
    cfg = ExperimentConfig.from_dict({"experiment": CNN_EXPERIMENT, "sleep": FIVE_BETAS})
    assert cfg.sleep_layer_kinds() == ["conv", "pool", "conv", "pool", "dense"]
    model = new_model(cfg.resolved(), seed=0, logits=False)
    assert isinstance(model, ann.SleepCNN) and model(torch.rand(2, 784)).shape == (2, 10)
    other = ExperimentConfig.from_dict({"experiment": {**CNN_EXPERIMENT, "conv_channels": [8, 16]},
                                        "sleep": FIVE_BETAS})
    assert other.fingerprint() != cfg.fingerprint()
    no_pool = ExperimentConfig.from_dict({"experiment": {**CNN_EXPERIMENT, "pool_size": 0, "conv_channels": [4]},
                                          "sleep": {"beta": [1.0, 1.0]}})
    assert no_pool.sleep_layer_kinds() == ["conv", "dense"]
    # an MLP run's fingerprint does not see the CNN fields: the default config's fingerprint from before
    # they existed (main at 89b81d1), so results folders made then stay valid
    assert ExperimentConfig().fingerprint() == "9d7bec2ad45cb22c"


@pytest.mark.parametrize("experiment, sleep, field", [
    ({"conv_channels": [8]}, {}, "experiment.conv_channels is set but experiment.model = 'mlp'"),
    ({**CNN_EXPERIMENT, "model": "resnet"}, FIVE_BETAS, "experiment.model"),
    ({**CNN_EXPERIMENT, "conv_kernel": 0}, FIVE_BETAS, "experiment.conv_kernel"),
    ({**CNN_EXPERIMENT, "conv_stride": 1.5}, FIVE_BETAS, "experiment.conv_stride"),
    ({**CNN_EXPERIMENT, "image_shape": [1, 28]}, FIVE_BETAS, "experiment.image_shape"),
    ({**CNN_EXPERIMENT, "sizes": [100, 10]}, FIVE_BETAS, "experiment.image_shape"),
    ({**CNN_EXPERIMENT, "conv_kernel": 13}, FIVE_BETAS, "no output positions"),
    (CNN_EXPERIMENT, {"beta": [1.0, 1.0, 1.0]}, "sleep.beta has 3 values for 5 layers"),
    (CNN_EXPERIMENT, {**FIVE_BETAS, "plasticity_gain": [1.0, 0.0, 1.0]}, "sleep.plasticity_gain"),
    ({**CNN_EXPERIMENT, "methods": ["owm"]}, FIVE_BETAS, "owm works on model = 'mlp' only"),
    ({**CNN_EXPERIMENT, "methods": ["icarl+src"]}, FIVE_BETAS, "icarl works on model = 'mlp' only"),
])
def test_cnn_config_errors_name_the_field(experiment, sleep, field):
    with pytest.raises(ConfigError, match=field.replace("(", r"\(").replace(")", r"\)")):
        ExperimentConfig.from_dict({"experiment": experiment, "sleep": sleep})
