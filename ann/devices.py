"""Where the wake side computes: CPU (default) or a CUDA GPU.

Training, evaluation and the baselines run on the device of the model's
parameters; NumPy data are moved there batch by batch and results come back to
the CPU. Sleep always runs on the CPU (the ``snn`` engines), so the bridge reads
weights back with ``.cpu()``. On the CPU nothing changes (same numbers bit for bit).
"""
from __future__ import annotations

import torch
from torch import nn

from .errors import TrainingConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` -> ``torch.device``; a CUDA device that this
    machine does not have raises :class:`~ann.errors.TrainingConfigError` before any work."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise TrainingConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {name!r}") from exc
    if device.type not in ("cpu", "cuda"):
        raise TrainingConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {name!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingConfigError(f"device {name!r}: no CUDA GPU is available to torch here "
                                      f"(torch {torch.__version__}); use device 'cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TrainingConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def device_name(device: torch.device) -> str:
    """What results record: ``"cpu"`` or ``"cuda:N (GPU name)"``."""
    if device.type != "cuda":
        return "cpu"
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


__all__ = ["device_name", "model_device", "resolve_device"]
