"""Normalization, sleep input, conversion and the sleep front door."""
import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

import bridge
from ann import SleepMLP


def test_normalization_formula():
    # s = [2, 6, 3] -> applied = [2, 6/2, 3/3] -> norm = [1/2, 1/3, 1]
    norms = bridge.data_based_normalization([2.0, 0.5, -1.0], [1.0, 6.0, 3.0])
    np.testing.assert_allclose(norms, [0.5, 1 / 3, 1.0])
    with pytest.raises(ValueError, match="layer 1 has no positive"):
        bridge.data_based_normalization([1.0, -1.0], [1.0, 0.0])


def test_layer_maxima_use_reference_test_mode():
    w = [np.eye(2, dtype=np.float32) * 2, np.eye(2, dtype=np.float32)]
    model = SleepMLP.from_weights(w)  # reference dropout: hidden outputs x 0.75 in test mode
    maxima = bridge.layer_output_maxima(model, np.array([[1.0, 0.5]]))
    np.testing.assert_allclose(maxima, [1.5, 1.5])
    inverted = SleepMLP.from_weights(w, dropout_mode="inverted")
    np.testing.assert_allclose(bridge.layer_output_maxima(inverted, np.array([[1.0, 0.5]])), [2.0, 2.0])


def test_window_pixels_follow_the_reference_layout():
    px = bridge.window_pixels((2, 3), mask_size=1, side=28)
    assert sorted(px.tolist()) == sorted([2 + 28 * 3, 3 + 28 * 3, 2 + 28 * 4, 3 + 28 * 4])


def test_poisson_input_rate_matches_formula():
    params = bridge.SleepParams(input_mode="poisson", max_rate_hz=100.0)
    mean = np.array([0.0, 0.1, 0.4, 1.0, 6.0])  # p = min(1, 2 * 0.001 * 100 * x)
    spikes = bridge.make_input_spikes(mean, params, 20000, seed=3)
    counts = spikes.totals()
    expected_p = np.minimum(1.0, 0.2 * mean)
    assert counts[0] == 0 and counts[-1] == 20000
    for k in (1, 2, 3):
        assert stats.binomtest(int(counts[k]), 20000, expected_p[k]).pvalue > 1e-4


def test_masked_input_only_inside_the_window():
    params = bridge.SleepParams(mask_size=4, max_rate_hz=500.0)
    windows = np.array([[0, 0], [10, 20], [23, 23]])
    spikes = bridge.make_input_spikes(np.ones(784), params, 3, windows=windows, seed=0)
    for t, w in enumerate(windows):
        allowed = set(bridge.window_pixels(w, 4, 28).tolist())
        assert set(spikes.step(t).tolist()) == allowed  # p = 1 inside: every kept pixel fires


