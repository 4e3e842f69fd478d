"""Wake side: data, tasks, model, training, evaluation."""
import gzip

import numpy as np
import pytest
import torch

from ann import (CLASS_PAIRS, ReferenceDropout, SleepMLP, TrainConfig, accuracy, class_incremental_tasks,
                 load_dataset, load_idx_folder, load_mnist_subset, read_idx, task_accuracies, train_task)
from ann.training import loss_fn


def write_idx(path, array, compress=False):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape)
    data = header + array.tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


def make_idx_folder(folder, n_train=30, n_test=10, compress=False):
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                  compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8), compress)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder(tmp_path, compress):
    make_idx_folder(tmp_path, compress=compress)
    ds = load_idx_folder(tmp_path)
    assert ds.x_train.shape == (30, 784) and ds.x_test.shape == (10, 784)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    raw = read_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if compress else "")))
    np.testing.assert_allclose(ds.x_train, raw.reshape(30, -1) / 255.0)
    assert load_dataset("mnist", tmp_path).y_train.tolist() == ds.y_train.tolist()


def test_idx_errors(tmp_path):
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04hello")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(tmp_path / "junk")
    write_idx(tmp_path / "short", np.zeros((4, 3), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-2])
    with pytest.raises(ValueError, match="header promises"):
        read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_idx_folder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no IDX file"):
        load_idx_folder(tmp_path)
    with pytest.raises(ValueError, match="needs data_dir"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet")


def test_subset_split_is_seeded_and_stratified():
    a, b, c = load_mnist_subset(0), load_mnist_subset(0), load_mnist_subset(1)
    assert a.x_train.shape == (4000, 784) and a.x_test.shape == (1000, 784)
    assert np.array_equal(a.y_test, b.y_test) and np.array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_test, c.x_test)
    assert np.bincount(a.y_test).tolist() == [100] * 10
    # train and test are disjoint
    train_rows = {r.tobytes() for r in a.x_train}
    assert sum(r.tobytes() in train_rows for r in a.x_test) == 0


def test_tasks():
    data = load_mnist_subset()
    tasks = class_incremental_tasks(data, CLASS_PAIRS, max_train_per_task=300)
    assert len(tasks) == 5 and tasks[2].classes == (4, 5)
    assert len(tasks[0].y_train) == 300 and set(tasks[0].y_train) <= {0, 1}
    assert set(tasks[4].y_test) == {8, 9} and len(tasks[4].y_test) == 200
    with pytest.raises(ValueError, match="more than one task"):
        class_incremental_tasks(data, [(0, 1), (1, 2)])
    with pytest.raises(ValueError, match="no training examples"):
        class_incremental_tasks(data, [(0, 11)])


def test_model_structure_and_reference_dropout():
    model = SleepMLP(generator=torch.Generator().manual_seed(0))
    assert [l.weight.shape for l in model.linears] == [(1200, 784), (1200, 1200), (10, 1200)]
    assert all(l.bias is None for l in model.linears)
    assert all(l.weight.abs().max() <= 0.01 for l in model.linears)
    drop = ReferenceDropout(0.25)
    x = torch.ones(10000)
    drop.train()
    y = drop(x)
    assert set(y.unique().tolist()) == {0.0, 1.0} and abs(y.mean().item() - 0.75) < 0.02  # not rescaled
    drop.eval()
    assert torch.all(drop(x) == 0.75)
    with pytest.raises(ValueError, match="sizes"):
        SleepMLP((784,))
    with pytest.raises(ValueError, match="dropout_mode"):
        SleepMLP(dropout_mode="gaussian")


def test_mse_loss_is_reference_form():
    out = torch.tensor([[0.2, 0.9], [0.1, 0.3]])
    y = torch.tensor([1, 0])
    # errors: sample 0 (target [0, 1]) [0.2, 0.1]; sample 1 (target [1, 0]) [0.9, 0.3]
    expected = 0.5 * ((0.2 ** 2 + 0.1 ** 2) + (0.9 ** 2 + 0.3 ** 2)) / 2
    assert loss_fn(out, y, "mse", 2).item() == pytest.approx(expected)


def test_sgd_is_reference_velocity_form():
    """torch's SGD(lr, momentum) equals v = m v + lr g; W -= v."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(3, 4))
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.5)
    ref_w, v = w.detach().clone(), torch.zeros(3, 4)
    for step in range(4):
        g = torch.randn(3, 4)
        w.grad = g.clone()
        opt.step()
        v = 0.5 * v + 0.1 * g
        ref_w -= v
    torch.testing.assert_close(w.detach(), ref_w)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_training_learns_a_task_reproducibly(loss):
    data = load_mnist_subset()
    task = class_incremental_tasks(data)[1]
    def trained():
        model = SleepMLP((784, 100, 10), generator=torch.Generator().manual_seed(0),
                         output_activation="relu" if loss == "mse" else "linear")
        losses = train_task(model, task.x_train, task.y_train, TrainConfig(epochs=4, loss=loss), seed=3)
        return model, losses
    model, losses = trained()
    assert losses[-1] < losses[0]
    assert accuracy(model, task.x_test, task.y_test) >= 90
    model2, _ = trained()
    torch.testing.assert_close(model.linears[0].weight, model2.linears[0].weight, rtol=0, atol=0)
    acc = task_accuracies(model, class_incremental_tasks(data))
    assert acc.shape == (5,) and acc[0] == 0.0  # classes never trained are never predicted


def test_training_bad_input():
    model = SleepMLP((784, 20, 10))
    x, y = np.random.rand(10, 784), np.arange(10)
    with pytest.raises(ValueError, match="loss"):
        train_task(model, x, y, TrainConfig(loss="hinge"))
    with pytest.raises(ValueError, match="labels must lie"):
        train_task(model, x, y + 5)
    with pytest.raises(ValueError, match="NaN"):
        train_task(model, np.full((10, 784), np.nan), y)
    with pytest.raises(ValueError, match="lr"):
        train_task(model, x, y, TrainConfig(lr=-1))


def test_model_and_training_settings_are_not_coerced():
    from ann.errors import TrainingConfigError, TrainingDivergedError

    for sizes in ([784, 32.5, 10], [784, True, 10], "784", [784]):
        with pytest.raises(TrainingConfigError, match="sizes"):
            SleepMLP(sizes)
    for bad in (dict(epochs=2.5), dict(batch_size=True), dict(lr="0.1"), dict(momentum=float("nan")),
                dict(n_classes=0)):
        with pytest.raises(TrainingConfigError, match=next(iter(bad))):
            TrainConfig(**bad).validate()
    assert issubclass(TrainingDivergedError, FloatingPointError)
