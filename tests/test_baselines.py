"""Each continual-learning baseline's mechanism, on small problems."""
import numpy as np
import pytest
import torch

from ann import SleepMLP, TrainConfig, class_incremental_tasks, load_mnist_subset
from ann.baselines import EWC, OWM, SI, ICaRL, Rehearsal, empirical_fisher, herding, make_learner, penultimate_features
from ann.training import loss_fn


@pytest.fixture(scope="module")
def tasks():
    return class_incremental_tasks(load_mnist_subset(), max_train_per_task=300)


def small_model(seed=0, logits=False):
    return SleepMLP((784, 32, 24, 10), init_range=0.1, generator=torch.Generator().manual_seed(seed),
                    output_activation="linear" if logits else "relu")


def test_fisher_matches_per_example_loop(tasks):
    model = small_model()
    x, y = tasks[0].x_train[:12], tasks[0].y_train[:12]
    fisher = empirical_fisher(model, x, y, "mse", 10)
    model.eval()
    manual = [torch.zeros_like(p) for p in model.parameters()]
    for xi, yi in zip(torch.as_tensor(x), torch.as_tensor(y)):
        model.zero_grad()
        loss_fn(model(xi[None]), yi[None], "mse", 10).backward()
        for m, p in zip(manual, model.parameters()):
            m += p.grad ** 2 / len(x)
    for f, m in zip(fisher, manual):
        torch.testing.assert_close(f, m, rtol=1e-4, atol=1e-10)


def test_ewc_penalty_grows_with_fisher_weighted_distance(tasks):
    learner = EWC(small_model(), TrainConfig(), **{"lambda": 50.0})
    learner.learn_task(tasks[0].x_train, tasks[0].y_train, epochs=3, seed=0)
    fisher, star = learner.anchors[0]
    model = learner.model
    assert learner.penalty(model).item() == pytest.approx(0.0, abs=1e-12)
    f = fisher[0].flatten()
    hi, lo = int(torch.argmax(f)), int(torch.argmin(f))
    assert f[hi] > 10 * f[lo]
    penalties = []
    for idx in (hi, lo):
        for delta in (0.1, 0.2):
            m = SleepMLP.from_weights([p.detach() for p in model.parameters()], output_activation="relu")
            with torch.no_grad():
                m.linears[0].weight.view(-1)[idx] += delta
            penalties.append(learner.penalty(m).item())
            assert penalties[-1] == pytest.approx(0.5 * 50.0 * f[idx].item() * delta ** 2, rel=1e-4)
    assert penalties[1] == pytest.approx(4 * penalties[0], rel=1e-4)  # quadratic in the distance
    assert penalties[0] > penalties[2]  # a high-Fisher weight is held more firmly


def test_ewc_and_si_hold_weights_important_for_task_1(tasks):
    """On task 2 the regularized methods move the weights that matter for task 1
    (weighted by the method's own importance) less than plain training does."""
    weighted_drift = {}
    importance = {}
    for name, opts in (("ewc", {"lambda": 100.0}), ("si", {"c": 2.0}), ("sequential", {})):
        learner = make_learner(name, small_model(), TrainConfig(), **opts)
        learner.learn_task(tasks[0].x_train, tasks[0].y_train, epochs=5, seed=0)
        after1 = [p.detach().clone() for p in learner.model.parameters()]
        if name == "ewc":
            importance["ewc"] = learner.anchors[0][0]
        elif name == "si":
            importance["si"] = learner.big_omega
        learner.learn_task(tasks[1].x_train, tasks[1].y_train, epochs=5, seed=1)
        delta = [(p.detach() - a) ** 2 for p, a in zip(learner.model.parameters(), after1)]
        for imp_name, imp in importance.items():
            weighted_drift[(name, imp_name)] = sum((i * d).sum().item() for i, d in zip(imp, delta))
    assert weighted_drift[("ewc", "ewc")] < 0.5 * weighted_drift[("sequential", "ewc")]
    assert weighted_drift[("si", "si")] < 0.5 * weighted_drift[("sequential", "si")]


def test_si_path_integral_and_penalty(tasks):
    learner = SI(small_model(), TrainConfig(momentum=0.0), c=2.0, xi=0.1)
    learner.learn_task(tasks[0].x_train, tasks[0].y_train, epochs=2, seed=0)
    total = sum(o.sum().item() for o in learner.big_omega)
    assert total > 0  # the loss went down along the path: positive importance overall
    assert learner.penalty(learner.model).item() == pytest.approx(0.0, abs=1e-12)
    m = SleepMLP.from_weights([p.detach() + 0.01 for p in learner.model.parameters()])
    expected = 2.0 * sum((o * 0.01 ** 2).sum().item() for o in learner.big_omega)
    assert learner.penalty(m).item() == pytest.approx(expected, rel=1e-4)


