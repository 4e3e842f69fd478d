"""Run an exported NIR graph in snnTorch and compare its spikes with the sleep engines.

The check of ``snn.export.nir`` in a NIR simulator (torch-side, so it lives in the
bridge): ``snntorch.import_from_nir`` turns the graph into a ``torch.fx`` module of
``Linear`` and ``snntorch.Leaky`` layers (nirtorch runs them in topological order,
so a spike crosses every layer within the step, as in the sleep network), which is
stepped once per input step. snnTorch discretises every LIF with ``dt = 1e-4`` s,
so export with ``snn.export.nir.to_nir(network, "snntorch")``. A convolutional graph
(``Input`` of shape ``(C, H, W)``, ``Conv2d``, ``Flatten``) gets its input spikes as a
``(1, C, H, W)`` tensor.

snnTorch computes in float32 by default (weights are cast with ``torch.Tensor``);
``dtype=torch.float64`` reloads the weights from the graph in double precision,
recomputes the neurons' ``beta`` and threshold (float32 buffers in the importer) in
double precision with the importer's formulas, and runs every module in float64, which separates precision effects from mapping errors.
Requires the test extra (``snntorch``, ``nirtorch``).
"""
from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass

import numpy as np
import torch

from snn.export.nir import SNNTORCH_DT
from snn.extras import require
from snn.spikes import InputSpikes, SpikeRecord

nir = require("nir")

logger = logging.getLogger(__name__)


def snntorch_module(graph: nir.NIRGraph, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """``snntorch.import_nir.import_from_nir(graph)``, optionally converted to ``dtype`` with the
    ``Linear`` weights taken from the graph at that precision (not via float32)."""
    import_from_nir = require("snntorch.import_nir", what="running a NIR graph in snnTorch").import_from_nir
    snntorch = require("snntorch", what="running a NIR graph in snnTorch")

    with contextlib.redirect_stdout(io.StringIO()) as out:   # the importer prints its progress
        module = import_from_nir(graph)
    if out.getvalue().strip():
        logger.debug("snntorch.import_nir.import_from_nir: %s", out.getvalue().strip())
    if dtype != torch.float32:
        module = module.to(dtype)
        for name, sub in module.named_children():
            if isinstance(sub, (torch.nn.Linear, torch.nn.Conv2d)):
                sub.weight.data = torch.as_tensor(np.asarray(graph.nodes[name].weight), dtype=dtype)
                # snnTorch's spike function returns float32 0/1 whatever the potential's dtype
                sub.register_forward_pre_hook(lambda _m, args: tuple(a.to(dtype) for a in args))
            elif isinstance(sub, snntorch.SpikingNeuron) and isinstance(graph.nodes.get(name), nir.LIF):
                # the importer keeps beta and the threshold as float32 buffers: recompute them at dtype
                # with its own formulas (beta = 1 - dt / tau, threshold = v_threshold / (r dt / tau))
                node = graph.nodes[name]
                tau = float(np.unique(node.tau)[0])
                w_scale = float(np.unique(np.asarray(node.r) * SNNTORCH_DT / np.asarray(node.tau))[0])
                sub.beta.data = torch.as_tensor(1.0 - SNNTORCH_DT / np.asarray(node.tau, dtype=np.float64),
                                                dtype=dtype).reshape(sub.beta.shape) if sub.beta.numel() > 1 \
                    else torch.tensor(1.0 - SNNTORCH_DT / tau, dtype=dtype)
                thr = float(np.unique(node.v_threshold)[0])
                sub.threshold.data = torch.tensor(thr if np.isclose(w_scale, 1.0) else thr / w_scale, dtype=dtype)
    return module


def run_snntorch(graph: nir.NIRGraph, input_spikes: InputSpikes, *, dtype: torch.dtype = torch.float32
                 ) -> list[SpikeRecord]:
    """Spikes of every layer (input first) when snnTorch runs ``graph`` on ``input_spikes``.

    The spiking layers are the ``snntorch`` neuron modules in graph order; their
    outputs are caught with forward hooks, one ``(1, n_l)`` tensor per step.
    """
    snntorch = require("snntorch", what="running a NIR graph in snnTorch")

    module = snntorch_module(graph, dtype)
    neurons = [(name, m) for name, m in module.named_children() if isinstance(m, snntorch.SpikingNeuron)]
    steps = input_spikes.steps
    events: list[list[np.ndarray]] = [[] for _ in neurons]

    def hook(k: int):
        def fn(_mod, _inp, out):
            spk = out[0] if isinstance(out, tuple) else out
            events[k].append(np.flatnonzero(spk.detach().reshape(-1).cpu().numpy() > 0))
        return fn

    handles = [m.register_forward_hook(hook(k)) for k, (_, m) in enumerate(neurons)]
    inputs = [node for node in graph.nodes.values() if isinstance(node, nir.Input)]
    shape = [int(d) for d in np.asarray(inputs[0].input_type["input"]).reshape(-1)]  # (n,) or (C, H, W)
    x = torch.zeros(1, *shape, dtype=dtype)
    flat = x.view(1, -1)   # neuron i of the input is flat index i (PyTorch's flatten order)
    try:
        with torch.no_grad():
            state = None
            for t in range(steps):
                x.zero_()
                flat[0, torch.as_tensor(input_spikes.step(t), dtype=torch.long)] = 1
                _, state = module(x, state)
    finally:
        for h in handles:
            h.remove()
    records = [input_spikes]
    for k, (name, m) in enumerate(neurons):
        n = int(np.asarray(graph.nodes[name].v_threshold).size)
        step = np.repeat(np.arange(steps), [e.size for e in events[k]])
        neuron = np.concatenate(events[k]) if events[k] else np.zeros(0, np.int64)
        records.append(SpikeRecord.from_events(n, steps, step, neuron))
    return records


@dataclass
class LayerAgreement:
    """How two spike records of one layer agree.

    equal: identical spikes; n_a, n_b: spike totals; n_diff: (step, neuron) events
    in one record only; first_diff_step: first step that differs (None if equal);
    rate_corr: Pearson correlation of the per-neuron totals (NaN if constant).
    """

    layer: str
    equal: bool
    n_a: int
    n_b: int
    n_diff: int
    first_diff_step: int | None
    rate_corr: float


def compare_records(a: list[SpikeRecord], b: list[SpikeRecord], names: list[str]) -> list[LayerAgreement]:
    """Layer-by-layer agreement of two spike-record lists (same steps and sizes)."""
    out = []
    for name, ra, rb in zip(names, a, b):
        sa = set(zip(ra.steps_of_spikes.tolist(), ra.indices.tolist()))
        sb = set(zip(rb.steps_of_spikes.tolist(), rb.indices.tolist()))
        diff = sa ^ sb
        ta, tb = ra.totals(), rb.totals()
        corr = float(np.corrcoef(ta, tb)[0, 1]) if ta.std() > 0 and tb.std() > 0 else float("nan")
        out.append(LayerAgreement(name, ra == rb, int(ta.sum()), int(tb.sum()), len(diff),
                                  min(t for t, _ in diff) if diff else None, corr))
    return out


__all__ = ["LayerAgreement", "compare_records", "run_snntorch", "snntorch_module"]
