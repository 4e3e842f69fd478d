"""Elastic weight consolidation.

Kirkpatrick, J. et al. "Overcoming catastrophic forgetting in neural networks."
PNAS 114(13), 3521-3526 (2017).

After task k the diagonal Fisher information ``F_k`` of the loss at the
trained parameters ``theta*_k`` is estimated from per-example gradients on
the task's data; training on later tasks minimises
``L(theta) + lambda / 2 * sum_k sum_i F_k,i (theta_i - theta*_k,i)^2``
(one penalty per earlier task, as in the paper).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from ..training import target_loss
from .base import ContinualLearner, QuadraticPenaltyHooks, parameters_of


def empirical_fisher(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, loss: str, n_classes: int,
                     chunk: int = 16) -> list[torch.Tensor]:
    """Mean squared per-example gradient of the loss, one tensor per parameter (eval mode)."""
    was_training = model.training
    model.eval()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def example_loss(p, xi, ti):
        return target_loss(functional_call(model, p, (xi[None],)), ti[None], loss)

    per_example = vmap(grad(example_loss), in_dims=(None, 0, 0))
    fisher = {k: torch.zeros_like(v) for k, v in params.items()}
    device = next(iter(params.values())).device
    xt = torch.as_tensor(x, dtype=torch.float32).to(device)
    yt = torch.nn.functional.one_hot(torch.as_tensor(y, dtype=torch.int64), n_classes).to(torch.float32).to(device)
    for start in range(0, len(xt), chunk):
        g = per_example(params, xt[start : start + chunk], yt[start : start + chunk])
        for k in fisher:
            fisher[k] += (g[k] ** 2).sum(0)
    model.train(was_training)
    return [fisher[k] / len(xt) for k, _ in model.named_parameters()]


class EWC(ContinualLearner):
    """Elastic weight consolidation (Kirkpatrick et al. 2017)."""

    name = "ewc"
    defaults = {"lambda": 1.0e3, "fisher_samples": 200}

    def validate_options(self) -> None:
        self._positive("lambda")
        self._positive("fisher_samples", allow_zero=False)
        self.anchors: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = []  # (fisher, theta*) per task

    def hooks(self):
        return QuadraticPenaltyHooks(self) if self.anchors else None

    def penalty(self, model: torch.nn.Module) -> torch.Tensor:
        """``lambda / 2 * sum_k sum_i F_k,i (theta_i - theta*_k,i)^2``."""
        total = torch.zeros((), device=next(model.parameters()).device)
        for fisher, star in self.anchors:
            for p, f, s in zip(parameters_of(model), fisher, star):
                total = total + (f * (p - s) ** 2).sum()
        return 0.5 * self.options["lambda"] * total

    def end_task(self, x, y, seed):
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(x), size=min(len(x), int(self.options["fisher_samples"])), replace=False)
        fisher = empirical_fisher(self.model, x[idx], y[idx], self.train_config.loss, self.train_config.n_classes)
        self.anchors.append((fisher, [p.detach().clone() for p in parameters_of(self.model)]))
