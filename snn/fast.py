"""Fast engine: event-driven SRC sleep compiled with Numba.

Implements SRC_SPEC.md section 4 step for step. Work per step is proportional
to the spikes: a presynaptic spike adds one contiguous weight row to the
postsynaptic input (weights are kept transposed, ``(n_pre, n_post)``), and a
postsynaptic spike updates the ``n_pre`` weights onto that neuron. The only
dense per-step work is the leak and threshold test of every neuron, which the
reference also does. The whole step loop runs in compiled code; Python only
sees chunks of ``chunk_steps`` steps (for progress bars and interruption).

All layers are packed into flat buffers so one compiled kernel serves any depth.
Networks with convolution or pooling layers run the kernel of :mod:`snn.fast_conv`
(event-driven too: a pre spike adds its kernel slice to the post neurons it reaches).
"""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numba
import numpy as np
from tqdm import tqdm

from .base import SleepEngine
from .fast_conv import conv_sleep_steps, pack_layers, unpack_weights
from .network import SleepNetwork
from .errors import EngineOptionError
from .limits import EARLY_CHECK_STEPS, check_activity, check_block_so_far, current_limit
from .spikes import InputDriveTrace, InputSpikes, SleepResult, SpikeRecord, VoltageTrace, select_neurons

logger = logging.getLogger(__name__)

# indices into the per-run constant vector ``consts`` (kept in the engine dtype
# so float32 runs stay in float32 arithmetic)
_DECAY, _SCALE, _ONE, _TWO = range(4)


@numba.njit(cache=True, nogil=True)
def _sleep_steps(wflat, w_off, sizes, v, v_off, alpha, thresh, consts, amp, plain_rule,
                 in_indptr, in_idx, counts, totals, t_off, record, ev_idx, ev_n,
                 vr_pos, vr_off, v_out, dr_idx, dr_off, d_out):
    """Advance the network over every step of ``in_indptr`` (CSR input spikes).

    wflat: packed transposed weights, layer l element (pre j, post i) at
        ``w_off[l] + j * sizes[l + 1] + i``.
    v: packed membrane potentials, layer l neuron i at ``v_off[l] + i``.
    amp: ``(L, 2)`` Hebbian amplitudes ``(inc, dec)`` of each layer (``SleepNetwork.amplitudes``).
    counts: ``(steps, L + 1)`` spikes per step, filled here.
    totals: packed per-neuron spike totals (all layers, input first), offsets t_off.
    record/ev_idx/ev_n: when ``record``, spikes of layers 1..L are appended to
        ``ev_idx`` in (step, layer, neuron) order; returns the (possibly grown)
        buffer and the new fill level.
    vr_pos/vr_off/v_out: recorded potentials; layer l's are the packed positions
        ``vr_pos[vr_off[l]:vr_off[l + 1]]`` into ``v``, written to the same columns
        of ``v_out`` ``(steps, n_recorded)`` after integration, before threshold.
    dr_idx/dr_off/d_out: recorded synaptic input drive (``W_l s_{l-1}``, before
        ``alpha``); layer l's neuron indices ``dr_idx[dr_off[l]:dr_off[l + 1]]``.
    Recording only reads state: spikes and weights do not depend on it.
    """
    n_layers = sizes.shape[0] - 1
    max_n = 0
    for l in range(n_layers + 1):
        if sizes[l] > max_n:
            max_n = sizes[l]
    pre = np.empty(max_n, np.int32)
    post = np.empty(max_n, np.int32)
    pre_on = np.zeros(max_n, np.bool_)
    acc = np.zeros(max_n, wflat.dtype)
    decay = consts[_DECAY]
    scale = consts[_SCALE]
    one = consts[_ONE]
    two = consts[_TWO]
    n_steps = in_indptr.shape[0] - 1
    for t in range(n_steps):
        n_pre = 0
        for k in range(in_indptr[t], in_indptr[t + 1]):
            pre[n_pre] = in_idx[k]
            totals[t_off[0] + in_idx[k]] += 1
            n_pre += 1
        counts[t, 0] = n_pre
        for l in range(n_layers):
            n_in = sizes[l]
            n_out = sizes[l + 1]
            wo = w_off[l]
            vo = v_off[l]
            a = alpha[l]
            # synaptic input of this step: sum of the rows of the spiking inputs
            if n_pre > 0:
                for i in range(n_out):
                    acc[i] = 0
                for k in range(n_pre):
                    base = wo + pre[k] * n_out
                    for i in range(n_out):
                        acc[i] += wflat[base + i]
                for i in range(n_out):
                    v[vo + i] = decay * v[vo + i] + a * acc[i]
                for r in range(dr_off[l], dr_off[l + 1]):
                    d_out[t, r] = acc[dr_idx[r]]
            else:
                for i in range(n_out):
                    v[vo + i] = decay * v[vo + i]
                for r in range(dr_off[l], dr_off[l + 1]):
                    d_out[t, r] = 0
            for r in range(vr_off[l], vr_off[l + 1]):
                v_out[t, r] = v[vr_pos[r]]
            # threshold and reset
            n_post = 0
            th = thresh[l]
            for i in range(n_out):
                if v[vo + i] >= th:
                    post[n_post] = i
                    n_post += 1
                    v[vo + i] = 0
            # Hebbian update of the weights onto every neuron that fired
            inc = amp[l, 0]
            dec = amp[l, 1]
            if n_post > 0:
                for k in range(n_pre):
                    pre_on[pre[k]] = True
                for q in range(n_post):
                    i = post[q]
                    for j in range(n_in):
                        idx = wo + j * n_out + i
                        w = wflat[idx]
                        if plain_rule:
                            f = one
                        else:
                            f = two * (one - one / (one + np.exp(-w / scale)))
                        if pre_on[j]:
                            wflat[idx] = w + inc * f
                        else:
                            wflat[idx] = w - dec * f
                for k in range(n_pre):
                    pre_on[pre[k]] = False
            counts[t, l + 1] = n_post
            to = t_off[l + 1]
            for q in range(n_post):
                totals[to + post[q]] += 1
            if record:
                if ev_n + n_post > ev_idx.shape[0]:
                    grown = np.empty(2 * ev_idx.shape[0] + n_post, np.int32)
                    grown[:ev_n] = ev_idx[:ev_n]
                    ev_idx = grown
                for q in range(n_post):
                    ev_idx[ev_n] = post[q]
                    ev_n += 1
            # the next layer sees this layer's spikes in the same step
            for q in range(n_post):
                pre[q] = post[q]
            n_pre = n_post
    return ev_idx, ev_n


