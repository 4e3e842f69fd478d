"""Data users have -> the ``(n, features)`` array in [0, 1] that sleep needs.

Sleep turns input intensities into firing rates (SRC_SPEC.md section 3), so
the data must lie in [0, 1]. Accepted: NumPy arrays, tensors (any float dtype,
any device), a ``torch.utils.data.Dataset`` or ``DataLoader`` whose items are
inputs or ``(input, label, ...)`` tuples, and image-shaped data ``(n, *shape)``
when the model flattens its input first (``nn.Flatten``).
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .convert import read_model
from .errors import SleepDataError

logger = logging.getLogger(__name__)

#: slack above 1 for rounding (e.g. a float16 round trip of 1.0)
_RANGE_TOLERANCE = 1e-6


def _inputs_of(item: Any) -> Any:
    if isinstance(item, (tuple, list)):
        if not item:
            raise SleepDataError("sleep data: a Dataset item is empty; expected an input or (input, label)")
        return item[0]
    if isinstance(item, dict):
        raise SleepDataError("sleep data: Dataset items are dicts; pass a Dataset of inputs or (input, label) "
                             "tuples, or the input array itself")
    return item


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return (x.detach().cpu().float() if x.dtype == torch.bfloat16 else x.detach().cpu()).numpy()  # bf16 has no NumPy dtype; float32 holds it exactly
    return np.asarray(x)


def iter_batches(data: Any, batch_size: int = 1000) -> Iterator[np.ndarray]:
    """The inputs of ``data`` as NumPy batches (labels dropped), shapes as given.

    data: array / tensor ``(n, ...)``, ``Dataset`` or ``DataLoader``.
    """
    if isinstance(data, DataLoader):
        for batch in data:
            yield _to_numpy(_inputs_of(batch))
    elif isinstance(data, Dataset):
        tensors = getattr(data, "tensors", None)  # TensorDataset: no per-item loop
        if tensors:
            yield _to_numpy(tensors[0])
            return
        for batch in DataLoader(data, batch_size=batch_size, shuffle=False):
            yield _to_numpy(_inputs_of(batch))
    else:
        x = _to_numpy(data)
        if x.dtype == object or x.ndim == 0:
            raise SleepDataError(f"sleep data must be an array or tensor (n, ...), a torch Dataset or a DataLoader, "
                                 f"got {type(data).__name__}")
        yield x


def flatten_for_model(x: np.ndarray, n_inputs: int | None, flattens_input: bool,
                      channels: int | None = None) -> np.ndarray:
    """``x`` as ``(n, n_inputs)``; image-shaped ``x`` only when the model flattens its input.
    ``n_inputs`` ``None``: the model takes images ``(n, channels, H, W)`` of any size (a CNN
    without ``nn.Unflatten``), flattened here."""
    if n_inputs is None:
        if x.ndim != 4 or len(x) == 0 or (channels is not None and x.shape[1] != channels):
            raise SleepDataError(f"sleep data must be images (n, {channels or 'C'}, H, W) for a model that starts "
                                 f"with a convolution, got shape {x.shape}; or start the model with "
                                 "nn.Unflatten(1, (C, H, W)) and pass flat data")
        return x.reshape(len(x), -1)
    if x.ndim == 2 and x.shape[1] == n_inputs:
        return x
    if x.ndim < 2 or len(x) == 0:
        raise SleepDataError(f"sleep data must be a non-empty (n, features) array or (n, *image_shape) images, "
                             f"got shape {x.shape}")
    n_features = int(np.prod(x.shape[1:]))
    if x.ndim > 2 and n_features == n_inputs:
        if flattens_input:
            return x.reshape(len(x), n_inputs)
        raise SleepDataError(f"sleep data has shape {x.shape} but the model takes (n, {n_inputs}) inputs and does "
                             "not flatten them; start the model with nn.Flatten() or pass flattened data")
    raise SleepDataError(f"seen data has {n_features} features but the model takes {n_inputs} inputs "
                         f"(data shape {x.shape})")


def check_range(x: np.ndarray) -> np.ndarray:
    """Raise :class:`~bridge.errors.SleepDataError` unless ``x`` is numeric, finite and in [0, 1]."""
    if x.dtype == np.bool_:
        return x
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise SleepDataError("seen data contains NaN, infinite or non-numeric values")
    lo, hi = x.min(), x.max()
    if lo < 0:
        raise SleepDataError(
            f"seen data has negative values (min {float(lo):.4g}): sleep input rates cannot be negative and need "
            "data in the range [0, 1]. Hint: if the data was standardized (e.g. transforms.Normalize), "
            "pass it before normalization, scaled to [0, 1]")
    if hi > 1 + _RANGE_TOLERANCE:
        raise SleepDataError(
            f"seen data has values above 1 (max {float(hi):.4g}): sleep expects intensities in the range [0, 1] "
            "(e.g. uint8 images divided by 255, as transforms.ToTensor() does)")
    return x


def model_data(model: nn.Module, data: Any) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """``(x, image_shape)``: ``data`` validated for sleeping ``model`` as ``(n, n_inputs)``, and
    the ``(C, H, W)`` of its images for a model that takes images without ``nn.Unflatten``
    (else ``None``). Raises :class:`~bridge.errors.SleepDataError` with what is expected."""
    graph = read_model(model)
    batches, shape = [], None
    channels = graph.layers[0].in_channels if graph.takes_images and hasattr(graph.layers[0], "in_channels") else None
    for b in iter_batches(data):
        batches.append(flatten_for_model(b, graph.n_inputs, graph.flattens_input, channels))
        if graph.takes_images:
            if shape is not None and tuple(b.shape[1:]) != shape:
                raise SleepDataError(f"sleep data batches have images of shapes {shape} and {tuple(b.shape[1:])}")
            shape = tuple(int(n) for n in b.shape[1:])
    if not batches:
        raise SleepDataError("sleep data is empty")
    x = batches[0] if len(batches) == 1 else np.concatenate(batches)
    if len(x) == 0:
        raise SleepDataError("sleep data is empty")
    return check_range(x), shape


def sleep_data(model: nn.Module, data: Any) -> np.ndarray:
    """Validate ``data`` for sleeping ``model`` and return it as ``(n, n_inputs)``.

    A NumPy array of the right shape is returned as is (same dtype, no copy).
    Raises :class:`~bridge.errors.SleepDataError` with what is expected.
    """
    return model_data(model, data)[0]
