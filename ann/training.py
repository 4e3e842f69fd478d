"""Reference-faithful training (SRC_SPEC.md section 1).

Squared error on ReLU outputs, ``L = 1/2 * sum(e^2) / batch`` with one-hot
targets (the reference), or cross-entropy on logits (the paper's text). SGD with
momentum in the reference's velocity form ``v = m v + lr g; W -= v``, which is
``torch.optim.SGD(lr, momentum=m)`` up to rounding (torch keeps ``v / lr``).
"""
from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .devices import model_device
from .errors import DataError, TrainingConfigError, TrainingDivergedError

logger = logging.getLogger(__name__)

LOSSES = ("mse", "ce")


@dataclass
class TrainConfig:
    """Training hyperparameters (defaults: the reference's)."""

    epochs: int = 2
    batch_size: int = 100
    lr: float = 0.1
    momentum: float = 0.5
    loss: str = "mse"
    n_classes: int = 10

    def validate(self) -> None:
        """:class:`~ann.errors.TrainingConfigError` (a ``ValueError``) naming the first
        field of the wrong type or out of range; nothing is coerced."""
        if not isinstance(self.loss, str) or self.loss not in LOSSES:
            raise TrainingConfigError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("epochs", "batch_size", "n_classes"):
            val = getattr(self, name)
            if not isinstance(val, numbers.Integral) or isinstance(val, (bool, np.bool_)) or val < 1:
                raise TrainingConfigError(f"{name} must be an integer >= 1, got {val!r}")
        for name, lo, hi in (("lr", 0.0, math.inf), ("momentum", 0.0, 1.0)):
            val = getattr(self, name)
            ok = isinstance(val, numbers.Real) and not isinstance(val, (bool, np.bool_)) and math.isfinite(val)
            if not ok or not (lo < val if name == "lr" else lo <= val < hi):
                raise TrainingConfigError(f"{name} must be a finite number "
                                          f"{'> 0' if name == 'lr' else 'in [0, 1)'}, got {val!r}")


def loss_fn(output: torch.Tensor, y: torch.Tensor, loss: str, n_classes: int) -> torch.Tensor:
    """``mse``: 1/2 * sum((onehot - out)^2) / batch; ``ce``: mean cross-entropy.

    output: ``(batch, n_classes)``; y: ``(batch,)`` int labels."""
    return target_loss(output, F.one_hot(y, n_classes).to(output.dtype), loss)


def target_loss(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """:func:`loss_fn` with one-hot ``target`` ``(batch, n_classes)`` (usable under ``vmap``)."""
    if loss == "mse":
        return 0.5 * ((target - output) ** 2).sum() / output.shape[0]
    return -(target * F.log_softmax(output, dim=1)).sum() / output.shape[0]


class TrainingHooks:
    """Method-specific additions to the SGD loop; continual-learning baselines
    override these (the defaults give plain training)."""

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, output: torch.Tensor,
             base_loss: torch.Tensor) -> torch.Tensor:
        """The loss to minimise for a batch (default: ``base_loss``)."""
        return base_loss

    def before_step(self, model: nn.Module, x: torch.Tensor) -> None:
        """Called after ``backward`` and before the optimizer step (gradients may be edited)."""

    def after_step(self, model: nn.Module) -> None:
        """Called after every optimizer step."""


def _as_array(a: object, name: str) -> np.ndarray:
    """A NumPy view of ``a``; tensors of any dtype (bfloat16 too) and device are read as float32/int64."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        if a.dtype == torch.bfloat16 or a.dtype == torch.float16:
            a = a.float()
        return a.numpy()
    arr = np.asarray(a)
    if arr.dtype == object:
        raise DataError(f"{name} must be a numeric array, got {type(a).__name__} of objects")
    return arr


#: a batch loss this many times the first batch's means the training diverged
DIVERGENCE_FACTOR = 1e3


def warn_if_diverged(first: float | None, peak: tuple[float, int], final: float, lr: float) -> None:
    """Log a warning when training diverged without ending in NaN: a batch loss rose
    :data:`DIVERGENCE_FACTOR` times above the first batch's. With a far too large
    learning rate the loss explodes, then the ReLU units die and the loss settles at
    the value of a constant output, so the final loss alone looks harmless while the
    network is at chance."""
    if first is not None and first > 0 and peak[0] > DIVERGENCE_FACTOR * first:
        logger.warning("training diverged: the loss rose from %.4g (first batch) to %.4g (epoch %d) and ended at "
                       "%.4g; the network is likely at chance (dead ReLU units): lower the learning rate (lr = %g)",
                       first, peak[0], peak[1], final, lr)


def train_task(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig | None = None,
    *,
    seed: int = 0,
    progress: bool = False,
    hooks: TrainingHooks | None = None,
) -> list[float]:
    """Train ``model`` in place on ``(x, y)``; returns the mean loss of each epoch.

    ``x``: ``(n, n_in)`` float in [0, 1]; ``y``: ``(n,)`` int labels. The data
    order (reshuffled every epoch) and the dropout masks come from ``seed``.
    ``hooks`` lets a continual-learning method change the loss and the update.
    """
    hooks = hooks or TrainingHooks()
    config = config or TrainConfig()
    config.validate()
    x = _as_array(x, "x")
    y = _as_array(y, "y")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)) or x.dtype == bool:
        raise DataError(f"training data x must be numeric, got dtype {x.dtype}")
    if not np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        raise DataError(f"labels y must be integers, got dtype {y.dtype}")
    x = x.astype(np.float32, copy=False)
    y = y.astype(np.int64, copy=False)
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
        raise DataError(f"training data must be (n, features) with n labels, got {x.shape} and {y.shape}")
    if not np.all(np.isfinite(x)):
        raise DataError("training data contains NaN or infinite values")
    if y.min() < 0 or y.max() >= config.n_classes:
        raise DataError(f"labels must lie in [0, {config.n_classes}), got [{y.min()}, {y.max()}]")
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    device = model_device(model)  # batches go to the model's device (CPU: unchanged)
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    model.train()
    losses = []
    first_loss, peak = None, (-math.inf, 0)  # first batch's loss; (largest batch loss, its epoch)
    # dropout masks draw from torch's global generator: seed it inside a fork so
    # the caller's random state is left as it was
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(int(seed))
        for _ in tqdm(range(config.epochs), desc="train", unit="epoch", disable=not progress, leave=False):
            order = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for start in range(0, len(order), config.batch_size):
                idx = order[start : start + config.batch_size]
                xb, yb = xt[idx], yt[idx]
                if device.type != "cpu":
                    xb, yb = xb.to(device), yb.to(device)
                opt.zero_grad(set_to_none=True)
                output = model(xb)
                loss = hooks.loss(model, xb, yb, output, loss_fn(output, yb, config.loss, config.n_classes))
                loss.backward()
                hooks.before_step(model, xb)
                opt.step()
                hooks.after_step(model)
                value = loss.item()
                total += value * len(idx)
                first_loss = value if first_loss is None else first_loss
                if math.isfinite(value) and value > peak[0]:
                    peak = (value, len(losses) + 1)
            losses.append(total / len(xt))
    model.eval()
    if not np.isfinite(losses[-1]):
        raise TrainingDivergedError(f"training diverged (loss {losses[-1]}); lower the learning rate")
    warn_if_diverged(first_loss, peak, losses[-1], config.lr)
    logger.debug("trained %d epochs, final loss %.4f", config.epochs, losses[-1])
    return losses
