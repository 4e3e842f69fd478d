"""Connecting a projection's (pre, post, weight) pairs in one simulator call.

PyNN's ``FromListConnector``/``ArrayConnector`` call the back end once per
postsynaptic cell, and Brian2's back end then sets every synapse in a Python
loop: seconds on NEST and many minutes on Brian2 for a 784-1200-1200-10
network. :class:`PairsConnector` hands all pairs of a projection to NEST's
array ``Connect`` or to ``brian2.Synapses.connect`` at once (like the
connectors of ``pyNN/nest/connectors.py``, it reaches into the back end's
projection objects to do so).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidNetworkError
from .quiet import import_quietly

Connector = import_quietly("pyNN.connectors").Connector


def presynaptic_major_pairs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(pre, post)`` indices of the ``True`` entries of ``mask`` (``(n_post, n_pre)``
    bool), sorted by presynaptic neuron, then postsynaptic: the order in which
    :class:`PairsConnector` makes the connections of a projection."""
    post_i, pre_j = np.nonzero(mask)
    order = np.lexsort((post_i, pre_j))
    return pre_j[order], post_i[order]


class PairsConnector(Connector):
    """Connect explicit (pre, post, weight) pairs in one simulator call.

    The pairs are made in the given order (the engine passes them presynaptic-major,
    see :func:`presynaptic_major_pairs`), with weights in mV (``IF_curr_delta``)
    passed unscaled and a delay of ``delay_ms``.

    Args:
        pre, post: ``(n,)`` indices into the projection's pre/post populations.
        weights_mv: ``(n,)`` signed weights (one sign per projection, as PyNN requires) in
            the synapse's units: mV for static synapses onto ``IF_curr_delta``; the SRC
            weight ``W`` for the native ``src_synapse`` (which transmits ``alpha * W`` mV).
        delay_ms: synaptic delay of every pair (the engine uses one step, ``dt``).
    """

    parameter_names = ("pre", "post")

    def __init__(self, pre: np.ndarray, post: np.ndarray, weights_mv: np.ndarray, delay_ms: float) -> None:
        super().__init__(safe=True)
        self.pre = np.asarray(pre, dtype=np.int64)
        self.post = np.asarray(post, dtype=np.int64)
        self.weights_mv = np.asarray(weights_mv, dtype=np.float64)
        self.delay_ms = float(delay_ms)
        if not (self.pre.shape == self.post.shape == self.weights_mv.shape) or self.pre.ndim != 1:
            raise InvalidNetworkError("pre, post and weights_mv must be 1-D arrays of the same length")

    def connect(self, projection: Any) -> None:
        module = type(projection).__module__
        if module.startswith("pyNN.nest"):
            nest_connect_pairs(projection, self)
        elif module.startswith("pyNN.brian2"):
            brian2_connect_pairs(projection, self)
        else:  # pragma: no cover - only the two back ends are wired
            raise NotImplementedError(f"PairsConnector does not support {module}")


def nest_connect_pairs(prj: Any, c: PairsConnector) -> None:
    """Make ``c``'s pairs in NEST for the ``pyNN.nest`` projection ``prj``, with a
    synapse model of its own per projection: NEST keeps one connection array per
    synapse model, so the exact mode's ``GetConnections`` for one projection only
    scans that projection's connections."""
    import nest

    if c.pre.size == 0:
        return
    pre_ids = np.asarray(prj.pre.node_collection.tolist(), dtype=np.int64)
    post_ids = np.asarray(prj.post.node_collection.tolist(), dtype=np.int64)
    own_model = f"{prj.nest_synapse_model}_src{prj.nest_synapse_label}"
    if own_model not in nest.synapse_models:
        nest.CopyModel(prj.nest_synapse_model, own_model)
    prj.nest_synapse_model = own_model
    syn_spec = {
        "synapse_model": prj.nest_synapse_model,
        "synapse_label": prj.nest_synapse_label,
        "weight": c.weights_mv,
        "delay": np.full(c.pre.size, c.delay_ms),
    }
    nest.Connect(pre_ids[c.pre], post_ids[c.post], "one_to_one", syn_spec)
    prj._sources.update(np.unique(pre_ids[c.pre]).tolist())
    prj._connections = None
    prj._simulator.state.stale_connection_cache = True


def brian2_connect_pairs(prj: Any, c: PairsConnector) -> None:
    """Make ``c``'s pairs in the ``brian2.Synapses`` of the ``pyNN.brian2`` projection
    ``prj``: weights in volt (``IF_curr_delta`` synapses are voltage steps) and
    delay 0 (the engine's schedule, synapses before thresholds, already delays
    delivery by one step). A projection without pairs is deactivated (Brian2
    refuses to run ``Synapses`` without synapses)."""
    syn = prj._brian2_synapses[0][0]
    if c.pre.size == 0:
        syn.active = False
        return
    syn.connect(i=c.pre, j=c.post)
    syn.variables["weight"].get_value()[-c.pre.size:] = c.weights_mv * 1e-3
    syn.pre.variables["delay"].get_value()[-c.pre.size:] = 0.0
    prj._n_connections += int(c.pre.size)


__all__ = ["PairsConnector", "brian2_connect_pairs", "nest_connect_pairs", "presynaptic_major_pairs"]
