"""Synaptic intelligence.

Zenke, F., Poole, B. & Ganguli, S. "Continual learning through synaptic
intelligence." ICML 2017, PMLR 70:3987-3995.

During training each parameter accumulates its contribution to the decrease of
the loss, ``omega_i += -g_i * delta_theta_i`` per step. At the end of a task
``Omega_i += omega_i / ((theta_i - theta_i^prev)^2 + xi)`` and ``omega`` is
reset; later tasks minimise ``L(theta) + c * sum_i Omega_i (theta_i - theta*_i)^2``.
"""
from __future__ import annotations

import torch

from ..training import TrainingHooks
from .base import ContinualLearner, parameters_of


class _SIHooks(TrainingHooks):
    def __init__(self, learner: "SI") -> None:
        self.learner = learner

    def loss(self, model, x, y, output, base_loss):
        return base_loss + self.learner.penalty(model) if self.learner.big_omega else base_loss

    def before_step(self, model, x):
        self.grads = [p.grad.detach().clone() for p in parameters_of(model)]
        self.before = [p.detach().clone() for p in parameters_of(model)]

    def after_step(self, model):
        for w, g, p, b in zip(self.learner.small_omega, self.grads, parameters_of(model), self.before):
            w -= g * (p.detach() - b)


class SI(ContinualLearner):
    """Synaptic intelligence (Zenke et al. 2017)."""

    name = "si"
    defaults = {"c": 1.0, "xi": 1.0e-3}

    def validate_options(self) -> None:
        self._positive("c")
        self._positive("xi", allow_zero=False)
        self.big_omega: list[torch.Tensor] = []
        self.small_omega: list[torch.Tensor] = []
        self.star: list[torch.Tensor] = []

    def begin_task(self, x, y):
        params = parameters_of(self.model)
        self.small_omega = [torch.zeros_like(p) for p in params]
        self.task_start = [p.detach().clone() for p in params]

    def hooks(self):
        return _SIHooks(self)

    def penalty(self, model: torch.nn.Module) -> torch.Tensor:
        """``c * sum_i Omega_i (theta_i - theta*_i)^2``."""
        total = torch.zeros((), device=next(model.parameters()).device)
        for p, om, s in zip(parameters_of(model), self.big_omega, self.star):
            total = total + (om * (p - s) ** 2).sum()
        return self.options["c"] * total

    def end_task(self, x, y, seed):
        params = [p.detach() for p in parameters_of(self.model)]
        new = [w / ((p - s) ** 2 + self.options["xi"]) for w, p, s in zip(self.small_omega, params, self.task_start)]
        self.big_omega = new if not self.big_omega else [a + b for a, b in zip(self.big_omega, new)]
        self.star = [p.clone() for p in params]
