"""The frozen sleep network as a NIR graph (Neuromorphic Intermediate Representation).

NIR (``nir`` package, https://neuroir.org) is read by snnTorch, Norse, Sinabs,
Lava-DL (Loihi), Rockpool (Xylo), Nengo, SpiNNaker2 and BrainScaleS-2 tool chains.
:func:`to_nir` writes the sleep network as::

    Input(n_0) -> Linear(alpha_1 W_1) -> LIF(n_1) -> ... -> Linear(alpha_L W_L) -> LIF(n_L) -> Output(n_L)

NIR is continuous-time: how its ``LIF`` becomes a step depends on the importer
(its time step and discretisation), so :func:`to_nir` needs the target: a named
importer (``target="snntorch"``: the one checked spike for spike, see
``bridge.nir_check``; ``"generic"``: ``dt`` = the network's step, forward Euler,
float64) or an explicit ``dt``. Without either it raises: an export with the
wrong ``dt`` runs without complaint and gives other spikes (snnTorch with 1 ms:
795/61/0 spikes per layer instead of 8284/8374/168).

Mapping (SRC_SPEC.md section 4 -> NIR), with ``dt`` the importer's time step in
NIR's time unit (seconds; snnTorch's importer fixes ``dt = 1e-4``,
:data:`SNNTORCH_DT`):

* weights: ``Linear.weight = alpha_l * W_l``, ``(n_l, n_{l-1})`` float64, or, with
  ``synapse="affine"`` (importers that read ``Affine`` only, e.g. Sinabs),
  ``Affine`` with the same weight and a zero bias. The sleep engines compute
  ``alpha_l * (W_l @ s)``, NIR ``(alpha_l W_l) @ s``: equal up to rounding of the
  last bit.
* leak: NIR's ``LIF`` is ``tau dv/dt = (v_leak - v) + r I``. With ``leak="euler"``
  (default; snnTorch, Norse: forward Euler ``v <- (1 - dt / tau) v + (dt r / tau) I``)
  ``tau = dt / (1 - decay)``; with ``leak="exp"`` (exact exponential, e.g. Sinabs,
  NEST) ``tau = -dt / ln(decay)``. ``r = tau / dt`` so that a spike (one unit for one
  step) adds its weight to ``v``; ``v_leak = v_reset = 0``. ``decay = 1`` becomes an
  ``IF`` node with ``r = 1 / dt``.
* threshold: NIR fires on ``v > v_threshold``, the sleep network on ``v >=
  threshold``. ``v_threshold`` is the largest number below the threshold in the
  importer's precision (``threshold_precision``): ``v > nextafter(th, -inf)`` is
  ``v >= th`` exactly for float64 ``v``; for float32 ``v`` (snnTorch's default) the
  threshold is first rounded up to float32 (``v >= th`` for float32 ``v`` is
  ``v >= ceil32(th)``).
* same-step propagation: a spike of layer ``l - 1`` reaches layer ``l`` in the same
  step (NIR edges carry no delay); importers that evaluate the graph in
  topological order per step (snnTorch/nirtorch) do exactly that. Hardware with
  one step of delay per layer sees layer ``l`` shifted by ``l`` steps.
* plasticity: NIR has no form for the SRC Hebbian rule; the graph is the *frozen*
  network (export before or after sleep). ``inc``, ``dec``, ``rule``, the exact
  ``alpha``, ``decay`` and thresholds travel in ``graph.metadata["sleep_replay"]``
  (a JSON string), which :func:`from_nir` uses to restore the network.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidNetworkError, SpikeFileError, WrongTypeError
from ..network import SleepNetwork
from ..atomic_io import atomic_write
from ..extras import require
from ..layers import Dense
from .nir_conv import (POOL_NODES, layer_from_spec, layer_spec, read_synapses, retype_conv_nodes, shape_of,
                       synapse_nodes)

nir = require("nir", what="NIR export")

#: snnTorch's ``import_from_nir`` discretises every LIF with this step (s)
SNNTORCH_DT = 1e-4
#: how a per-step decay maps to a NIR time constant
LEAK_MAPPINGS = ("euler", "exp")
#: precisions in which the strict-threshold compensation can be made exact
THRESHOLD_PRECISIONS = ("float64", "float32")
#: NIR node carrying the weights: ``Linear`` or ``Affine`` with a zero bias
SYNAPSE_NODES = ("linear", "affine")
#: importer presets of ``to_nir(target=...)``: time step (s; None: the network's own
#: step), leak discretisation, precision of the importer's potential, weight node
NIR_TARGETS: dict[str, dict[str, Any]] = {
    # checked spike for spike (bridge.nir_check): import_from_nir fixes dt = 1e-4 s,
    # snntorch.Leaky is forward Euler in float32
    "snntorch": {"dt": SNNTORCH_DT, "leak": "euler", "threshold_precision": "float32", "synapse": "linear",
                 "pool": "conv"},
    # the continuous-time reading: dt = the network's step, forward Euler, float64
    "generic": {"dt": None, "leak": "euler", "threshold_precision": "float64", "synapse": "linear",
                "pool": "avgpool"},
}
#: key of the graph metadata entry this module writes (a JSON string)
METADATA_KEY = "sleep_replay"
#: version of that metadata entry
METADATA_VERSION = 1


# ------------------------------------------------------------- mappings
def tau_from_decay(decay: float, dt: float, leak: str = "euler") -> float:
    """NIR time constant for a multiplicative leak ``decay`` per step ``dt``
    (``inf`` for ``decay = 1``)."""
    _check_leak(leak)
    if decay == 1.0:
        return math.inf
    return dt / (1.0 - decay) if leak == "euler" else -dt / math.log(decay)


def decay_from_tau(tau: float, dt: float, leak: str = "euler") -> float:
    """Inverse of :func:`tau_from_decay`."""
    _check_leak(leak)
    if math.isinf(tau):
        return 1.0
    return 1.0 - dt / tau if leak == "euler" else math.exp(-dt / tau)


def strict_threshold(threshold: float, precision: str = "float64") -> float:
    """The NIR ``v_threshold`` (fire on ``v > v_threshold``) equivalent to firing on
    ``v >= threshold`` for potentials computed in ``precision``."""
    if precision == "float64":
        return float(np.nextafter(np.float64(threshold), -np.inf))
    if precision == "float32":
        t32 = np.float32(threshold)
        if float(t32) < threshold:        # round up: float32 v >= th  <=>  v >= ceil32(th)
            t32 = np.nextafter(t32, np.float32(np.inf))
        return float(np.nextafter(t32, np.float32(-np.inf)))
    raise InvalidNetworkError(f"threshold_precision must be one of {THRESHOLD_PRECISIONS}, got {precision!r}")


def inclusive_threshold(v_threshold: float) -> float:
    """The sleep-network threshold (``v >= threshold``) equivalent to NIR's
    ``v > v_threshold`` in float64: the next float64 above ``v_threshold``."""
    return float(np.nextafter(np.float64(v_threshold), np.inf))


def _check_leak(leak: str) -> None:
    if leak not in LEAK_MAPPINGS:
        raise InvalidNetworkError(f"leak must be one of {LEAK_MAPPINGS}, got {leak!r}")


# --------------------------------------------------------------- export
def export_options(network: SleepNetwork, target: str | None = None, *, dt: float | None = None,
                   leak: str | None = None, threshold_precision: str | None = None,
                   synapse: str | None = None, pool: str | None = None) -> dict[str, Any]:
    """The resolved ``dt`` (s), ``leak``, ``threshold_precision``, ``synapse`` and ``pool``
    of an export: ``target``'s preset (:data:`NIR_TARGETS`) with the explicit options over
    it. Without a target, ``dt`` must be given (the others default to ``"euler"``,
    ``"float64"``, ``"linear"``, ``"avgpool"``); raises :class:`~snn.errors.InvalidNetworkError`."""
    if target is None and dt is None:
        raise InvalidNetworkError(
            "to_nir() needs the importer the graph is for, since NIR leaves the time step to it and a wrong one "
            "silently gives other spikes: pass target=" + " or ".join(repr(t) for t in NIR_TARGETS)
            + " (snnTorch: dt = 1e-4 s, forward Euler, float32), or dt= (seconds) with leak= and "
            "threshold_precision= for another importer (docs/neuromorphic.md)")
    if target is not None and target not in NIR_TARGETS:
        raise InvalidNetworkError(f"unknown NIR target {target!r}; choose one of {sorted(NIR_TARGETS)} or give dt=")
    preset = NIR_TARGETS[target] if target is not None else {"dt": dt, "leak": "euler",
                                                             "threshold_precision": "float64", "synapse": "linear",
                                                             "pool": "avgpool"}
    given = {"dt": dt, "leak": leak, "threshold_precision": threshold_precision, "synapse": synapse, "pool": pool}
    opts = {k: (given[k] if given[k] is not None else preset[k]) for k in preset}
    opts["dt"] = network.dt_ms * 1e-3 if opts["dt"] is None else float(opts["dt"])
    if not (opts["dt"] > 0 and math.isfinite(opts["dt"])):
        raise InvalidNetworkError(f"dt must be a finite time step > 0 (seconds), got {opts['dt']}")
    _check_leak(opts["leak"])
    if opts["threshold_precision"] not in THRESHOLD_PRECISIONS:
        raise InvalidNetworkError(f"threshold_precision must be one of {THRESHOLD_PRECISIONS}, "
                                  f"got {opts['threshold_precision']!r}")
    if opts["synapse"] not in SYNAPSE_NODES:
        raise InvalidNetworkError(f"synapse must be one of {SYNAPSE_NODES}, got {opts['synapse']!r}")
    if opts["pool"] not in POOL_NODES:
        raise InvalidNetworkError(f"pool must be one of {POOL_NODES}, got {opts['pool']!r}")
    return opts


def to_nir(network: SleepNetwork, target: str | None = None, *, dt: float | None = None, leak: str | None = None,
           threshold_precision: str | None = None, synapse: str | None = None, pool: str | None = None
           ) -> nir.NIRGraph:
    """The frozen ``network`` as a ``nir.NIRGraph`` for the importer ``target`` (mapping:
    module docstring).

    Args:
        target: ``"snntorch"`` (``dt = 1e-4`` s, Euler, float32: spike for spike in
            snnTorch), ``"generic"`` (``dt`` = the network's step, Euler, float64), or
            ``None`` with an explicit ``dt``. Required: NIR leaves the time step to the
            importer, and a wrong one silently gives other spikes.
        dt: the importer's time step in seconds (overrides the target's).
        leak: ``"euler"`` (``tau = dt / (1 - decay)``) or ``"exp"`` (``tau = -dt / ln decay``).
        threshold_precision: precision of the importer's membrane potential (``"float64"``
            or ``"float32"``) for the ``>=`` to ``>`` compensation.
        synapse: ``"linear"`` (``Linear`` nodes) or ``"affine"`` (``Affine`` with a zero
            bias, for importers that read only ``Affine``, such as Sinabs).
        pool: NIR form of a pooling layer (:mod:`snn.export.nir_conv`): ``"conv"`` (a
            depthwise ``Conv2d``; snnTorch's preset) or ``"avgpool"`` (``AvgPool2d`` with
            the layer's gain in the neuron node's ``r``; the generic preset).

    Convolution and pooling layers become ``Conv2d``/``AvgPool2d`` nodes, and a dense
    layer after them reads a ``Flatten`` node (:mod:`snn.export.nir_conv`).
    """
    if not isinstance(network, SleepNetwork):
        raise WrongTypeError(f"to_nir() needs a SleepNetwork, got {type(network).__name__}")
    network.validate()
    opts = export_options(network, target, dt=dt, leak=leak, threshold_precision=threshold_precision,
                          synapse=synapse, pool=pool)
    dt, leak, threshold_precision = opts["dt"], opts["leak"], opts["threshold_precision"]
    tau = tau_from_decay(network.decay, dt, leak)
    layers = network.layers
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(shape_of(layers, 0)))}
    edges: list[tuple[str, str]] = []
    prev = "input"
    for l, w in enumerate(network.weights, start=1):
        syn, gain = synapse_nodes(layers, l, w, float(network.alpha[l - 1]), opts["pool"], opts["synapse"])
        for name, node in syn:
            nodes[name] = node
            edges.append((prev, name))
            prev = name
        shape = shape_of(layers, l)
        v_th = np.full(shape, strict_threshold(network.threshold[l - 1], threshold_precision))
        if math.isinf(tau):
            nodes[f"lif{l}"] = nir.IF(r=np.full(shape, gain / dt), v_threshold=v_th, v_reset=np.zeros(shape))
        else:
            nodes[f"lif{l}"] = nir.LIF(tau=np.full(shape, tau), r=np.full(shape, gain * tau / dt),
                                       v_leak=np.zeros(shape), v_threshold=v_th, v_reset=np.zeros(shape))
        edges.append((prev, f"lif{l}"))
        prev = f"lif{l}"
    nodes["output"] = nir.Output(output_type=np.array(shape_of(layers, len(layers))))
    edges.append((prev, "output"))
    meta = {
        "version": METADATA_VERSION, "dt": dt, "leak": leak, "threshold_precision": threshold_precision,
        "target": target, "synapse": opts["synapse"],
        "dt_ms": network.dt_ms, "decay": network.decay, "alpha": network.alpha.tolist(),
        "threshold": network.threshold.tolist(), "inc": network.inc, "dec": network.dec, "rule": network.rule,
        "plasticity_gain": network.plasticity_gain.tolist(),
        "layer_names": list(network.layer_names),
        "note": "frozen SRC sleep network; the Hebbian plasticity (inc, dec, rule, plasticity_gain) has no NIR form",
    }
    if not network.is_dense:   # dense graphs keep the metadata they always had
        meta.update(layers=[layer_spec(layer) for layer in layers], pool=opts["pool"],
                    kernel_update=network.kernel_update)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={METADATA_KEY: json.dumps(meta)})


# --------------------------------------------------------------- import
def _metadata(graph: nir.NIRGraph) -> dict[str, Any] | None:
    raw = (graph.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise InvalidNetworkError(f"NIR graph metadata {METADATA_KEY!r} is not valid JSON: {exc}") from exc
    if meta.get("version") != METADATA_VERSION:
        raise InvalidNetworkError(f"NIR graph metadata {METADATA_KEY!r} has version {meta.get('version')!r}; "
                                  f"this sleep-replay reads version {METADATA_VERSION}")
    return meta


def _chain(graph: nir.NIRGraph) -> list[str]:
    """Node names from the single Input to the single Output (a simple chain)."""
    shape = "Input -> (Linear -> LIF or IF) x L -> Output"
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise InvalidNetworkError(f"NIR graph needs exactly one Input node ({shape}), found {len(inputs)}")
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    order = [inputs[0]]
    while not isinstance(graph.nodes[order[-1]], nir.Output):
        nxt = succ.get(order[-1], [])
        if len(nxt) != 1 or nxt[0] in order:
            raise InvalidNetworkError(f"NIR graph is not a chain {shape}: node {order[-1]!r} leads to {nxt}")
        order.append(nxt[0])
    if len(order) != len(graph.nodes):
        raise InvalidNetworkError(f"NIR graph has {len(graph.nodes)} nodes but its chain {shape} only {len(order)}")
    return order


def _uniform(values: np.ndarray, what: str) -> float:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.all(values == values[0]):
        raise InvalidNetworkError(f"NIR {what} must be the same for every neuron of a layer "
                                  "(the sleep network has per-layer parameters)")
    return float(values[0])


def from_nir(graph: nir.NIRGraph, *, dt: float | None = None, leak: str | None = None) -> SleepNetwork:
    """A :class:`~snn.network.SleepNetwork` from a NIR graph ``Input -> (Linear or
    zero-bias Affine -> LIF or IF) x L -> Output``.

    A graph written by :func:`to_nir` gives back the same network: thresholds,
    decay, alpha, inc, dec, rule and names exactly, weights as ``Linear.weight /
    alpha`` (equal to the original to rounding of the last bit). For other graphs,
    ``dt`` (s, default 1e-3) and ``leak`` (default ``"euler"``) say how to turn
    ``tau`` into a per-step decay, ``alpha`` is 1, the thresholds are the next
    float64 above ``v_threshold`` (``>`` to ``>=``), ``r dt / tau`` (LIF) or ``r dt``
    (IF) is folded into the weights, and plasticity takes ``SleepNetwork``'s defaults.
    Raises :class:`~snn.errors.InvalidNetworkError` for graphs of another shape, or with
    a leak or reset potential other than 0, or per-neuron parameters that differ
    within a layer. A convolutional network written by :func:`to_nir` (its layers are in
    the metadata) comes back with the same layers (:mod:`snn.export.nir_conv`).
    """
    if not isinstance(graph, nir.NIRGraph):
        raise WrongTypeError(f"from_nir() needs a nir.NIRGraph, got {type(graph).__name__}")
    meta = _metadata(graph)
    dt = float(dt if dt is not None else (meta["dt"] if meta else 1e-3))
    leak = leak or (meta["leak"] if meta else "euler")
    _check_leak(leak)
    chain = _chain(graph)
    layers = [layer_from_spec(x) for x in meta["layers"]] if meta and "layers" in meta else None
    groups: list[list[str]] = [[]]
    for name in chain[1:-1]:
        groups[-1].append(name)
        if isinstance(graph.nodes[name], (nir.LIF, nir.IF)):
            groups.append([])
    if groups[-1] or len(groups) == 1 or (layers is None and any(len(g) != 2 for g in groups[:-1])):
        raise InvalidNetworkError("NIR graph must alternate Linear and LIF/IF nodes between Input and Output")
    groups = groups[:-1]
    if layers is not None and len(layers) != len(groups):
        raise InvalidNetworkError(f"NIR metadata lists {len(layers)} layers but the graph has {len(groups)}")
    mats, thresholds, decays = [], [], []
    for i, group in enumerate(groups):
        *syn_names, neu_name = group
        neu = graph.nodes[neu_name]
        if isinstance(neu, nir.LIF):
            if np.any(np.asarray(neu.v_leak) != 0):
                raise InvalidNetworkError(f"NIR node {neu_name!r}: v_leak must be 0")
            tau = _uniform(neu.tau, f"{neu_name}.tau")
            gain = np.asarray(neu.r, dtype=np.float64) * dt / tau
            decays.append(decay_from_tau(tau, dt, leak))
        else:
            gain = np.asarray(neu.r, dtype=np.float64) * dt
            decays.append(1.0)
        if np.any(np.asarray(neu.v_reset) != 0):
            raise InvalidNetworkError(f"NIR node {neu_name!r}: v_reset must be 0 (the sleep network resets to 0)")
        thresholds.append(inclusive_threshold(_uniform(neu.v_threshold, f"{neu_name}.v_threshold")))
        if layers is not None and not isinstance(layers[i], Dense):
            mats.append(read_synapses([(n, graph.nodes[n]) for n in syn_names], layers[i], gain))
            continue
        syn_name = syn_names[-1]
        syn = graph.nodes[syn_name]
        if isinstance(syn, nir.Affine):
            if np.any(np.asarray(syn.bias) != 0):
                raise InvalidNetworkError(f"NIR node {syn_name!r}: the sleep network has no biases")
        elif not isinstance(syn, nir.Linear):
            raise InvalidNetworkError(f"NIR node {syn_name!r} is a {type(syn).__name__}; expected Linear")
        m = np.array(syn.weight, dtype=np.float64)
        if m.ndim != 2:
            raise InvalidNetworkError(f"NIR node {syn_name!r}: weight must be 2-D, got shape {m.shape}")
        if m.shape[0] != np.asarray(neu.v_threshold).size:
            raise InvalidNetworkError(f"NIR nodes {syn_name!r} -> {neu_name!r}: {m.shape[0]} outputs feed "
                                      f"{np.asarray(neu.v_threshold).size} neurons")
        if meta is None and not np.allclose(gain, 1.0, rtol=1e-12, atol=0):
            m = m * gain.reshape(-1, 1)
        mats.append(m)
    if len(set(decays)) != 1:
        raise InvalidNetworkError(f"NIR layers have different leaks (decays {decays}); the sleep network has one")
    if meta is None:
        return SleepNetwork(weights=mats, alpha=np.ones(len(mats)), threshold=thresholds, decay=decays[0],
                            dt_ms=dt * 1e3)
    alpha = np.asarray(meta["alpha"], dtype=np.float64)
    if alpha.shape != (len(mats),):
        raise InvalidNetworkError(f"NIR metadata has {alpha.size} alpha values for {len(mats)} layers")
    weights = [m / a if a > 0 else m for m, a in zip(mats, alpha)]
    alpha = np.where(alpha > 0, alpha, 0.0)
    return SleepNetwork(weights=weights, alpha=alpha, threshold=meta["threshold"], decay=meta["decay"],
                        inc=meta["inc"], dec=meta["dec"], rule=meta["rule"], dt_ms=meta["dt_ms"],
                        layer_names=list(meta["layer_names"]), plasticity_gain=meta.get("plasticity_gain"),
                        layers=layers, kernel_update=meta.get("kernel_update", "sum"))


# ---------------------------------------------------------------- files
def write_nir(path: str | os.PathLike, graph: nir.NIRGraph | SleepNetwork, *, overwrite: bool = False,
              **to_nir_options: Any) -> Path:
    """Write a NIR graph (or a network, converted with :func:`to_nir` and
    ``to_nir_options``) to ``path`` with ``nir.write``, atomically; refuses to replace
    an existing file unless ``overwrite``."""
    if isinstance(graph, SleepNetwork):
        graph = to_nir(graph, **to_nir_options)
    elif to_nir_options:
        raise WrongTypeError(f"options {sorted(to_nir_options)} only apply when writing a SleepNetwork")
    if not isinstance(graph, nir.NIRGraph):
        raise WrongTypeError(f"write_nir() needs a nir.NIRGraph or SleepNetwork, got {type(graph).__name__}")
    return atomic_write(path, lambda tmp: nir.write(tmp, graph), overwrite=overwrite)


def read_nir(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a NIR file (``nir.read``); a missing, truncated or non-NIR file raises
    :class:`~snn.errors.SpikeFileError`."""
    path = Path(path)
    if not path.is_file():
        raise SpikeFileError(f"{path} is a folder, not a NIR file" if path.is_dir() else f"{path}: no such file")
    try:
        try:
            return nir.read(path)
        except ValueError as exc:
            if "Type inference error" not in str(exc):
                raise
            # nir 1.0 re-infers Conv2d types from weight.shape[1:3] on reading (wrong for non-square
            # kernels and for a pooling layer's channel map): read unchecked, then give the types again
            graph = nir.read(path, type_check=False)
            meta = _metadata(graph)
            if not meta or "layers" not in meta:
                raise
            retype_conv_nodes(graph, [layer_from_spec(x) for x in meta["layers"]])
            return graph
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise SpikeFileError(f"{path} is not a readable NIR file (truncated, damaged or another format): {exc}") from exc


__all__ = [
    "LEAK_MAPPINGS", "NIR_TARGETS", "SNNTORCH_DT", "SYNAPSE_NODES", "THRESHOLD_PRECISIONS", "decay_from_tau",
    "export_options", "from_nir", "inclusive_threshold", "read_nir", "strict_threshold", "tau_from_decay", "to_nir",
    "write_nir",
]
