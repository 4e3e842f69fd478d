"""Recording through the front door: what is asked for is kept, spikes do not change,
long sleeps run in pieces with the same result, impossible requests fail before work."""
import sys

import numpy as np
import pytest
import torch

import bridge
import snn
from ann import SleepMLP
from snn.errors import EngineOptionError, NeuronSelectionError


def small_network(seed=0):
    rng = np.random.default_rng(seed)
    w = [rng.normal(0.05, 0.1, (30, 20)), rng.normal(0.05, 0.1, (5, 30))]
    return snn.SleepNetwork(weights=w, alpha=np.array([1.0, 1.0]), threshold=np.array([0.3, 0.3]),
                            decay=0.99, inc=0.01, dec=0.001)


@pytest.fixture(scope="module")
def model_and_data():
    model = SleepMLP((784, 40, 30, 10), generator=torch.Generator().manual_seed(0))
    x = np.random.default_rng(1).random((100, 784))
    return model, x


def test_fast_engine_voltage_and_drive_match_a_hand_loop():
    net = small_network()
    raster = np.random.default_rng(3).random((200, 20)) < 0.2
    res = snn.get_engine("fast", record_spikes=True, chunk_steps=7,
                         record_v={"hidden1": [0, 3, 29], "output": [4]},
                         record_drive={"hidden1": [3], "output": [0, 1, 2, 3, 4]}).build(net).run(
        snn.SpikeRecord.from_dense(raster))
    w = [x.copy() for x in net.weights]
    v = [np.zeros(30), np.zeros(5)]
    for t in range(200):
        s = raster[t].astype(float)
        for l in range(2):
            drive = w[l] @ s
            v[l] = 0.99 * v[l] + drive  # alpha = 1
            if l == 0:
                np.testing.assert_allclose(res.voltages["hidden1"].v[t], v[0][[0, 3, 29]], atol=1e-12)
                np.testing.assert_allclose(res.input_drive["hidden1"].drive[t], drive[[3]], atol=1e-12)
            else:
                np.testing.assert_allclose(res.voltages["output"].v[t], v[1][[4]], atol=1e-12)
                np.testing.assert_allclose(res.input_drive["output"].drive[t], drive, atol=1e-12)
            fired = v[l] >= 0.3
            w[l][fired] = snn.hebbian_rows(w[l][fired], s > 0, 0.01, 0.001, "reference")
            v[l][fired] = 0
            s = fired.astype(float)
    assert res.counts[:, 1:].sum() > 0  # the check above saw threshold crossings and resets
    assert res.voltages["hidden1"].indices.tolist() == [0, 3, 29]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_recording_does_not_change_any_spike(dtype):
    net = small_network(1)
    inp = snn.SpikeRecord.from_dense(np.random.default_rng(4).random((500, 20)) < 0.25)
    plain = snn.get_engine("fast", record_spikes=True, dtype=dtype).build(net).run(inp)
    rec = snn.get_engine("fast", record_spikes=True, dtype=dtype, record_v={"hidden1": range(30), "output": [0]},
                         record_drive={"hidden1": range(30), "output": range(5)}).build(net).run(inp)
    assert all(a == b for a, b in zip(plain.spikes, rec.spikes))
    assert np.array_equal(plain.counts, rec.counts)
    for a, b in zip(plain.weights, rec.weights):
        assert np.array_equal(a, b)


def test_front_door_keeps_every_recording_and_pieces_change_nothing(model_and_data):
    model, x = model_and_data
    params = bridge.preset("mnist")
    whole = bridge.sleep(model, x, params, steps=3000, seed=2, record_spikes=True)
    parts = bridge.sleep(model, x, params, steps=3000, seed=2, record_spikes=True, chunk_steps=700,
                         record_weights_every=1000, record_v={"hidden1": [1, 2]},
                         engine_options={"record_drive": {"output": [0]}})
    assert all(a == b for a, b in zip(whole.result.spikes, parts.result.spikes))
    assert np.array_equal(whole.result.counts, parts.result.counts)
    for a, b in zip(whole.result.weights, parts.result.weights):
        assert np.array_equal(a, b)
    for a, b in zip(whole.result.totals, parts.result.totals):
        assert np.array_equal(a, b)
    r = parts.result
    assert r.voltages["hidden1"].v.shape == (3000, 2)  # engine_options no longer dropped
    assert r.input_drive["output"].drive.shape == (3000, 1)
    assert [s.step for s in r.weight_snapshots] == [0, 1000, 2000, 3000]
    np.testing.assert_array_equal(r.weight_snapshots[0].weights[0], bridge.export_weights(model)[0])
    np.testing.assert_array_equal(r.weight_snapshots[-1].weights[1], r.weights[1])
    assert parts.input_spikes == r.spikes[0]


