"""Fast engine kernels for networks with convolution and pooling layers (compiled with Numba).

The same step as :mod:`snn.fast` (SRC_SPEC.md section 4), layer by layer, with
each layer's synapses by kind (:mod:`snn.layers`):

* dense: a pre spike adds its contiguous weight row (weights kept transposed);
* convolution: a pre spike at ``(c_in, y_in, x_in)`` adds the kernel slice
  ``w[:, c_in, k_y, k_x]`` to every post neuron ``(c_out, y, x)`` whose window
  holds it (``y s_y - p_y + k_y = y_in``); a post spike updates the ``C_in kh kw``
  kernel weights of its channel, each by whether its pre neuron at that position
  fired (none on the padding): added up over the step and applied once
  (``sum``), or one post spike after the other (``sequential``), docs/cnn.md;
* pooling: as a convolution with one channel and fixed weights, no update.

Work per step is proportional to the spikes, plus the leak and threshold test of
every neuron. The engine (:class:`snn.fast.FastEngine`) packs every layer into
flat buffers (:func:`pack_layers`) and calls :func:`conv_sleep_steps` in place
of the dense-only kernel; results equal the ``dense`` engine's.
"""
from __future__ import annotations

import numba
import numpy as np

from .network import SleepNetwork

#: layer kind codes of the packed network
DENSE, CONV, POOL = 0, 1, 2
_KIND_CODES = {"dense": DENSE, "conv": CONV, "pool": POOL}
#: columns of the geometry table: input shape, output shape, kernel, stride, padding
_CI, _HI, _WI, _CO, _HO, _WO, _KH, _KW, _SY, _SX, _PY, _PX = range(12)


