"""The per-layer plasticity gain (``sleep.plasticity_gain``), a named variant of SRC: config
checks, the front door, files and NIR, and that the reference (no gains) is untouched.
Engine equality with gains is in ``test_engine_contract.py``."""
from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
import torch

import snn
from ann.models import SleepMLP
from bridge import SleepParams, sleep
from bridge.errors import ConfigError, SleepParamsError
from bridge.experiments import ExperimentConfig
from snn.errors import InvalidNetworkError
from snn.export import load_network, save_network
from snn.export.nir import from_nir, to_nir

from .conftest import random_network


def _model_and_data(seed=0):
    torch.manual_seed(seed)
    model = SleepMLP([20, 16, 12, 4])
    x = np.random.default_rng(seed).random((64, 20))
    return model, x


PARAMS = SleepParams(max_rate_hz=300.0, inc=0.05, dec=0.01, beta=(1.0, 1.0, 1.0), alpha_scale=3.0,
                     input_mode="poisson", steps_first=300)


def test_default_is_the_reference_and_is_left_out_of_to_dict():
    p = SleepParams()
    assert p.plasticity_gain == ()
    assert "plasticity_gain" not in p.to_dict()  # earlier fingerprints and preset files stay the same
    q = p.replace(plasticity_gain=[1, 0.5, 0])
    assert q.plasticity_gain == (1.0, 0.5, 0.0) and q.to_dict()["plasticity_gain"] == [1.0, 0.5, 0.0]
    assert SleepParams.from_dict(q.to_dict()) == q


@pytest.mark.parametrize("bad", [[-1.0, 1.0, 1.0], [float("nan")], "1 1 1", [True]])
def test_bad_gains_name_the_field(bad):
    with pytest.raises(SleepParamsError, match="sleep.plasticity_gain"):
        SleepParams(plasticity_gain=bad)


def test_experiment_config_checks_the_number_of_gains_before_any_work():
    cfg = ExperimentConfig.from_dict({"experiment": {"dataset": "mnist-subset", "sizes": [784, 50, 10]},
                                      "sleep": {"beta": [1.0, 1.0]}})
    assert cfg.fingerprint() == ExperimentConfig.from_dict(
        {"experiment": {"dataset": "mnist-subset", "sizes": [784, 50, 10]},
         "sleep": {"beta": [1.0, 1.0], "plasticity_gain": []}}).fingerprint()
    with pytest.raises(ConfigError, match="sleep.plasticity_gain has 3 values for 2 layers"):
        ExperimentConfig.from_dict({"experiment": {"dataset": "mnist-subset", "sizes": [784, 50, 10]},
                                    "sleep": {"beta": [1.0, 1.0], "plasticity_gain": [1.0, 1.0, 1.0]}})


def test_front_door_freezes_a_layer_and_checks_the_length():
    model, x = _model_and_data()
    before = [p.detach().clone() for p in model.parameters()]
    ref = sleep(model, x, PARAMS, seed=3)
    frozen = sleep(model, x, dataclasses.replace(PARAMS, plasticity_gain=(1.0, 1.0, 0.0)), seed=3)
    assert frozen.spec.network.plasticity_gain.tolist() == [1.0, 1.0, 0.0]
    assert ref.result.counts[:, 1:].sum(0).min() > 0, "every layer must spike"
    w_ref = [p.detach() for p in ref.model.parameters()]
    w_frozen = [p.detach() for p in frozen.model.parameters()]
    assert torch.equal(w_frozen[2], before[2])
    assert not torch.equal(w_ref[2], before[2])
    # the layers before the frozen one see the same input and learn the same
    assert torch.equal(w_frozen[0], w_ref[0])
    with pytest.raises(SleepParamsError, match="plasticity_gain has 2 values but the model has 3"):
        sleep(model, x, dataclasses.replace(PARAMS, plasticity_gain=(1.0, 0.0)))


def test_unit_gains_give_the_reference_bit_for_bit():
    model, x = _model_and_data(1)
    ref = sleep(model, x, PARAMS, seed=5)
    ones = sleep(model, x, dataclasses.replace(PARAMS, plasticity_gain=(1.0, 1.0, 1.0)), seed=5)
    for a, b in zip(ref.model.parameters(), ones.model.parameters()):
        assert torch.equal(a, b)


def test_network_checks_gains():
    with pytest.raises(InvalidNetworkError, match="plasticity_gain must have one gain per layer"):
        dataclasses.replace(random_network(), plasticity_gain=np.ones(2))
    with pytest.raises(InvalidNetworkError, match="plasticity_gain values must be finite and >= 0"):
        dataclasses.replace(random_network(), plasticity_gain=np.array([1.0, -0.1, 1.0]))


def test_files_and_nir_keep_the_gains(tmp_path):
    net = dataclasses.replace(random_network(), plasticity_gain=np.array([0.5, 0.0, 2.0]))
    back = load_network(save_network(tmp_path / "net.h5", net))
    np.testing.assert_array_equal(back.plasticity_gain, net.plasticity_gain)
    np.testing.assert_array_equal(from_nir(to_nir(net, "generic")).plasticity_gain, net.plasticity_gain)
    # a file written before the gains existed loads with gain 1 everywhere
    with h5py.File(tmp_path / "net.h5", "r+") as f:
        del f["network/plasticity_gain"]
    np.testing.assert_array_equal(load_network(tmp_path / "net.h5").plasticity_gain, np.ones(3))