def test_engine_options_record_v_reaches_the_outcome(model_and_data):
    model, x = model_and_data
    out = bridge.sleep(model, x, steps=50, engine_options={"record_v": {"output": [3]}})
    assert out.result.voltages["output"].v.shape == (50, 1)
    assert out.input_spikes is None  # input not recorded: never held whole


def test_weight_snapshot_steps_not_dividing_chunks(model_and_data):
    model, x = model_and_data
    out = bridge.sleep(model, x, steps=1000, chunk_steps=300, record_weights_every=250)
    assert [s.step for s in out.result.weight_snapshots] == [0, 250, 500, 750, 1000]


def test_unsupported_recording_request_fails_before_work(model_and_data, monkeypatch):
    model, x = model_and_data
    called = []
    monkeypatch.setattr(sys.modules["bridge.sleep"], "build_sleep_network", lambda *a, **k: called.append(1))
    with pytest.raises(EngineOptionError, match=r"engine 'dense' cannot honour the recording request 'record_v'"):
        bridge.sleep(model, x, steps=10, engine="dense", record_v={"hidden1": [0]})
    with pytest.raises(EngineOptionError, match=r"engine 'fast' cannot honour the option 'colour'"):
        bridge.sleep(model, x, steps=10, engine_options={"colour": "red"})
    with pytest.raises(EngineOptionError, match="both"):
        bridge.sleep(model, x, steps=10, record_v={"output": [0]}, engine_options={"record_v": {"output": [0]}})
    assert not called


@pytest.mark.parametrize("request_, match", [
    ({"record_v": {"hidden7": [0]}}, "unknown layer 'hidden7'"),
    ({"record_v": {"input": [0]}}, "unknown layer 'input'"),
    ({"record_drive": {"hidden1": [40]}}, r"must lie in \[0, 40\)"),
    ({"record_drive": {"hidden1": []}}, "empty"),
])
def test_unknown_layer_or_neuron_index(model_and_data, request_, match):
    model, x = model_and_data
    with pytest.raises(NeuronSelectionError, match=match):
        bridge.sleep(model, x, steps=10, **request_)


@pytest.mark.parametrize("kwargs, match", [
    (dict(record_weights_every=0), "record_weights_every"),
    (dict(chunk_steps=0), "chunk_steps"),
    (dict(steps=True), "steps"),
])
def test_bad_piece_arguments(model_and_data, kwargs, match):
    model, x = model_and_data
    with pytest.raises(ValueError, match=match):
        bridge.sleep(model, x, **{"steps": 10, **kwargs})


def test_input_pieces_equal_one_draw():
    params = bridge.preset("mnist")
    mean = np.random.default_rng(0).random(784)
    whole = bridge.make_input_spikes(mean, params, 5000, seed=4)
    pieces = list(bridge.sleep_input.iter_input_spikes(mean, params, 5000, seed=4, chunk_steps=1234))
    assert [p.steps for p in pieces] == [1234, 1234, 1234, 1234, 64]
    assert snn.SpikeRecord.concatenate(pieces) == whole


def test_brian2_input_current_monitor_sees_the_drive():
    """A StateMonitor of I_syn placed after integration reads the step's input drive
    (it was cleared in the same schedule slot and read 0), equal to the fast engine's."""
    from snn.brian2 import equations as eq
    from snn.brian2.codegen import b2

    net = small_network(2)
    inp = snn.SpikeRecord.from_dense(np.random.default_rng(5).random((60, 20)) < 0.25)
    fast = snn.get_engine("fast", record_spikes=True, record_drive={"hidden1": [0, 4, 7], "output": [1]}).build(
        net).run(inp)
    eng = snn.get_engine("brian2", codegen="numpy").build(net)
    mons = {}
    for l, name, idx in ((1, "hidden1", [0, 4, 7]), (2, "output", [1])):
        group = eng.brian2_objects["groups"][l]
        mons[name] = b2.StateMonitor(group, "I_syn", record=idx, when=eq.slot(l), order=eq.LAYER_ORDER["v_monitor"])
        eng.brian2_network.add(mons[name])
    res = eng.run(inp)
    assert all(a == b for a, b in zip(fast.spikes, res.spikes))
    for name, mon in mons.items():
        drive = np.asarray(mon.I_syn).T
        assert np.abs(drive).max() > 0
        np.testing.assert_allclose(drive, fast.input_drive[name].drive, rtol=0, atol=1e-12)


def test_what_cannot_be_bounded_fails_before_work(model_and_data, monkeypatch):
    model, x = model_and_data
    ran = []
    from snn.fast import FastEngine

    monkeypatch.setattr(FastEngine, "_run", lambda self, spikes: ran.append(1))
    with pytest.raises(ValueError, match="GiB"):
        bridge.sleep(model, x, steps=10**14)
    assert not ran