def pack_layers(network: SleepNetwork, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(kinds, geo, w_off, wflat)``: layer kind codes, the ``(L, 12)`` geometry table and every
    layer's weights in one buffer (dense transposed ``(n_in, n_out)``; kernels as given)."""
    kinds = np.array([_KIND_CODES[layer.kind] for layer in network.layers], dtype=np.int64)
    geo = np.zeros((network.n_layers, 12), dtype=np.int64)
    parts = []
    for l, (layer, w) in enumerate(zip(network.layers, network.weights)):
        if layer.kind == "dense":
            geo[l, [_CI, _CO]] = layer.n_in, layer.n_out
            parts.append(np.ascontiguousarray(w.T, dtype=dtype).ravel())
        else:
            geo[l] = (*layer.in_shape, *layer.out_shape, *layer.kernel, *layer.stride, *layer.padding)
            parts.append(np.ascontiguousarray(w, dtype=dtype).ravel())
    w_off = np.concatenate([[0], np.cumsum([p.size for p in parts])]).astype(np.int64)
    return kinds, geo, w_off, np.concatenate(parts)


def unpack_weights(network: SleepNetwork, w_off: np.ndarray, wflat: np.ndarray) -> list[np.ndarray]:
    """The layers' weights (copies) in :class:`~snn.network.SleepNetwork` layout from the packed buffer."""
    out = []
    for l, layer in enumerate(network.layers):
        flat = wflat[w_off[l]:w_off[l + 1]]
        out.append(flat.reshape(layer.n_in, layer.n_out).T.copy() if layer.kind == "dense"
                   else flat.reshape(layer.weight_shape).copy())
    return out


@numba.njit(cache=True, nogil=True)
def _factor(w, plain_rule, scale, one, two):
    if plain_rule:
        return one
    return two * (one - one / (one + np.exp(-w / scale)))


@numba.njit(cache=True, nogil=True)
def _deliver(kind, g, wflat, wo, pre, n_pre, acc):
    """Add the synaptic input of the ``n_pre`` spikes ``pre`` to ``acc`` (zeroed here)."""
    n_out = g[_CO] if kind == DENSE else g[_CO] * g[_HO] * g[_WO]
    for i in range(n_out):
        acc[i] = 0
    if kind == DENSE:
        for k in range(n_pre):
            base = wo + pre[k] * n_out
            for i in range(n_out):
                acc[i] += wflat[base + i]
        return
    hi, wi, ho, wout = g[_HI], g[_WI], g[_HO], g[_WO]
    kh, kw, sy, sx, py, px = g[_KH], g[_KW], g[_SY], g[_SX], g[_PY], g[_PX]
    hw_in = hi * wi
    plane = ho * wout
    k_per_out = g[_CI] * kh * kw
    for k in range(n_pre):
        c = pre[k] // hw_in
        rem = pre[k] - c * hw_in
        yi = rem // wi
        xi = rem - yi * wi
        for ky in range(kh):
            ny = yi + py - ky
            if ny < 0 or ny % sy != 0 or ny // sy >= ho:
                continue
            y = ny // sy
            for kx in range(kw):
                nx = xi + px - kx
                if nx < 0 or nx % sx != 0 or nx // sx >= wout:
                    continue
                x = nx // sx
                if kind == CONV:
                    widx = wo + (c * kh + ky) * kw + kx
                    pos = y * wout + x
                    for co in range(g[_CO]):
                        acc[co * plane + pos] += wflat[widx + co * k_per_out]
                else:  # pooling: its own channel, one weight per window position
                    acc[c * plane + y * wout + x] += wflat[wo + ky * kw + kx]


@numba.njit(cache=True, nogil=True)
def _kernel_update(g, wflat, wo, post, n_post, pre_on, inc, dec, sequential, plain_rule, scale, one, two,
                   n_on, n_off, touched):
    """Hebbian update of a convolution's shared kernel after the ``n_post`` post spikes ``post``."""
    hi, wi, wout = g[_HI], g[_WI], g[_WO]
    kh, kw, sy, sx, py, px = g[_KH], g[_KW], g[_SY], g[_SX], g[_PY], g[_PX]
    plane = g[_HO] * wout
    k_per_out = g[_CI] * kh * kw
    for q in range(n_post):
        co = post[q] // plane
        rem = post[q] - co * plane
        y = rem // wout
        x = rem - y * wout
        touched[co] = True
        for ci in range(g[_CI]):
            for ky in range(kh):
                yi = y * sy - py + ky
                if yi < 0 or yi >= hi:
                    continue
                for kx in range(kw):
                    xi = x * sx - px + kx
                    if xi < 0 or xi >= wi:
                        continue
                    k = co * k_per_out + (ci * kh + ky) * kw + kx
                    on = pre_on[(ci * hi + yi) * wi + xi]
                    if sequential:
                        w = wflat[wo + k]
                        f = _factor(w, plain_rule, scale, one, two)
                        if on:
                            wflat[wo + k] = w + inc * f
                        else:
                            wflat[wo + k] = w - dec * f
                    elif on:
                        n_on[k] += one
                    else:
                        n_off[k] += one
    if sequential:
        for co in range(g[_CO]):
            touched[co] = False
        return
    for co in range(g[_CO]):
        if not touched[co]:
            continue
        touched[co] = False
        for k in range(co * k_per_out, (co + 1) * k_per_out):
            if n_on[k] == 0 and n_off[k] == 0:  # (counts kept in the weights' dtype, exact below 2**24)
                continue
            w = wflat[wo + k]
            f = _factor(w, plain_rule, scale, one, two)
            wflat[wo + k] = w + f * (inc * n_on[k] - dec * n_off[k])
            n_on[k] = 0
            n_off[k] = 0


@numba.njit(cache=True, nogil=True)
def conv_sleep_steps(kinds, geo, sequential, wflat, w_off, sizes, v, v_off, alpha, thresh, consts, amp, plain_rule,
                     in_indptr, in_idx, counts, totals, t_off, record, ev_idx, ev_n,
                     vr_pos, vr_off, v_out, dr_idx, dr_off, d_out):
    """:func:`snn.fast._sleep_steps` for layers of every kind: ``kinds`` ``(L,)`` codes, ``geo``
    ``(L, 12)`` geometry, ``sequential`` the kernel update mode; the other arguments as there."""
    n_layers = sizes.shape[0] - 1
    max_n = 0
    for l in range(n_layers + 1):
        if sizes[l] > max_n:
            max_n = sizes[l]
    max_k = 1
    for l in range(n_layers):
        if kinds[l] == CONV and w_off[l + 1] - w_off[l] > max_k:
            max_k = w_off[l + 1] - w_off[l]
    pre = np.empty(max_n, np.int32)
    post = np.empty(max_n, np.int32)
    pre_on = np.zeros(max_n, np.bool_)
    acc = np.zeros(max_n, wflat.dtype)
    n_on = np.zeros(max_k, wflat.dtype)
    n_off = np.zeros(max_k, wflat.dtype)
    touched = np.zeros(max_n, np.bool_)
    decay, scale, one, two = consts[0], consts[1], consts[2], consts[3]
    for t in range(in_indptr.shape[0] - 1):
        n_pre = 0
        for k in range(in_indptr[t], in_indptr[t + 1]):
            pre[n_pre] = in_idx[k]
            totals[t_off[0] + in_idx[k]] += 1
            n_pre += 1
        counts[t, 0] = n_pre
        for l in range(n_layers):
            n_in, n_out, wo, vo, a = sizes[l], sizes[l + 1], w_off[l], v_off[l], alpha[l]
            if n_pre > 0:
                _deliver(kinds[l], geo[l], wflat, wo, pre, n_pre, acc)
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
            n_post = 0
            th = thresh[l]
            for i in range(n_out):
                if v[vo + i] >= th:
                    post[n_post] = i
                    n_post += 1
                    v[vo + i] = 0
            inc, dec = amp[l, 0], amp[l, 1]
            # (a layer with both amplitudes 0, e.g. plasticity_gain 0, keeps its weights: the update is skipped)
            if n_post > 0 and kinds[l] != POOL and (inc != 0 or dec != 0):
                for k in range(n_pre):
                    pre_on[pre[k]] = True
                if kinds[l] == DENSE:
                    for q in range(n_post):
                        i = post[q]
                        for j in range(n_in):
                            idx = wo + j * n_out + i
                            w = wflat[idx]
                            f = _factor(w, plain_rule, scale, one, two)
                            if pre_on[j]:
                                wflat[idx] = w + inc * f
                            else:
                                wflat[idx] = w - dec * f
                else:
                    _kernel_update(geo[l], wflat, wo, post, n_post, pre_on, inc, dec, sequential, plain_rule,
                                   scale, one, two, n_on, n_off, touched)
                for k in range(n_pre):
                    pre_on[pre[k]] = False
            counts[t, l + 1] = n_post
            for q in range(n_post):
                totals[t_off[l + 1] + post[q]] += 1
            if record:
                if ev_n + n_post > ev_idx.shape[0]:
                    grown = np.empty(2 * ev_idx.shape[0] + n_post, np.int32)
                    grown[:ev_n] = ev_idx[:ev_n]
                    ev_idx = grown
                for q in range(n_post):
                    ev_idx[ev_n] = post[q]
                    ev_n += 1
            for q in range(n_post):
                pre[q] = post[q]
            n_pre = n_post
    return ev_idx, ev_n
