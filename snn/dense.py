"""Dense engine: a literal NumPy transcription of SRC_SPEC.md section 4 (the reference oracle).

It loops over steps in Python, as the authors' reference does: dense layers with
dense matrix products, convolution and pooling layers with the NumPy forms of
:mod:`snn.layers` (every post neuron's window of pre spikes; the kernel update of
docs/cnn.md). It is slow (about the reference's speed) and exists as an
independent oracle for tests and as the baseline in ``benchmarks/``.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from .base import SleepEngine
from .network import SleepNetwork
from .spikes import InputSpikes, SleepResult, SpikeRecord


class DenseEngine(SleepEngine):
    """Reference-style dense loop (slow; for checking and benchmarking)."""

    name = "dense"
    supports_conv = True

    def _build(self, network: SleepNetwork) -> None:
        self._w = [w.astype(self.dtype, copy=True) for w in network.weights]
        self._v = [np.zeros(n, dtype=self.dtype) for n in network.sizes[1:]]

    @property
    def weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self._w]

    def _run(self, input_spikes: InputSpikes) -> SleepResult:
        net = self.network
        dt = self.dtype.type
        alpha = [dt(a) for a in net.alpha]
        decay = dt(net.decay)
        amplitudes = [tuple(dt(a) for a in net.amplitudes(l)) for l in range(net.n_layers)]
        steps, L = input_spikes.steps, net.n_layers
        counts = np.zeros((steps, L + 1), dtype=np.int64)
        rasters = [np.zeros((steps, n), dtype=bool) for n in net.sizes]
        for t in tqdm(range(steps), desc="sleep (dense)", disable=not self.progress, leave=False):
            s = np.zeros(net.sizes[0], dtype=self.dtype)
            s[input_spikes.step(t)] = 1
            rasters[0][t] = s > 0
            for l, layer in enumerate(net.layers):
                W, v = self._w[l], self._v[l]
                v[:] = decay * v + alpha[l] * layer.drive(W, s)
                fired = v >= net.threshold[l]
                if fired.any() and layer.plastic:
                    layer.hebbian(W, np.flatnonzero(fired), s > 0, *amplitudes[l], net.rule, net.kernel_update)
                v[fired] = 0
                s = fired.astype(self.dtype)
                rasters[l + 1][t] = fired
            counts[t] = [r[t].sum() for r in rasters]
        records = [SpikeRecord.from_dense(r) for r in rasters]
        return SleepResult(
            weights=self.weights, counts=counts, totals=[r.totals() for r in records],
            spikes=records if self.record_spikes else None,
            layer_names=list(net.layer_names), dt_ms=net.dt_ms,
        )
