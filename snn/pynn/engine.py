"""The PyNN engine: the SRC sleep network as a PyNN model, built, run and read back.

:class:`PyNNEngine` exports a :class:`~snn.network.SleepNetwork` to PyNN through
a back end (:mod:`snn.pynn.backends`), drives the simulator step by step or in
stretches, applies the SRC Hebbian rule between steps in the exact plastic
mode, and turns PyNN's recording into spike records and a ``neo.Block``. The
registry names ``pynn.nest`` and ``pynn.brian2`` are this class with
``simulator`` fixed (see :data:`snn.ENGINES`). The model, the one-step-per-layer
shift and the plasticity modes are described in :mod:`snn.pynn`.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any

import neo
import numpy as np
import quantities as pq
from tqdm import tqdm

from ..base import SleepEngine
from ..errors import EngineOptionError, EngineStateError, PlasticConvError
from ..neo_export import spike_block
from ..network import SleepNetwork, W_SCALE, hebbian_rows
from ..spikes import InputSpikes, SleepResult, SpikeRecord
from .backends import BACKENDS, BRIAN2_CODEGENS, Backend, Layer
from .connectors import PairsConnector, presynaptic_major_pairs
from .weights import projection_weights

logger = logging.getLogger(__name__)

#: simulators reachable through PyNN
SIMULATORS = tuple(BACKENDS)
#: values of the ``plasticity`` option ("native": NEST only, the src_synapse extension module)
PLASTICITY_MODES = ("exact", "frozen", "native")
#: tau_m (ms) standing in for an infinite time constant (decay = 1): exp(-dt / 1e30) == 1.0
TAU_M_NO_LEAK_MS = 1e30
#: simulator name -> id of the engine whose network the PyNN module currently holds
_OWNER: dict[str, int] = {}


class PyNNEngine(SleepEngine):
    """The sleep network as a PyNN model on NEST or Brian2.

    Args:
        simulator: ``"nest"`` (pyNN.nest, NEST 3) or ``"brian2"`` (pyNN.brian2).
        plasticity: ``"exact"`` (default: SRC Hebbian rule applied between
            single simulator steps; same spikes and weights as the fast engine),
            ``"native"`` (NEST only: the rule inside NEST, in the synapse model
            ``src_synapse`` of the extension module :mod:`snn.nestmodule`, built once
            and cached; same spikes and weights, runs like ``frozen``) or
            ``"frozen"`` (fixed weights, the simulator runs each ``run`` in a few
            calls).
        codegen: Brian2 only: ``"numpy"`` (default, no compiler needed) or
            ``"cython"``.
        threads: NEST only: ``local_num_threads`` (default 1; the exact mode's
            weight write-back assumes 1).
        compiler: ``plasticity="native"`` only: the C++ compiler that builds the
            module (default ``$CXX`` or ``g++``).
        dtype: only ``"float64"`` (the simulators compute in double precision).
        (``record_spikes``, ``progress``: see :class:`~snn.base.SleepEngine`.)

    ``name`` is ``"pynn.<simulator>"``. After ``run``: :attr:`neo_block` holds the
    run's spikes as recorded by PyNN (one ``neo.Block`` in the layout of
    :func:`snn.neo_export.spike_block`, times in ms shifted back to algorithm
    steps; without spike trains when ``record_spikes=False``); :attr:`populations`
    (input first) and :attr:`projections` (``[excitatory, inhibitory]`` per layer)
    expose the PyNN objects; :attr:`potentials` (mV) and :attr:`weights` the state.
    """

    name = "pynn"
    #: convolution and pooling layers are simulated unrolled (:meth:`SleepNetwork.unrolled`), with fixed
    #: weights only: a shared kernel that learns has no PyNN form (see :meth:`check_conv_frozen`)
    supports_conv = True

    def __init__(self, *, simulator: str = "nest", plasticity: str = "exact", codegen: str = "numpy",
                 threads: int = 1, compiler: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        if simulator not in SIMULATORS:
            raise EngineOptionError(f"unknown PyNN simulator {simulator!r}; choose one of {SIMULATORS}")
        if plasticity not in PLASTICITY_MODES:
            raise EngineOptionError(f"unknown plasticity mode {plasticity!r}; choose one of {PLASTICITY_MODES}")
        if self.dtype != np.float64:
            raise EngineOptionError("PyNN engines simulate in double precision: use dtype='float64'")
        if codegen not in BRIAN2_CODEGENS:
            raise EngineOptionError(f"unknown codegen {codegen!r}; choose one of {BRIAN2_CODEGENS}")
        if int(threads) < 1:
            raise EngineOptionError(f"threads must be >= 1, got {threads}")
        if plasticity == "exact" and int(threads) != 1:
            raise EngineOptionError("plasticity='exact' needs threads=1")
        if plasticity == "native" and simulator != "nest":
            raise EngineOptionError("plasticity='native' runs the SRC rule inside NEST (its src_synapse module): "
                                    f"use simulator='nest', or plasticity='exact' on {simulator}")
        if compiler is not None and plasticity != "native":
            raise EngineOptionError("compiler= only applies to plasticity='native'")
        self.simulator = simulator
        self.plasticity = plasticity
        self.codegen = codegen
        self.threads = int(threads)
        self.compiler = compiler
        self.name = f"pynn.{simulator}" + (".native" if plasticity == "native" else "")
        self.neo_block: neo.Block | None = None
        self.populations: list[Any] = []
        self.projections: list[list[Any]] = []
        self._backend: Backend | None = None

    # ---------------------------------------------------------------- build
    def check_conv_frozen(self, network: SleepNetwork) -> None:
        """Raise :class:`~snn.errors.PlasticConvError` if a convolution layer of ``network``
        would learn in this engine: PyNN synapses each hold their own weight, and a kernel
        shared by every position (updated by the summed or sequential rule) has no PyNN
        form. Convolutions are fine with ``plasticity="frozen"``, with ``plasticity_gain``
        0 (e.g. sleeping only the fully connected layers) or with ``inc = dec = 0``."""
        if self.plasticity == "frozen":
            return
        for l, layer in enumerate(network.layers):
            if layer.kind == "conv" and any(a > 0 for a in network.amplitudes(l)):
                raise PlasticConvError(
                    f"engine {self.name!r} cannot make the shared kernel of layer {l} "
                    f"('{network.layer_names[l + 1]}', conv) learn: PyNN synapses each hold their own weight, so "
                    "plastic shared kernels are not expressible in PyNN. Use plasticity='frozen', "
                    f"plasticity_gain[{l}] = 0 (e.g. sleep only the fc layers), or the 'fast' or 'dense' engine")

    def _build(self, network: SleepNetwork) -> None:
        self._fixed = {}   # weight layer -> its own (kernel-shaped) weights, for layers simulated unrolled
        present: dict[int, np.ndarray] = {}
        if not network.is_dense:
            self.check_conv_frozen(network)
            for l, layer in enumerate(network.layers):
                if layer.kind != "dense":
                    self._fixed[l] = np.array(network.weights[l], dtype=np.float64)
                    present[l] = layer.unroll(np.ones(layer.weight_shape)) != 0
            network = network.unrolled()
        backend = BACKENDS[self.simulator](network.dt_ms, {"codegen": self.codegen, "threads": self.threads,
                                                           "native": self.plasticity == "native",
                                                           "compiler": self.compiler})
        backend.setup()
        _OWNER[self.simulator] = id(self)
        self._backend = backend
        exact = self.plasticity == "exact"
        native = self.plasticity == "native"
        if np.any(network.threshold <= 0):
            raise EngineOptionError(f"PyNN engines need thresholds > 0 (the reset potential, 0 mV, must lie below "
                                    f"them; NEST refuses otherwise), got {network.threshold.tolist()}")
        tau_m = network.tau_m_ms if math.isfinite(network.tau_m_ms) else TAU_M_NO_LEAK_MS
        names = network.layer_names
        with backend.active():
            pops = [backend.input_population(network.sizes[0])]
            layers: list[Layer] = []
            for l, w in enumerate(network.weights):
                pop = backend.layer_population(w.shape[0], tau_m, float(network.threshold[l]), names[l + 1])
                aw = network.alpha[l] * np.asarray(w, dtype=np.float64)   # (post, pre) mV
                # native: the synapses hold W itself and transmit alpha * W
                values = np.asarray(w, dtype=np.float64) if native else aw
                synapse = self._native_parameters(network, l) if native else None
                in_exc = aw >= 0
                position = np.zeros(aw.shape, dtype=np.int64)
                prjs = []
                for receptor, mask in (("excitatory", in_exc), ("inhibitory", ~in_exc)):
                    if l in present:   # an unrolled window layer: its synapses only
                        mask = mask & present[l]
                    pre_j, post_i = presynaptic_major_pairs(mask)
                    position[post_i, pre_j] = np.arange(pre_j.size)
                    pairs = PairsConnector(pre_j, post_i, values[post_i, pre_j], network.dt_ms)
                    prjs.append(backend.projection(pops[-1], pop, receptor, pairs,
                                                   f"{names[l]}->{names[l + 1]} {receptor}", synapse))
                layers.append(Layer(pop, prjs, in_exc, position, present.get(l)))
                pops.append(pop)
            backend.record_spikes(pops, through_pynn=not native)
            backend.finalize(layers, exact)
        self.populations = pops
        self.projections = [ly.projections for ly in layers]
        self._w = [np.array(w, dtype=np.float64) for w in network.weights]
        self._alpha = network.alpha.astype(np.float64)
        self._v_saved = [np.zeros(n) for n in network.sizes[1:]]
        self._kernel = 0
        self.neo_block = None
        logger.info("%s: built %s (%s plasticity) in PyNN %s", self.name,
                    "-".join(map(str, network.sizes)), self.plasticity, backend.version())

    @staticmethod
    def _native_parameters(network: SleepNetwork, l: int) -> dict[str, float]:
        """``src_synapse`` parameters of weight layer ``l``: alpha, the layer's
        amplitudes and ``f``'s scale (``inf``: the plain rule, f = 1)."""
        inc, dec = network.amplitudes(l)
        w_scale = math.inf if network.rule == "plain" else W_SCALE
        return {"alpha": float(network.alpha[l]), "inc": inc, "dec": dec, "w_scale": w_scale}

    def _check_owner(self) -> None:
        if _OWNER.get(self.simulator) != id(self):
            raise EngineStateError(f"another pynn.{self.simulator} engine was built since this one: PyNN holds "
                                   "one network per simulator and process; build this engine again")

    # ---------------------------------------------------------------- state
    @property
    def weights(self) -> list[np.ndarray]:
        """Current weights, ``(n_post, n_pre)`` per layer (copies). In exact mode the
        engine's float64 copy, which is also written into the simulator; in native
        mode the synapses' weights as NEST reported them after the last run (read
        through the module, pending post spikes replayed); in frozen mode the
        network's weights. Convolution and pooling layers (simulated unrolled, never
        learning here) give their own weights (a kernel, the pooling window)."""
        return [self._fixed[l].copy() if l in self._fixed else w.copy() for l, w in enumerate(self._w)]

    @property
    def potentials(self) -> list[np.ndarray]:
        """Membrane potentials (mV) after the last step of the last run, per layer."""
        return [v / self._backend.v_per_mv for v in self._v_saved]

    def simulator_weights(self) -> list[np.ndarray]:
        """The weights as stored in the simulator, read back through PyNN's
        ``Projection.get`` (with :func:`~snn.pynn.weights.projection_weights`' fix)
        and divided by ``alpha``: ``(n_post, n_pre)`` per layer. Slow for large
        networks (PyNN reads NEST's connections one by one)."""
        self._check_owner()
        out = []
        for l, (exc, inh) in enumerate(self.projections):
            with self._backend.active():
                a = np.nan_to_num(projection_weights(exc)) + np.nan_to_num(projection_weights(inh))
            # native synapses hold W (they transmit alpha * W); the others alpha * W
            out.append(a.T if self.plasticity == "native" else a.T / self._alpha[l])
        return out

    # ------------------------------------------------------------------ run
    def _run(self, input_spikes: InputSpikes) -> SleepResult:
        self._check_owner()
        b = self._backend
        net = self.network
        N = input_spikes.steps
        L = net.n_layers
        dt = net.dt_ms
        K0 = self._kernel
        timing = {"simulate_s": 0.0, "plasticity_s": 0.0, "recording_s": 0.0}
        if N == 0:
            return self._empty_result()
        # input: algorithm step g fires in simulator step K0 + 1 + g
        steps_of = input_spikes.steps_of_spikes
        order = np.argsort(input_spikes.indices, kind="stable")
        idx_sorted = input_spikes.indices[order]
        bounds = np.searchsorted(idx_sorted, np.arange(net.sizes[0] + 1))
        k_in = (steps_of[order] + K0 + 1 + b.stamp_offset) * dt
        times = [k_in[bounds[i]:bounds[i + 1]] for i in range(net.sizes[0])]
        t0 = time.perf_counter()
        with b.active():
            b.set_input_times(self.populations[0], times)
        timing["recording_s"] += time.perf_counter() - t0

        # layer l (1-based) restores its potential before simulator step K0 + 1 + l,
        # saves it after step K0 + N + l, and the run ends at K0 + N + L + 2
        restore = {K0 + 1 + l: l for l in range(1, L + 1)}
        save = {K0 + N + l + 1: l for l in range(1, L + 1)}
        k_end = K0 + N + L + 2
        exact = self.plasticity == "exact"
        prev = [[np.zeros(0, np.int64)] * (L + 1)]

        def between_steps(kernel: int) -> None:
            """Work due when the simulator has done ``kernel`` steps (before the next)."""
            if exact and kernel > K0:
                t1 = time.perf_counter()
                cur = [np.zeros(0, np.int64)] + b.fired()
                self._hebbian_step(kernel - 1, K0, N, input_spikes, cur, prev[0])
                prev[0] = cur
                timing["plasticity_s"] += time.perf_counter() - t1
            if kernel in save:
                l = save[kernel]
                self._v_saved[l - 1] = b.get_v(self.populations[l])
            if kernel in restore:
                l = restore[kernel]
                b.set_v(self.populations[l], self._v_saved[l - 1])

        events = sorted({*restore, *save, k_end})
        t1 = time.perf_counter()
        with tqdm(total=k_end - K0, desc=f"sleep ({self.name})", unit="step", disable=not self.progress,
                  leave=False) as bar, b.active():
            try:
                b.run_steps(K0, k_end, between_steps, every_step=exact, events=events, bar=bar)
            finally:
                self._kernel = b.kernel
        timing["simulate_s"] = time.perf_counter() - t1 - timing["plasticity_s"]
        if self.plasticity == "native":
            t1 = time.perf_counter()
            with b.active():
                self._w = b.read_weights([w.shape for w in self._w])
            timing["plasticity_s"] = time.perf_counter() - t1  # reading the slept weights out of NEST
        t1 = time.perf_counter()
        records, shifts = self._collect(K0, N)
        self.neo_block = spike_block(
            records, net.layer_names, dt, engine=self.name, spike_trains=self.record_spikes,
            block_annotations={"simulator": b.version(), "plasticity": self.plasticity,
                               "recorded_by": "NEST spike_recorder" if self.plasticity == "native" else "PyNN",
                               "layer_shift_steps": list(range(L + 1))},
            train_annotations=[{"pynn_shift_ms": float(s * dt)} for s in shifts])
        timing["recording_s"] += time.perf_counter() - t1
        self.timing.update(timing)
        return self._result(records)

    def _hebbian_step(self, k: int, K0: int, N: int, input_spikes: InputSpikes,
                      cur: list[np.ndarray], prev: list[np.ndarray]) -> None:
        """SRC Hebbian update for the spikes of simulator step ``k``: layer ``l`` is
        at algorithm step ``g = k - K0 - 1 - l``; its presynaptic spikes of that
        algorithm step happened in simulator step ``k - 1`` (``prev``)."""
        net = self.network
        for l in range(1, net.n_layers + 1):
            g = k - K0 - 1 - l
            if not 0 <= g < N:
                continue
            post = cur[l]
            if post.size == 0 or (l - 1) in self._fixed:   # no spikes, or a fixed (conv, pool) layer
                continue
            pre = input_spikes.step(g) if l == 1 else prev[l - 1]
            W = self._w[l - 1]
            on = np.zeros(W.shape[1], dtype=bool)
            on[pre] = True
            new = hebbian_rows(W[post], on, *net.amplitudes(l - 1), net.rule)
            W[post] = new
            self._backend.write_rows(l - 1, post, self._alpha[l - 1] * new)

    def _collect(self, K0: int, N: int) -> tuple[list[SpikeRecord], list[int]]:
        """Read (and clear) PyNN's recording of this run, shifted back to algorithm
        steps: one record per population (input first) and each population's shift
        (recorded time / dt of its algorithm step 0)."""
        b = self._backend
        dt = self.network.dt_ms
        records, shifts = [], []
        for l, pop in enumerate(self.populations):
            shift = K0 + 1 + l + b.stamp_offset
            with b.active():
                events = b.recorded_spikes(l)   # (times ms, indices) from the simulator, or None: PyNN
                if events is None:
                    events = self._pynn_spikes(pop)
            g = np.rint(events[0] / dt).astype(np.int64) - shift
            keep = (g >= 0) & (g < N)
            records.append(SpikeRecord.from_events(int(pop.size), N, g[keep], events[1][keep]))
            shifts.append(shift)
        return records, shifts

    def _pynn_spikes(self, pop: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(times ms, indices)`` of ``pop``'s spikes from PyNN's recording (cleared)."""
        data = pop.get_data("spikes", clear=True)
        self._backend.after_clear(pop)
        times, neurons = [np.zeros(0)], [np.zeros(0, np.int64)]
        for st in data.segments[-1].spiketrains:
            t = np.asarray(st.rescale(pq.ms).magnitude, dtype=np.float64)
            times.append(t)
            neurons.append(np.full(t.size, int(st.annotations["source_index"]), np.int64))
        return np.concatenate(times), np.concatenate(neurons)

    def _result(self, records: list[SpikeRecord]) -> SleepResult:
        net = self.network
        counts = np.stack([r.counts for r in records], axis=1).astype(np.int64)
        return SleepResult(weights=self.weights, counts=counts, totals=[r.totals() for r in records],
                           spikes=records if self.record_spikes else None,
                           layer_names=list(net.layer_names), dt_ms=net.dt_ms)

    def _empty_result(self) -> SleepResult:
        return self._result([SpikeRecord.empty(n) for n in self.network.sizes])


__all__ = ["PLASTICITY_MODES", "SIMULATORS", "TAU_M_NO_LEAK_MS", "PyNNEngine"]
