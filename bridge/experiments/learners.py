"""The wake side of a cell: a fresh network and the learner of a method.

Every learner of :data:`ann.baselines.LEARNERS` is built the same way, joint
training (``parallel``) included; all methods of a seed share the initial
weights (the model's generator is seeded with the seed).
"""
from __future__ import annotations

import torch

from torch import nn

from ann import SleepCNN, SleepMLP
from ann.baselines import LEARNERS, ContinualLearner, make_learner
from ann.devices import resolve_device

from .config import ExperimentConfig
from .methods import MethodSpec


def new_model(cfg: ExperimentConfig, seed: int, logits: bool) -> nn.Module:
    """A fresh no-bias network with initial weights from ``seed``: the ``cfg.sizes`` MLP, or for
    ``model = "cnn"`` the :class:`ann.SleepCNN` of the config's CNN fields; a linear output layer
    when ``logits`` or the loss is cross-entropy, else ReLU (the reference)."""
    out_act = "linear" if logits or cfg.train.loss == "ce" else "relu"
    common = dict(output_activation=out_act, generator=torch.Generator().manual_seed(int(seed)),
                  init_range=cfg.init_range, dropout=cfg.dropout)
    if cfg.model == "cnn":
        return SleepCNN(**cfg.cnn_options(), **common)
    return SleepMLP(cfg.sizes, **common)


def build_learner(cfg: ExperimentConfig, spec: MethodSpec, seed: int) -> ContinualLearner:
    """The learner of method ``spec`` on a fresh network for ``seed``."""
    cls = LEARNERS[spec.base]
    model = new_model(cfg, seed, cls.needs_logits).to(resolve_device(cfg.device))
    return make_learner(spec.base, model, cfg.train, **spec.learner_options)
