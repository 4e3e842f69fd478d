"""Accuracy and the continual-learning accuracy matrix."""
from __future__ import annotations

from typing import Callable, Sequence, Union

import numpy as np
import torch
from torch import nn

from .devices import model_device


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 2000) -> np.ndarray:
    """Class predictions (argmax over all outputs) for ``x`` of shape ``(n, n_in)``, in eval mode."""
    was_training = model.training
    model.eval()
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    device = model_device(model)
    out = [model(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


Predictor = Union[nn.Module, Callable[[np.ndarray], np.ndarray]]


def accuracy(model: Predictor, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy in percent. ``model`` is a network (argmax over all outputs) or
    a function mapping ``(n, features)`` inputs to ``(n,)`` predicted labels."""
    if len(y) == 0:
        raise ValueError("cannot compute accuracy on an empty set")
    pred = predict(model, x) if isinstance(model, nn.Module) else model(x)
    return float(100.0 * np.mean(np.asarray(pred) == np.asarray(y)))


def task_accuracies(model: Predictor, tasks: Sequence) -> np.ndarray:
    """``(n_tasks,)`` accuracy (%) on each task's test examples, argmax over all classes."""
    return np.array([accuracy(model, t.x_test, t.y_test) for t in tasks])
