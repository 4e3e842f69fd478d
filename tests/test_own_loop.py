"""SRC in the user's own training loop: SleepReplay, in-place sleep, calibration for
any depth, and the inputs users have (images, Datasets, float64 models, bad ranges)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import bridge
from ann import SleepMLP, TrainConfig, class_incremental_tasks, load_mnist_subset, train_task
from bridge.calibration import RateTargets, firing_rates_hz
from bridge.errors import ArgumentTypeError, SleepDataError, SleepParamsError
from bridge.replay import Reservoir

PARAMS = bridge.SleepParams(beta=(0.3, 0.3), alpha_scale=2.0, input_mode="poisson", steps_first=60,
                            steps_per_task=20)


def net(seed=0, dtype=torch.float32, flatten=False):
    torch.manual_seed(seed)
    layers = [nn.Flatten()] if flatten else []
    layers += [nn.Linear(784, 20, bias=False), nn.ReLU(), nn.Linear(20, 10, bias=False)]
    model = nn.Sequential(*layers).to(dtype)
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.uniform_(-0.05, 0.15)
    return model


def task_data(n=40, seed=0):
    return np.random.default_rng(seed).random((n, 784)).astype(np.float32) * 0.6


def weights(model):
    return [m.weight.detach().clone() for m in model.modules() if isinstance(m, nn.Linear)]


@pytest.fixture(scope="module")
def mnist_tasks():
    return class_incremental_tasks(load_mnist_subset())


def test_optimizer_created_before_sleep_trains_the_slept_weights():
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    params_before = list(model.parameters())
    w_before = weights(model)
    report = bridge.SleepReplay(PARAMS, seed=3)(model, task_data())
    assert report.spikes_per_layer[1] > 0
    slept = weights(model)
    assert (slept[0] - w_before[0]).abs().max() > 0, "sleep changed nothing"
    assert all(a is b for a, b in zip(model.parameters(), params_before))
    # one step of the optimizer made before sleep moves the slept weights
    x, y = torch.from_numpy(task_data(8, seed=1)), torch.arange(8) % 10
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    grads = [m.weight.grad.clone() for m in model if isinstance(m, nn.Linear)]
    opt.step()
    for w_new, w_slept, g in zip(weights(model), slept, grads):
        assert g.abs().max() > 0
        torch.testing.assert_close(w_new, w_slept - 0.5 * g)


def test_bridge_sleep_inplace_and_copy():
    model = net()
    before = weights(model)
    copy_out = bridge.sleep(model, task_data(), PARAMS, steps=60, seed=1)
    assert copy_out.model is not model
    torch.testing.assert_close(weights(model), before)  # input untouched
    same = bridge.sleep(model, task_data(), PARAMS, steps=60, seed=1, inplace=True)
    assert same.model is model
    torch.testing.assert_close(weights(model), weights(copy_out.model))


def test_sleep_length_and_statistics_follow_the_tasks():
    model = net()
    replay = bridge.SleepReplay(PARAMS, seed=0)
    reports = [replay(model, task_data(seed=k)) for k in range(3)]
    assert [r.task for r in reports] == [1, 2, 3]
    assert [r.steps for r in reports] == [PARAMS.steps_for_task(k) for k in (1, 2, 3)] == [60, 80, 100]
    assert [r.n_examples for r in reports] == [40, 80, 120]
    for r in reports:
        assert r.outcome.result.counts.shape == (r.steps, 3)
        assert r.spikes_per_layer == r.outcome.result.counts.sum(0).tolist()
        np.testing.assert_allclose(r.spikes_per_step, np.asarray(r.spikes_per_layer) / r.steps)
        assert r.wall_time_s > 0


def test_reference_mode_is_bridge_sleep_on_all_data_seen():
    a, b = net(), net()
    replay = bridge.SleepReplay(PARAMS, seed=5)
    seen = []
    for k in range(1, 3):
        x = task_data(seed=k)
        replay(a, x)
        seen.append(x)
        seed = int(np.random.SeedSequence([5, k]).generate_state(1)[0])
        bridge.sleep(b, np.concatenate(seen), PARAMS, steps=PARAMS.steps_for_task(k), seed=seed, inplace=True)
    for wa, wb in zip(weights(a), weights(b)):
        assert torch.equal(wa, wb)


def test_bounded_memory_keeps_a_seeded_sample_per_task():
    model_a, model_b, model_c = net(), net(), net()
    a = bridge.SleepReplay(PARAMS, seed=1, memory=15)
    b = bridge.SleepReplay(PARAMS, seed=1, memory=15)
    c = bridge.SleepReplay(PARAMS, seed=1, memory=15)
    for k in range(2):
        x = task_data(seed=k)
        ra = a(model_a, x)
        b(model_b, x)
        c(model_c, DataLoader(TensorDataset(torch.from_numpy(x)), batch_size=7))  # streamed in batches
        assert ra.n_examples == 15 * (k + 1)
    assert all(torch.equal(p, q) for p, q in zip(weights(model_a), weights(model_b)))
    assert c.n_examples == 30
    with pytest.raises(ArgumentTypeError, match="memory must be None"):
        bridge.SleepReplay(PARAMS, memory=0)


def test_reservoir_is_a_uniform_sample():
    means = []
    for seed in range(200):
        r = Reservoir(10, np.random.default_rng(seed))
        for start in range(0, 1000, 64):
            r.add(np.arange(start, min(start + 64, 1000))[:, None])
        sample = r.sample()[:, 0]
        assert len(np.unique(sample)) == 10
        means.append(sample.mean())
    # mean of 200 x 10 uniform draws from 0..999: 499.5 +- 288.7 / sqrt(2000) = 6.5
    assert abs(np.mean(means) - 499.5) < 4 * 6.5


def test_inputs_users_have_are_accepted():
    x = task_data()
    ref = net()
    bridge.SleepReplay(PARAMS, seed=2)(ref, x)
    images = torch.from_numpy(x).reshape(-1, 1, 28, 28)
    cases = {
        "image-shaped tensor, model starts with Flatten": (net(flatten=True), images),
        "TensorDataset with labels": (net(), TensorDataset(torch.from_numpy(x), torch.zeros(len(x)))),
        "DataLoader": (net(), DataLoader(TensorDataset(torch.from_numpy(x), torch.zeros(len(x))), batch_size=16)),
    }

    class Pairs(Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return torch.from_numpy(x[i]), 0

    cases["map-style Dataset of (x, y)"] = (net(), Pairs())
    for what, (model, data) in cases.items():
        bridge.SleepReplay(PARAMS, seed=2)(model, data)
        for w, w_ref in zip(weights(model), weights(ref)):
            assert torch.equal(w, w_ref), what


def test_float64_model_sleeps_in_place():
    model = net(dtype=torch.float64)
    before = weights(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    report = bridge.SleepReplay(PARAMS, seed=2)(model, torch.from_numpy(task_data()).double())
    assert report.spikes_per_layer[1] > 0
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert (weights(model)[0] - before[0]).abs().max() > 0
    assert opt.param_groups[0]["params"][0] is model[0].weight


@pytest.mark.parametrize("data, message", [
    (task_data() * 255, r"values above 1 \(max .*\): sleep expects intensities in the range \[0, 1\]"),
    (torch.from_numpy((task_data() * 255).astype(np.uint8)), r"range \[0, 1\].*divided by 255"),
    ((task_data() - 0.3) / 0.2, r"negative values .*transforms\.Normalize"),
    (np.full((3, 784), np.nan), "NaN"),
    (task_data()[:, :100], "has 100 features but the model takes 784"),
    (torch.from_numpy(task_data()).reshape(-1, 1, 28, 28), r"does not flatten them; start the model with nn\.Flatten"),
    ({"x": task_data()}, "must be an array or tensor .*, a torch Dataset or a DataLoader, got dict"),
    (DataLoader([{"x": torch.zeros(784)}] * 4, batch_size=2), "Dataset items are dicts"),
])
def test_bad_data_is_refused_with_what_is_expected(data, message):
    with pytest.raises(SleepDataError, match=message):
        bridge.SleepReplay(PARAMS)(net(), data)
    if not isinstance(data, (dict, DataLoader)):
        with pytest.raises(SleepDataError, match=message):
            bridge.sleep(net(), data, PARAMS, steps=5)


def test_depth_without_preset_suggests_calibration():
    deep = nn.Sequential(nn.Linear(784, 20, bias=False), nn.ReLU(), nn.Linear(20, 20, bias=False), nn.ReLU(),
                         nn.Linear(20, 20, bias=False), nn.ReLU(), nn.Linear(20, 10, bias=False))
    with pytest.raises(ValueError, match="beta has 3 values but the model has 4 layers.*calibrat"):
        bridge.SleepReplay("mnist")(deep, task_data())
    with pytest.raises(SleepParamsError, match="preset name"):
        bridge.SleepReplay("imagenet")
    with pytest.raises(ArgumentTypeError, match="params must be SleepParams"):
        bridge.SleepReplay({"beta": 1})


def trained(sizes, task, seed=0, dropout=0.0):
    model = SleepMLP(sizes, dropout=dropout, generator=torch.Generator().manual_seed(seed))
    train_task(model, task.x_train, task.y_train, TrainConfig(epochs=2), seed=seed)
    return model


def test_calibration_hits_the_rate_targets_at_any_depth(mnist_tasks):
    task = mnist_tasks[0]
    for sizes in [(784, 64, 10), (784, 64, 48, 32, 10)]:
        model = trained(sizes, task)
        cal = bridge.calibrate(model, task.x_train, "mnist", steps=500)
        n = len(sizes) - 1
        assert len(cal.params.beta) == n and all(cal.converged)
        assert cal.targets_hz == RateTargets().for_layers(n)
        for rate, (lo, hi) in zip(cal.rates_hz, cal.targets_hz):
            assert lo <= rate <= hi
        # the same rates when measured again with the calibrated parameters
        np.testing.assert_allclose(firing_rates_hz(model, task.x_train, cal.params, steps=500), cal.rates_hz)
        keep = ("max_rate_hz", "inc", "dec", "alpha_scale", "steps_first", "steps_per_task")
        assert all(getattr(cal.params, k) == getattr(bridge.preset("mnist"), k) for k in keep)


def test_auto_params_calibrate_once_and_keep_the_result(mnist_tasks):
    model = trained((784, 32, 24, 16, 10), mnist_tasks[0])
    replay = bridge.SleepReplay("auto", seed=0)
    first = replay(model, mnist_tasks[0].x_train, steps=200)
    assert first.calibration is not None and len(first.params.beta) == 4
    second = replay(model, mnist_tasks[1].x_train, steps=200)
    assert second.calibration is None and second.params.beta == first.params.beta
    assert replay.calibration is first.calibration


def test_calibrate_every_task_recalibrates_on_the_network_so_far(mnist_tasks):
    model = trained((784, 32, 24, 16, 10), mnist_tasks[0])
    replay = bridge.SleepReplay("mnist", calibrate="every_task", seed=0)
    reports = [replay(model, t.x_train, steps=200) for t in mnist_tasks[:2]]
    assert all(r.calibration is not None for r in reports)
    assert reports[0].calibration is not reports[1].calibration
    assert replay.calibration is reports[1].calibration and replay.params == reports[1].calibration.params
    assert all(r.calibration.runs > 0 for r in reports)
    with pytest.raises(ArgumentTypeError, match="calibrate must be True, False or 'every_task'"):
        bridge.SleepReplay("mnist", calibrate="always")


@pytest.mark.slow
def test_default_targets_hold_the_mnist_preset_on_the_reference_network(mnist_tasks):
    model = trained((784, 1200, 1200, 10), mnist_tasks[0], dropout=0.25)  # the reference network
    rates = firing_rates_hz(model, mnist_tasks[0].x_train, bridge.preset("mnist"))
    for rate, (lo, hi) in zip(rates, RateTargets().for_layers(3)):
        assert lo <= rate <= hi


def test_rate_targets_are_validated():
    with pytest.raises(SleepParamsError, match="RateTargets.output"):
        RateTargets(output=(10.0, 5.0))
    with pytest.raises(SleepParamsError, match="RateTargets.scaled: hidden"):
        RateTargets().scaled(hidden=0.0)
    doubled = RateTargets().scaled(hidden=2.0, output=0.5)
    assert doubled.hidden == tuple(2 * r for r in RateTargets().hidden)
    assert doubled.first_hidden == tuple(2 * r for r in RateTargets().first_hidden)
    assert doubled.output == tuple(0.5 * r for r in RateTargets().output)
