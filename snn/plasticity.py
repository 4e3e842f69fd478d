"""The SRC Hebbian rule (SRC_SPEC.md section 4) in NumPy: the weight factor f(w) and the update.

Dense layers update the weight rows onto the neurons that fired (:func:`hebbian_rows`);
convolution layers apply the same per-synapse rule to their shared kernel
(:mod:`snn.layers`, docs/cnn.md). The compiled engines have their own kernels,
checked against these by the engine contract tests.
"""
from __future__ import annotations

import numpy as np

#: Hebbian rules: ``"reference"`` (the weight-dependent factor f(w)) or ``"plain"`` (the paper's Algorithm 1)
WEIGHT_RULES = ("reference", "plain")
#: weight scale of the reference factor f(w) = 2 * (1 - 1 / (1 + exp(-w / W_SCALE)))
W_SCALE = 0.001
#: how a convolution's shared kernel gathers the updates of one step (docs/cnn.md): the sum of
#: every post spike's update, computed from the kernel as it is after the step's input and applied
#: once; or one post spike after the other, each from the kernel the previous one left
KERNEL_UPDATES = ("sum", "sequential")


def weight_factor(w: np.ndarray, rule: str = "reference") -> np.ndarray:
    """The Hebbian weight-dependent factor f(w) of SRC_SPEC.md section 4.

    ``reference``: ``f(w) = 2 * (1 - 1 / (1 + exp(-w / W_SCALE)))``, ``W_SCALE = 0.001``;
    ``plain``: 1.
    """
    if rule == "plain":
        return np.ones_like(w)
    with np.errstate(over="ignore"):
        return 2.0 * (1.0 - 1.0 / (1.0 + np.exp(-w / w.dtype.type(W_SCALE))))


def hebbian_rows(rows: np.ndarray, pre_on: np.ndarray, inc: float, dec: float, rule: str = "reference") -> np.ndarray:
    """SRC Hebbian update (SRC_SPEC.md section 4) of the weight rows onto neurons that fired.

    Args:
        rows: ``(k, n_pre)`` weights onto the ``k`` neurons that fired this step, as they are
            after this step's input was delivered.
        pre_on: ``(n_pre,)`` bool, which presynaptic neurons fired this step.
        inc, dec: amplitudes; pass them in the arithmetic's dtype (e.g. ``np.float32(inc)``).

    Returns the new rows: ``w + inc * f(w)`` where the pre neuron fired, ``w - dec * f(w)``
    where it did not.
    """
    f = weight_factor(rows, rule)
    return np.where(np.asarray(pre_on, dtype=bool)[None, :], rows + inc * f, rows - dec * f)


def summed_update(w: np.ndarray, n_on: np.ndarray, n_off: np.ndarray, inc: float, dec: float,
                  rule: str = "reference") -> np.ndarray:
    """A shared weight after the ``"sum"`` kernel update of one step: ``w + f(w) (inc n_on - dec n_off)``.

    n_on, n_off: for every weight, how many of this step's post spikes saw its pre neuron
    fire / stay silent (integer counts, same shape as ``w``). ``f`` is taken once, at the
    weights as they are after the step's input was delivered.
    """
    dt = w.dtype.type
    return w + weight_factor(w, rule) * (dt(inc) * n_on.astype(w.dtype) - dt(dec) * n_off.astype(w.dtype))
