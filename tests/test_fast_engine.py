"""The fast engine against the literal dense loop, and its bookkeeping."""
import numpy as np
import pytest

import snn

from .conftest import random_input, random_network


def run(engine_name, network, spikes, **options):
    eng = snn.get_engine(engine_name, **options)
    eng.build(network.copy())
    return eng.run(spikes)


@pytest.mark.parametrize("rule", ["reference", "plain"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fast_equals_dense(rule, dtype):
    net, spikes = random_network(rule=rule), random_input()
    fast = run("fast", net, spikes, dtype=dtype)
    dense = run("dense", net, spikes, dtype=dtype)
    assert fast.counts[:, 1:].sum(0).min() > 20, "the test network must actually spike"
    np.testing.assert_array_equal(fast.counts, dense.counts)
    for a, b in zip(fast.spikes, dense.spikes):
        assert a == b
    tol = 1e-12 if dtype == "float64" else 1e-5
    for wf, wd, w0 in zip(fast.weights, dense.weights, net.weights):
        np.testing.assert_allclose(wf, wd, rtol=0, atol=tol)
        assert np.abs(wf - w0).max() > 1e-3, "plasticity must have changed the weights"


def test_rules_differ_and_plain_rule_is_inc_dec():
    # one layer, one post neuron that fires at step 0 from input 0; input 1 silent
    w = np.array([[2.0, 0.5, -0.3]])
    net = snn.SleepNetwork(weights=[w], alpha=[1.0], threshold=[1.0], decay=1.0, inc=0.1, dec=0.01, rule="plain")
    spikes = snn.SpikeRecord.from_dense(np.array([[True, False, False]]))
    res = run("fast", net, spikes)
    np.testing.assert_allclose(res.weights[0], [[2.1, 0.49, -0.31]])
    ref = run("fast", snn.SleepNetwork(weights=[w], alpha=[1.0], threshold=[1.0], decay=1.0, inc=0.1,
                                       dec=0.01, rule="reference"), spikes)
    f = snn.weight_factor(w)
    np.testing.assert_allclose(ref.weights[0], w + np.array([[0.1, -0.01, -0.01]]) * f)
    assert f[0, 0] == 0.0 and f[0, 2] == pytest.approx(2.0)  # positive weights saturate, negative grow


def test_state_persists_across_runs():
    net, spikes = random_network(), random_input(steps=300)
    whole = run("fast", net, spikes)
    eng = snn.get_engine("fast", chunk_steps=7)
    eng.build(net.copy())
    first = eng.run(spikes.slice_steps(0, 120))
    second = eng.run(spikes.slice_steps(120, 300))
    np.testing.assert_array_equal(np.vstack([first.counts, second.counts]), whole.counts)
    np.testing.assert_array_equal(eng.weights[1], whole.weights[1])


def test_counts_totals_and_records_agree():
    net, spikes = random_network(), random_input()
    res = run("fast", net, spikes)
    assert res.counts.shape == (spikes.steps, 4)
    for l, rec in enumerate(res.spikes):
        np.testing.assert_array_equal(rec.counts, res.counts[:, l])
        np.testing.assert_array_equal(rec.totals(), res.totals[l])
    nores = run("fast", net, spikes, record_spikes=False)
    assert nores.spikes is None
    np.testing.assert_array_equal(nores.counts, res.counts)
    rates = res.firing_rates_hz()
    assert rates[0].shape == (30,) and np.all(rates[0] >= 0)


def test_unknown_engine_and_bad_build():
    with pytest.raises(ValueError, match="unknown sleep engine 'nest'.*available engines: .*fast"):
        snn.get_engine("nest")
    with pytest.raises(ValueError, match="dtype"):
        snn.get_engine("fast", dtype="float16")
    eng = snn.get_engine("fast")
    with pytest.raises(RuntimeError, match="build"):
        eng.run(random_input())
    with pytest.raises(TypeError, match="SleepNetwork"):
        eng.build({"weights": []})
    eng.build(random_network())
    with pytest.raises(ValueError, match="input spikes are for 12 inputs"):
        eng.run(random_input(n_inputs=12))


@pytest.mark.parametrize("change, message", [
    (dict(weights=[np.ones((3, 4)), np.ones((2, 5))]), "shape mismatch"),
    (dict(weights=[np.full((3, 4), np.nan)]), "NaN"),
    (dict(alpha=[1.0, 2.0]), "alpha must have one value per layer"),
    (dict(decay=1.5), "decay"),
    (dict(inc=-0.1), "inc"),
    (dict(rule="stdp"), "unknown weight rule"),
])
def test_sleep_network_validation(change, message):
    kwargs = dict(weights=[np.ones((3, 4))], alpha=[1.0], threshold=[1.0])
    kwargs.update(change)
    if len(kwargs["weights"]) == 2 and "alpha" not in change:
        kwargs.update(alpha=[1.0, 1.0], threshold=[1.0, 1.0])
    with pytest.raises(ValueError, match=message):
        snn.SleepNetwork(**kwargs)


def test_spike_record_validation():
    with pytest.raises(ValueError, match="indices must lie"):
        snn.SpikeRecord(3, [0, 1], [5])
    with pytest.raises(ValueError, match="non-decreasing"):
        snn.SpikeRecord(3, [0, 2], [1])