def test_si_omega_is_minus_gradient_times_step(tasks):
    """With plain SGD one step's omega is -g * (-lr g) = lr g^2."""
    model = small_model()
    x, y = tasks[0].x_train[:100], tasks[0].y_train[:100]
    learner = SI(model, TrainConfig(momentum=0.0, lr=0.1, batch_size=100), c=1.0)
    model.eval()  # make the gradient deterministic for the comparison (dropout off)
    learner.model = SleepMLP.from_weights([p.detach() for p in model.parameters()], dropout=0.0)
    m = learner.model
    m.zero_grad()
    loss_fn(m(torch.as_tensor(x)), torch.as_tensor(y), "mse", 10).backward()
    g = [p.grad.clone() for p in m.parameters()]
    learner.learn_task(x, y, epochs=1, seed=0)
    for w, gi in zip(learner.small_omega, g):
        torch.testing.assert_close(w, 0.1 * gi ** 2, rtol=1e-3, atol=1e-9)


def test_owm_update_is_orthogonal_to_stored_inputs(tasks):
    learner = OWM(small_model(), TrainConfig(), alpha=1e-3)
    learner.learn_task(tasks[0].x_train, tasks[0].y_train, epochs=2, seed=0)
    P = learner.projectors[0]
    x_old = torch.as_tensor(tasks[0].x_train[:200]).mean(0)  # lies in the span of the stored batch means
    model = learner.model
    model.zero_grad()
    loss_fn(model(torch.as_tensor(tasks[1].x_train[:100])), torch.as_tensor(tasks[1].y_train[:100]), "mse",
            10).backward()
    G = model.linears[0].weight.grad
    raw, projected = (G @ x_old).norm(), (G @ P @ x_old).norm()
    assert projected < 0.05 * raw
    # and the weights actually move on the next task, without changing the response to old inputs much
    w_before = model.linears[0].weight.detach().clone()
    learner.learn_task(tasks[1].x_train, tasks[1].y_train, epochs=2, seed=1)
    dW = model.linears[0].weight.detach() - w_before
    assert dW.norm() > 0 and (dW @ x_old).norm() < 0.05 * dW.norm() * x_old.norm()


def test_rehearsal_memory(tasks):
    learner = Rehearsal(small_model(), TrainConfig(), fraction=0.2)
    learner.learn_task(tasks[0].x_train, tasks[0].y_train, epochs=1, seed=0)
    assert learner.memory_size == 60
    x, y = learner.training_set(tasks[1].x_train, tasks[1].y_train, seed=1)
    assert len(x) == 360 and set(np.unique(y)) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="fraction"):
        Rehearsal(small_model(), TrainConfig(), fraction=1.5)


def test_herding_mean_approaches_class_mean():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(300, 8)) + rng.normal(size=8)
    chosen = herding(feats, 20)
    assert len(set(chosen.tolist())) == 20
    mu = feats.mean(0)
    dists = [np.linalg.norm(feats[chosen[:k]].mean(0) - mu) for k in range(1, 21)]
    random_dist = np.mean([np.linalg.norm(feats[rng.choice(300, 20, replace=False)].mean(0) - mu)
                           for _ in range(50)])
    assert dists[-1] < dists[0] and dists[-1] < 0.5 * random_dist


def test_icarl_memory_and_nearest_mean_classifier(tasks):
    learner = ICaRL(small_model(logits=True), TrainConfig(), memory=40)
    learner.learn_task(tasks[0].x_train, tasks[0].y_train, epochs=3, seed=0)
    assert {c: len(e) for c, e in learner.exemplars.items()} == {0: 20, 1: 20}
    learner.learn_task(tasks[1].x_train, tasks[1].y_train, epochs=3, seed=1)
    assert {c: len(e) for c, e in learner.exemplars.items()} == {0: 10, 1: 10, 2: 10, 3: 10}
    x = np.concatenate([tasks[0].x_test, tasks[1].x_test])
    y = np.concatenate([tasks[0].y_test, tasks[1].y_test])
    pred = learner.predict(x)
    assert set(np.unique(pred)) <= {0, 1, 2, 3}
    assert np.mean(pred[: len(tasks[0].y_test)] == tasks[0].y_test) > 0.5  # old classes still recognised
    feats = penultimate_features(learner.model, x[:5])
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, rtol=1e-5)


def test_unknown_method_and_options():
    with pytest.raises(ValueError, match="unknown method 'hat'"):
        make_learner("hat", small_model(), TrainConfig())
    with pytest.raises(ValueError, match="unknown option"):
        make_learner("ewc", small_model(), TrainConfig(), lam=3)


def test_joint_training_is_one_experience_of_all_tasks(tasks):
    joint = make_learner("parallel", small_model(), TrainConfig(), epochs=2)
    stream = joint.experiences(tasks[:3])
    assert len(stream) == 1 and stream[0].n_tasks == 3 and len(stream[0].y) == 900
    assert set(np.unique(stream[0].y)) == {0, 1, 2, 3, 4, 5}
    plain = make_learner("sequential", small_model(), TrainConfig())
    assert [e.n_tasks for e in plain.experiences(tasks[:3])] == [1, 1, 1]
    joint.learn_task(stream[0].x, stream[0].y, epochs=7, seed=0)  # the option epochs=2 wins
    plain.learn_task(stream[0].x, stream[0].y, epochs=2, seed=0)
    for a, b in zip(joint.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="option epochs"):
        make_learner("parallel", small_model(), TrainConfig(), epochs=0)