class FastEngine(SleepEngine):
    """Event-driven compiled SRC engine (the default).

    Args:
        chunk_steps: steps per compiled call; progress is reported between chunks
            and Ctrl-C takes effect there, leaving a consistent state. Under
            :func:`snn.activity_limit` a chunk is also the limit's block, run in calls of
            at most ``snn.limits.EARLY_CHECK_STEPS`` steps (same spikes and weights).
        record_v: ``{layer name: neuron indices}`` whose membrane potential is
            recorded every step (after integration, before threshold and reset), in
            :attr:`SleepResult.voltages <snn.spikes.SleepResult>`.
        record_drive: ``{layer name: neuron indices}`` whose synaptic input drive
            ``(W_l s_{l-1})[i]`` is recorded every step, in ``SleepResult.input_drive``.
        (other parameters: see :class:`~snn.base.SleepEngine`)

    Recording reads the state only; spikes and weights are the same with or without it.
    """

    name = "fast"
    supports_conv = True

    def __init__(self, *, chunk_steps: int = 5000, record_v: Mapping[str, Sequence[int]] | None = None,
                 record_drive: Mapping[str, Sequence[int]] | None = None, **options) -> None:
        super().__init__(**options)
        if int(chunk_steps) < 1:
            raise ValueError(f"chunk_steps must be >= 1, got {chunk_steps}")
        self.chunk_steps = int(chunk_steps)
        for option, value in (("record_v", record_v), ("record_drive", record_drive)):
            if value is not None and not isinstance(value, Mapping):
                raise EngineOptionError(f"engine {self.name!r}: {option} must be a mapping "
                                        f"{{layer name: neuron indices}}, got {type(value).__name__}")
        self.record_v = {str(k): v for k, v in (record_v or {}).items()}
        self.record_drive = {str(k): v for k, v in (record_drive or {}).items()}

    def _build(self, network: SleepNetwork) -> None:
        dt = self.dtype
        sizes = np.asarray(network.sizes, dtype=np.int64)
        self._sizes = sizes
        if network.is_dense:  # the paper's network: the dense-only kernel, as it always was
            self._kernel, self._kernel_args = _sleep_steps, ()
            self._w_off = np.concatenate([[0], np.cumsum(sizes[:-1] * sizes[1:])]).astype(np.int64)
            self._wflat = np.concatenate([np.ascontiguousarray(w.T, dtype=dt).ravel() for w in network.weights])
        else:
            kinds, geo, self._w_off, self._wflat = pack_layers(network, dt)
            self._kernel = conv_sleep_steps
            self._kernel_args = (kinds, geo, network.kernel_update == "sequential")
        self._v_off = np.concatenate([[0], np.cumsum(sizes[1:])]).astype(np.int64)
        self._v = np.zeros(int(sizes[1:].sum()), dtype=dt)
        self._t_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._alpha = network.alpha.astype(dt)
        self._thresh = network.threshold.astype(np.float64)
        self._consts = np.array([network.decay, 0.001, 1.0, 2.0], dtype=dt)
        self._amp = np.array([network.amplitudes(l) for l in range(network.n_layers)], dtype=dt)
        self._plain = network.rule == "plain"
        names, layer_sizes = network.layer_names, network.sizes
        self._rec_v = select_neurons(names, layer_sizes, self.record_v, "record_v")
        self._rec_d = select_neurons(names, layer_sizes, self.record_drive, "record_drive")
        # packed recording tables, layer l = 1..L at table slot l - 1
        self._vr_pos, self._vr_off = _packed_table(self._rec_v, n_layers=len(sizes) - 1, offsets=self._v_off)
        self._dr_idx, self._dr_off = _packed_table(self._rec_d, n_layers=len(sizes) - 1)

    @property
    def weights(self) -> list[np.ndarray]:
        if not self.network.is_dense:
            return unpack_weights(self.network, self._w_off, self._wflat)
        s = self._sizes
        return [
            self._wflat[self._w_off[l] : self._w_off[l + 1]].reshape(s[l], s[l + 1]).T.copy()
            for l in range(len(s) - 1)
        ]

    @property
    def potentials(self) -> list[np.ndarray]:
        """Current membrane potentials per layer (copies)."""
        return [self._v[self._v_off[l] : self._v_off[l + 1]].copy() for l in range(len(self._sizes) - 1)]

    def _run(self, input_spikes: InputSpikes) -> SleepResult:
        sizes = self._sizes
        n_layers = len(sizes) - 1
        steps = input_spikes.steps
        counts = np.zeros((steps, n_layers + 1), dtype=np.int64)
        totals = np.zeros(int(sizes.sum()), dtype=np.int64)
        ev_idx = np.empty(1024 if self.record_spikes else 0, dtype=np.int32)
        ev_n = 0
        v_out = np.zeros((steps, self._vr_pos.size), dtype=self._v.dtype)
        d_out = np.zeros((steps, self._dr_idx.size), dtype=self._v.dtype)
        with tqdm(total=steps, desc=f"sleep ({self.name})", unit="step", disable=not self.progress,
                  leave=False) as bar:
            # under an activity limit, look inside each block too (snn.limits.EARLY_CHECK_STEPS)
            piece = self.chunk_steps if current_limit() is None else min(self.chunk_steps, EARLY_CHECK_STEPS)
            for start in range(0, steps, self.chunk_steps):
                stop = min(start + self.chunk_steps, steps)
                for a in range(start, stop, piece):
                    b = min(a + piece, stop)
                    lo = input_spikes.indptr[a]
                    ev_idx, ev_n = self._kernel(
                        *self._kernel_args, self._wflat, self._w_off, sizes, self._v, self._v_off, self._alpha, self._thresh,
                        self._consts, self._amp, self._plain, input_spikes.indptr[a : b + 1] - lo,
                        input_spikes.indices[lo : input_spikes.indptr[b]], counts[a:b], totals,
                        self._t_off, self.record_spikes, ev_idx, ev_n,
                        self._vr_pos, self._vr_off, v_out[a:b], self._dr_idx, self._dr_off, d_out[a:b],
                    )
                    bar.update(b - a)
                    if b < stop:
                        check_block_so_far(counts[start:b], start, stop - start, self.name)
                check_activity(counts[start:stop], start, self.name)
        totals_per_layer = [totals[self._t_off[l] : self._t_off[l + 1]] for l in range(n_layers + 1)]
        spikes = None
        if self.record_spikes:
            spikes = [input_spikes] + _split_events(ev_idx[:ev_n], counts[:, 1:], sizes[1:])
        names, dt_ms = list(self.network.layer_names), self.network.dt_ms
        voltages = {names[l]: VoltageTrace(names[l], idx.copy(), v_out[:, self._vr_off[l - 1]:self._vr_off[l]], dt_ms)
                    for l, idx in self._rec_v.items()}
        drive = {names[l]: InputDriveTrace(names[l], idx.copy(), d_out[:, self._dr_off[l - 1]:self._dr_off[l]], dt_ms)
                 for l, idx in self._rec_d.items()}
        return SleepResult(
            weights=self.weights, counts=counts, totals=totals_per_layer, spikes=spikes,
            layer_names=names, dt_ms=dt_ms, voltages=voltages, input_drive=drive,
        )


def _packed_table(selection: dict[int, np.ndarray], n_layers: int,
                  offsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(entries, off)``: layer l's (1-based) recorded neurons are entries
    ``off[l - 1]:off[l]``, as positions in the packed potentials (``offsets``
    given: ``offsets[l - 1] + i``) or as indices within the layer."""
    parts, off = [], [0]
    for l in range(1, n_layers + 1):
        idx = selection.get(l, np.zeros(0, np.int64))
        parts.append(idx + (offsets[l - 1] if offsets is not None else 0))
        off.append(off[-1] + idx.size)
    return np.concatenate(parts).astype(np.int64), np.asarray(off, dtype=np.int64)


def _split_events(ev_idx: np.ndarray, counts: np.ndarray, sizes: np.ndarray) -> list[SpikeRecord]:
    """Split (step, layer, neuron)-ordered events into one CSR record per layer."""
    n_layers = counts.shape[1]
    layer_of_event = np.repeat(np.tile(np.arange(n_layers), counts.shape[0]), counts.ravel())
    records = []
    for l in range(n_layers):
        indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts[:, l], out=indptr[1:])
        records.append(SpikeRecord(int(sizes[l]), indptr, ev_idx[layer_of_event == l]))
    return records
