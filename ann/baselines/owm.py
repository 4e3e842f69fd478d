"""Orthogonal weight modification.

Zeng, G., Chen, Y., Cui, B. & Yu, S. "Continual learning of context-dependent
processing in neural networks." Nature Machine Intelligence 1, 364-372 (2019).

Every layer l keeps a projector ``P_l`` (``n_in x n_in``, initially the
identity) onto the orthogonal complement of the inputs it has seen. The weight
gradient ``G_l`` (``(n_out, n_in)``) is replaced by ``G_l P_l`` so the update
does not change the layer's response to earlier inputs. After every batch,
with ``x`` the batch-mean input of the layer, the recursive least-squares update
``P <- P - (P x)(P x)^T / (alpha + x^T P x)`` adds ``x`` to the protected subspace.
"""
from __future__ import annotations

import torch
from torch import nn

from ..training import TrainingHooks
from .base import ContinualLearner


class _OWMHooks(TrainingHooks):
    def __init__(self, learner: "OWM") -> None:
        self.learner = learner

    def before_step(self, model, x):
        for lin, P in zip(self.learner.linears(model), self.learner.projectors):
            lin.weight.grad = lin.weight.grad @ P

    def after_step(self, model):
        for l, P in enumerate(self.learner.projectors):
            self.learner.update_projector(l, self.learner.last_inputs[l])


class OWM(ContinualLearner):
    """Orthogonal weight modification (Zeng et al. 2019)."""

    name = "owm"
    defaults = {"alpha": 1.0}

    def validate_options(self) -> None:
        self._positive("alpha", allow_zero=False)
        self.projectors = [torch.eye(lin.in_features, device=lin.weight.device) for lin in self.linears(self.model)]
        self.last_inputs: list[torch.Tensor] = [torch.zeros(lin.in_features, device=lin.weight.device)
                                                for lin in self.linears(self.model)]
        self._handles: list = []

    @staticmethod
    def linears(model: nn.Module) -> list[nn.Linear]:
        return [m for m in model.modules() if isinstance(m, nn.Linear)]

    def update_projector(self, layer: int, x: torch.Tensor) -> None:
        """Protect the direction ``x`` (``(n_in,)``) in layer ``layer``."""
        P = self.projectors[layer]
        px = P @ x
        P -= torch.outer(px, px) / (self.options["alpha"] + x @ px)

    def _record(self, layer: int):
        def hook(module, inputs):
            self.last_inputs[layer] = inputs[0].detach().mean(0)
        return hook

    def hooks(self):
        return _OWMHooks(self)

    def begin_task(self, x, y):
        self._handles = [lin.register_forward_pre_hook(self._record(l))
                         for l, lin in enumerate(self.linears(self.model))]

    def end_task(self, x, y, seed):
        for h in self._handles:
            h.remove()
        self._handles = []
