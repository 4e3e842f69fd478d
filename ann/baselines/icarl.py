"""iCaRL: incremental classifier and representation learning.

Rebuffi, S.-A., Kolesnikov, A., Sperl, G. & Lampert, C. H. "iCaRL: Incremental
classifier and representation learning." CVPR 2017, 2001-2010.

* Memory of at most ``memory`` (K) exemplars, ``K // classes_seen`` per class,
  chosen by herding: exemplars are added greedily so that the mean of their
  (L2-normalised) features stays closest to the class mean.
* Representation learning on new data plus exemplars with sigmoid binary
  cross-entropy: one-hot targets for the new classes, the previous network's
  sigmoid outputs as targets for the classes seen before (distillation).
* Classification by the nearest mean of exemplars in feature space (the
  network's last hidden layer, L2-normalised).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..activations import count_layers, iter_layer_activations
from ..training import TrainingHooks
from .base import ContinualLearner


def penultimate_features(model: nn.Module, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """``(n, n_hidden)`` L2-normalised output of the last hidden layer (eval mode)."""
    n_hidden = count_layers(model) - 1
    if n_hidden == 0:  # no hidden layer: the features are the inputs
        return F.normalize(torch.as_tensor(np.asarray(x, dtype=np.float32)), dim=1).numpy()
    out = [F.normalize(acts[-1], dim=1) for acts in iter_layer_activations(model, x, batch_size, n_hidden)]
    return torch.cat(out).cpu().numpy()


def herding(features: np.ndarray, m: int) -> np.ndarray:
    """Indices of ``m`` exemplars chosen by herding (iCaRL Algorithm 4), in order."""
    mu = features.mean(0)
    chosen: list[int] = []
    running = np.zeros_like(mu)
    available = np.ones(len(features), dtype=bool)
    for k in range(1, min(m, len(features)) + 1):
        dist = np.linalg.norm(mu[None, :] - (running[None, :] + features) / k, axis=1)
        dist[~available] = np.inf
        i = int(np.argmin(dist))
        chosen.append(i)
        available[i] = False
        running += features[i]
    return np.array(chosen, dtype=np.int64)


class _ICaRLHooks(TrainingHooks):
    def __init__(self, learner: "ICaRL") -> None:
        self.learner = learner

    def loss(self, model, x, y, output, base_loss):
        targets = F.one_hot(y, output.shape[1]).to(output.dtype)
        old = self.learner.old_model
        if old is not None and self.learner.old_classes:
            with torch.no_grad():
                q = torch.sigmoid(old(x))
            cols = torch.as_tensor(self.learner.old_classes, device=targets.device)
            targets[:, cols] = q[:, cols]
        return F.binary_cross_entropy_with_logits(output, targets, reduction="sum") / len(x)


class ICaRL(ContinualLearner):
    """iCaRL (Rebuffi et al. 2017) on the no-bias MLP."""

    name = "icarl"
    defaults = {"memory": 2000}
    needs_logits = True

    def validate_options(self) -> None:
        self._positive("memory", allow_zero=False)
        self.exemplars: dict[int, np.ndarray] = {}
        self.old_model: nn.Module | None = None
        self.old_classes: list[int] = []
        self._means: tuple[np.ndarray, np.ndarray] | None = None

    def training_set(self, x, y, seed):
        if not self.exemplars:
            return x, y
        ex = list(self.exemplars.items())
        return (np.concatenate([x, *[e for _, e in ex]]),
                np.concatenate([y, *[np.full(len(e), c) for c, e in ex]]))

    def hooks(self):
        return _ICaRLHooks(self)

    def begin_task(self, x, y):
        self.old_classes = sorted(self.exemplars)
        self.old_model = copy.deepcopy(self.model).eval() if self.old_classes else None

    def end_task(self, x, y, seed):
        per_class = int(self.options["memory"]) // len(self.classes_seen)
        for c in self.exemplars:  # reduce old sets, keeping the first (best) exemplars
            self.exemplars[c] = self.exemplars[c][:per_class]
        for c in np.unique(y):
            xc = x[y == c]
            self.exemplars[int(c)] = xc[herding(penultimate_features(self.model, xc), per_class)]
        self.old_model = None
        self._means = None

    def class_means(self) -> tuple[np.ndarray, np.ndarray]:
        """``(classes,)`` labels and ``(classes, n_hidden)`` normalised exemplar means."""
        if self._means is None:
            labels = np.array(sorted(self.exemplars))
            means = np.stack([penultimate_features(self.model, self.exemplars[c]).mean(0) for c in labels])
            means /= np.linalg.norm(means, axis=1, keepdims=True) + 1e-12
            self._means = (labels, means)
        return self._means

    def predict(self, x):
        labels, means = self.class_means()
        feats = penultimate_features(self.model, x)
        return labels[np.argmin(((feats[:, None, :] - means[None]) ** 2).sum(-1), axis=1)]

    def set_model(self, model):
        super().set_model(model)
        self._means = None

    @property
    def memory_size(self) -> int:
        return int(sum(len(e) for e in self.exemplars.values()))