def test_input_is_reproducible_and_chunk_independent():
    params = bridge.preset("mnist")
    mean = np.random.default_rng(0).random(784)
    a = bridge.make_input_spikes(mean, params, 3000, seed=11)
    b = bridge.make_input_spikes(mean, params, 3000, seed=11, chunk_steps=7)
    c = bridge.make_input_spikes(mean, params, 3000, seed=12)
    assert a == b and a != c


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=-5), "steps must be an integer >= 0"),
    (dict(uniforms=np.zeros((3, 10))), "uniforms must have shape"),
    (dict(windows=np.full((10, 2), 30)), "window origins"),
])
def test_input_bad_arguments(kwargs, message):
    kwargs = {"steps": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        bridge.make_input_spikes(np.ones(784) * 0.1, bridge.SleepParams(), kwargs.pop("steps"), **kwargs)


def test_negative_mean_and_non_square_masked_input():
    with pytest.raises(ValueError, match="negative"):
        bridge.make_input_spikes(-np.ones(784), bridge.SleepParams(), 5)
    with pytest.raises(ValueError, match="not a square"):
        bridge.make_input_spikes(np.ones(100 + 1), bridge.SleepParams(), 5)


@pytest.mark.parametrize("field, value", [("max_rate_hz", -1.0), ("decay", 1.2), ("inc", float("nan")),
                                          ("input_mode", "noise"), ("steps_first", -3), ("beta", (1.0, -2.0))])
def test_params_out_of_range(field, value):
    with pytest.raises(ValueError, match=field):
        bridge.SleepParams(**{field: value})


def test_params_presets_and_files(tmp_path):
    assert bridge.preset("fashion-mnist").max_rate_hz == pytest.approx(181.047258)
    with pytest.raises(ValueError, match="unknown sleep preset"):
        bridge.preset("imagenet")
    (tmp_path / "p.toml").write_text('[sleep]\npreset = "fashion-mnist"\ninc = 0.5\n')
    p = bridge.SleepParams.from_file(tmp_path / "p.toml")
    assert p.inc == 0.5 and p.dec == pytest.approx(0.003344)
    (tmp_path / "bad.toml").write_text('[sleep]\nincc = 0.5\n')
    with pytest.raises(ValueError, match="unknown sleep parameter"):
        bridge.SleepParams.from_file(tmp_path / "bad.toml")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        bridge.SleepParams.from_file(tmp_path / "broken.json")
    assert bridge.SleepParams().steps_for_task(3) == 25000


def small_model(seed=0):
    return SleepMLP((784, 40, 30, 10), generator=torch.Generator().manual_seed(seed), init_range=0.1)


@pytest.mark.parametrize("model, error, message", [
    (nn.Sequential(nn.Linear(784, 10)), ValueError, "has a bias"),
    (nn.Sequential(nn.Conv2d(1, 2, 3)), ValueError, r"Conv2d \('0'\) has a bias"),
    (nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.MaxPool2d(2)),
     TypeError, "unsupported layer MaxPool2d"),
    (nn.Sequential(nn.Linear(784, 20, bias=False), nn.Sigmoid(), nn.Linear(20, 10, bias=False)), TypeError,
     "Sigmoid"),
    (nn.Sequential(nn.Linear(784, 20, bias=False), nn.Linear(20, 10, bias=False)), ValueError,
     "not followed by a ReLU"),
])
def test_bad_models_are_rejected(model, error, message):
    with pytest.raises(error, match=message):
        bridge.sleep(model, np.random.rand(5, 784), steps=10)


def test_nan_weights_data_width_and_steps():
    model = small_model()
    x = np.random.default_rng(0).random((20, 784))
    with pytest.raises(ValueError, match="has 100 features but the model takes 784"):
        bridge.sleep(model, x[:, :100], steps=10)
    with pytest.raises(ValueError, match="NaN"):
        bridge.sleep(model, np.full((3, 784), np.nan), steps=10)
    with pytest.raises(ValueError, match="negative"):
        bridge.sleep(model, -x, steps=10)
    with pytest.raises(ValueError, match="steps must be"):
        bridge.sleep(model, x, steps=-1)
    with pytest.raises(ValueError, match="beta has 3 values but the model has 2 layers"):
        bridge.sleep(SleepMLP((784, 20, 10)), x, steps=10)
    with torch.no_grad():
        model.linears[1].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="Linear layer 1 has NaN"):
        bridge.sleep(model, x, steps=10)


def test_import_export_round_trip_and_errors():
    model = small_model()
    weights = bridge.export_weights(model)
    assert [w.shape for w in weights] == [(40, 784), (30, 40), (10, 30)]
    changed = [w * 2 for w in weights]
    new = bridge.import_weights(model, changed)
    assert new is not model
    np.testing.assert_array_equal(new.linears[2].weight.detach().numpy(), changed[2])
    np.testing.assert_array_equal(model.linears[2].weight.detach().numpy(), weights[2])
    with pytest.raises(ValueError, match="weights\\[1\\] has shape"):
        bridge.import_weights(model, [weights[0], weights[0], weights[2]])
    with pytest.raises(ValueError, match="got 2 weight matrices"):
        bridge.import_weights(model, weights[:2])


def test_sleep_is_reproducible_and_changes_a_copy():
    model = small_model()
    x = np.random.default_rng(0).random((50, 784)) * 0.5
    params = bridge.SleepParams(beta=(0.5, 0.5, 0.5), alpha_scale=2.0)
    a = bridge.sleep(model, x, params, steps=500, seed=4, record_spikes=True)
    b = bridge.sleep(model, x, params, steps=500, seed=4, record_spikes=True)
    assert a.result.counts[:, 1:].sum() > 0
    for wa, wb in zip(a.result.weights, b.result.weights):
        np.testing.assert_array_equal(wa, wb)
    assert all(ra == rb for ra, rb in zip(a.result.spikes, b.result.spikes))
    w_before = bridge.export_weights(model)
    assert np.abs(bridge.export_weights(a.model)[0] - w_before[0]).max() > 0
    np.testing.assert_array_equal(bridge.export_weights(model)[0], w_before[0])  # input untouched
