"""Reading and writing projection weights through PyNN, with PyNN 0.13's scaling fixed.

For ``IF_curr_delta`` the weights are voltage steps in mV, which NEST stores as
they are. PyNN 0.13 on NEST undoes its nA -> pA scaling (``receptor_scale``,
1e-3) only when connecting: ``Projection.get('weight')`` returns NEST's value
times 1e-3 and ``Projection.set(weight=w)`` stores ``w * 1e3``.
:func:`projection_weights` and :func:`set_projection_weights` compensate, so
both work in the units the weights were connected with. On Brian2 they are
PyNN's own calls.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .quiet import quiet


def receptor_scale(prj: Any) -> float:
    """The factor PyNN applies to ``prj``'s weights at connection time only: the
    cell type's ``receptor_scale`` on NEST (1e-3 for ``IF_curr_delta``), else 1."""
    if not type(prj).__module__.startswith("pyNN.nest"):
        return 1.0
    return float(getattr(prj.post.celltype, "receptor_scale", 1.0))


def projection_weights(prj: Any) -> np.ndarray:
    """Weights of a PyNN projection as a ``(n_pre, n_post)`` array (NaN where not
    connected), in the units they were connected with (mV for ``IF_curr_delta``)."""
    with quiet():
        values = np.asarray(prj.get("weight", format="array"), dtype=np.float64)
    return values / receptor_scale(prj)


def set_projection_weights(prj: Any, weights: np.ndarray) -> None:
    """Set the weights of existing connections of ``prj`` from a ``(n_pre, n_post)``
    array (entries of absent connections ignored) in the units they were connected
    with (up to rounding of the two scale factors)."""
    with quiet():
        prj.set(weight=np.asarray(weights, dtype=np.float64) * receptor_scale(prj))


__all__ = ["projection_weights", "receptor_scale", "set_projection_weights"]
