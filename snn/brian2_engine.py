"""Brian2 engine: the SRC sleep phase as a spiking network simulation.

The sleep network of SRC_SPEC.md section 4 written as a Brian2 model that can be
inspected, extended and recorded from like any other Brian2 network:

* one :class:`brian2.NeuronGroup` per layer (integrate-and-fire with a
  multiplicative leak ``decay`` per ``dt`` step, threshold ``threshold * beta_l``,
  reset to 0);
* the input layer is a :class:`brian2.SpikeGeneratorGroup` replaying the same
  :class:`~snn.spikes.InputSpikes` the fast engine gets, relayed one-to-one into
  a NeuronGroup of input neurons (so that the first layer's plasticity can read
  "did input pixel j spike in this step", which a SpikeGeneratorGroup cannot hold);
* one :class:`brian2.Synapses` per weight layer whose ``on_pre`` pathway
  delivers the weights of the presynaptic spikes and whose ``on_post`` pathway
  applies the SRC Hebbian rule (``reference`` or ``plain``).

Equations (``l`` = layer, ``i`` = postsynaptic, ``j`` = presynaptic neuron)::

    v_l  = decay * v_l + alpha_l * (W_l @ s_{l-1})        decay = exp(-dt / tau_m)
    s_l  = v_l >= threshold * beta_l
    W_l[i, j] += inc * f(W_l[i, j])   if s_l[i] and s_{l-1}[j]
    W_l[i, j] -= dec * f(W_l[i, j])   if s_l[i] and not s_{l-1}[j]
    v_l[s_l] = 0

Arithmetic is kept identical to :mod:`snn.fast` so that spikes match exactly:
``on_pre`` adds ``w`` into ``I_syn`` (``I_syn = W_l @ s_{l-1}`` summed in the
same presynaptic order as the fast engine) and a custom operation applies
``v = decay * v + alpha * I_syn`` (mathematically the same as delivering
``alpha * w`` per spike, which would round differently). Brian2's loop-invariant
rewriting and the compiler's ``-ffast-math`` / FMA contraction are switched off
for the same reason.

Time is biological: one step is ``dt_ms`` milliseconds (1 ms in the reference),
the leak corresponds to ``tau_m = -dt / ln(decay)`` (999.5 ms for decay 0.999)
and input rates are in Hz (``max_rate_hz`` of the bridge's sleep parameters).
The membrane potential is dimensionless (the ANN's activation scale; read it as mV).

Schedule of one step (custom Brian2 schedule slots, ``order`` inside a slot)::

    slot layer0 (input)   0 clear flags   1 SpikeGeneratorGroup   2 relay on_pre
                          3 threshold (spiked)
    slot layer<l>, l>=1   0 on_pre (I_syn += w)   1 integrate (v = decay v + alpha I_syn)
                          2 voltage monitor   3 threshold   4 on_post (Hebbian rule)
                          5 reset (v = 0, spiked = True)   6 spike monitors

Layer ``l`` sees layer ``l - 1``'s spikes of the same step, as in the reference.

Code generation (option ``codegen``):

* ``"cython"`` (default) and ``"numpy"``: Brian2 runtime mode. The Cython
  cache lives in ``<cache_dir>/cython-<flags hash>``; the network persists
  between ``run`` calls like the fast engine's state.
* ``"cpp_standalone"``: the network is generated as a C++ project in
  ``<cache_dir>/standalone/<key>`` and compiled with ``make``. Standalone
  simulations run once per build, so every ``run`` call regenerates the
  project with the current weights and potentials as initial state; ``make``
  only recompiles what changed (the input spikes and the number of steps), so
  the full compile is paid once per network shape.

``<cache_dir>`` is the ``cache_dir`` option, else the environment variable
``SLEEP_REPLAY_BRIAN2_CACHE``, else ``.cache/brian2`` under the current
working directory (never the home directory).
"""
from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import shlex
import shutil
import sysconfig
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

with warnings.catch_warnings():
    # Brian2 2.9 uses pyparsing's camelCase API, deprecated since pyparsing 3.3
    warnings.simplefilter("ignore", DeprecationWarning)
    import brian2 as b2
    from brian2 import prefs

from .base import SleepEngine
from .network import SleepNetwork
from .spikes import InputSpikes, SleepResult, SpikeRecord

logger = logging.getLogger(__name__)

#: code generation targets accepted by :class:`Brian2Engine`
CODEGENS = ("cython", "numpy", "cpp_standalone")
#: environment variable naming the cache / build directory
CACHE_ENV = "SLEEP_REPLAY_BRIAN2_CACHE"

#: compile flags of cpp_standalone: Brian2's defaults without ``-ffast-math`` and with
#: FMA contraction off, so that compiled arithmetic rounds like the fast engine's
COMPILE_ARGS = ["-w", "-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-std=c++11"]
#: compile flags of the Cython runtime: the same at -O1, which compiles ~30 % faster
#: (the runtime per-step cost is Brian2's Python loop, not the compiled kernels)
CYTHON_COMPILE_ARGS = ["-O1" if a == "-O3" else a for a in COMPILE_ARGS]

# ------------------------------------------------------------------ the model
#: state of the input neurons (layer 0)
INPUT_MODEL = """
spiked : boolean    # s_0[j]: input pixel j spiked in this step
"""

#: state of the neurons of layer l >= 1
NEURON_MODEL = """
v : 1                          # membrane potential v_l (dimensionless, read as mV)
I_syn : 1                      # (W_l @ s_{l-1})[i]: weights delivered by this step's presynaptic spikes
spiked : boolean               # s_l[i]: fired in this step (read by layer l+1's plasticity)
alpha : 1 (shared, constant)   # alpha_l: synaptic scale (data-based normalization)
decay : 1 (shared, constant)   # leak per step, exp(-dt / tau_m)
v_th : 1 (shared, constant)    # firing threshold, threshold * beta_l
"""

#: custom operation of every step: leak and integrate the delivered input
INTEGRATE = """
v = decay * v + alpha * I_syn
I_syn = 0
spiked = False
"""
THRESHOLD = "v >= v_th"
RESET = """
v = 0
spiked = True
"""

#: synaptic state: one synapse per (post i, pre j) pair
SYNAPSE_MODEL = """
w : 1                          # W_l[i, j]
inc : 1 (shared, constant)     # potentiation amplitude
dec : 1 (shared, constant)     # depression amplitude
"""
#: presynaptic spike: deliver the weight (alpha_l is applied in INTEGRATE)
ON_PRE = "I_syn_post += w"
#: postsynaptic spike: SRC Hebbian rule, f(w) = 2 * (1 - 1 / (1 + exp(-w / 0.001)))
ON_POST = {
    "reference": """
f_w = 2 * (1 - 1 / (1 + exp(-w / 0.001)))
w += int(spiked_pre) * inc * f_w - int(not spiked_pre) * dec * f_w
""",
    "plain": """
w += int(spiked_pre) * inc - int(not spiked_pre) * dec
""",
}

#: per step (order inside a layer's schedule slot)
_ORDER = {"on_pre": 0, "integrate": 1, "v_monitor": 2, "threshold": 3, "on_post": 4, "reset": 5, "monitor": 6}
_INPUT_ORDER = {"clear": 0, "generator": 1, "relay": 2, "threshold": 3}


# ------------------------------------------------------------------ helpers
def default_cache_dir() -> Path:
    """``$SLEEP_REPLAY_BRIAN2_CACHE`` or ``./.cache/brian2`` (relative to the working directory)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.cwd() / ".cache" / "brian2"


def cython_cache_dir(cache_dir: Path) -> Path:
    """``<cache_dir>/cython-<flags hash>``: Brian2 keys its Cython cache on the code
    only, not on the compile flags, so builds with other flags (e.g. Brian2's
    ``-ffast-math`` defaults) must never share this directory."""
    digest = hashlib.sha1(" ".join(CYTHON_COMPILE_ARGS).encode()).hexdigest()[:8]
    return Path(cache_dir) / f"cython-{digest}"


def compiler_problem(codegen: str) -> str | None:
    """Why ``codegen`` cannot be used here (missing tools), or ``None`` if it can.

    ``cython`` needs the C++ compiler Python builds extensions with (``$CXX`` or
    the interpreter's configured ``CXX``); ``cpp_standalone`` needs ``make`` and
    the C++ compiler ``make`` uses (``$CXX``, default ``g++``). ``numpy`` needs nothing.
    """
    if codegen == "numpy":
        return None
    if codegen == "cython":
        cxx = os.environ.get("CXX") or sysconfig.get_config_var("CXX") or "g++"
        exe = shlex.split(cxx)[0] if cxx.strip() else "g++"
        if shutil.which(exe) is None:
            return f"the C++ compiler {exe!r} needed to compile Cython code was not found on PATH"
        return None
    if codegen == "cpp_standalone":
        missing = []
        if shutil.which("make") is None:
            missing.append("'make'")
        cxx = os.environ.get("CXX") or "g++"
        exe = shlex.split(cxx)[0] if cxx.strip() else "g++"
        if shutil.which(exe) is None:
            missing.append(f"the C++ compiler {exe!r}")
        if missing:
            return f"{' and '.join(missing)} needed to build Brian2's cpp_standalone project not found on PATH"
        return None
    raise ValueError(f"unknown codegen {codegen!r}; choose one of {CODEGENS}")


@contextmanager
def _brian2_prefs(codegen: str, cache_dir: Path, dtype: np.dtype) -> Iterator[None]:
    """Set Brian2's global preferences for this engine, restore them afterwards."""
    wanted = {
        "codegen.target": codegen if codegen != "cpp_standalone" else "numpy",
        "codegen.loop_invariant_optimisations": False,
        "codegen.cpp.extra_compile_args_gcc": list(COMPILE_ARGS if codegen == "cpp_standalone"
                                                   else CYTHON_COMPILE_ARGS),
        "codegen.runtime.cython.cache_dir": str(cython_cache_dir(cache_dir)),
        "core.default_float_dtype": dtype.type,
        "devices.cpp_standalone.extra_make_args_unix": [f"-j{max(1, os.cpu_count() or 1)}"],
    }
    saved = {k: prefs[k] for k in wanted}
    try:
        for k, v in wanted.items():
            prefs[k] = v
        with warnings.catch_warnings():
            # Brian2 2.9 parses equations with pyparsing's deprecated camelCase API
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="brian2")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="pyparsing")
            yield
    finally:
        for k, v in saved.items():
            prefs[k] = v


@dataclass
class VoltageTrace:
    """Membrane potentials of some neurons of one layer, one row per step.

    ``v`` is read after the step's input was integrated and before threshold and
    reset (the value the threshold sees).

    Attributes
    ----------
    layer: layer name.
    indices: ``(k,)`` recorded neuron indices.
    v: ``(steps, k)`` membrane potential (dimensionless, read as mV).
    dt_ms: step length in ms.
    """

    layer: str
    indices: np.ndarray
    v: np.ndarray
    dt_ms: float = 1.0


def _subset(name: str, values: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    idx = np.unique(np.asarray(values, dtype=np.int64).reshape(-1))
    if idx.size == 0:
        raise ValueError(f"neuron subset for layer {name!r} is empty")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"neuron subset for layer {name!r} must lie in [0, {n}), got [{idx.min()}, {idx.max()}]")
    return idx


def _records_from_monitor(i: np.ndarray, step: np.ndarray, steps: int, n: int) -> SpikeRecord:
    order = np.lexsort((i, step))
    i, step = i[order], step[order]
    indptr = np.zeros(steps + 1, dtype=np.int64)
    np.cumsum(np.bincount(step, minlength=steps), out=indptr[1:])
    return SpikeRecord(n, indptr, i)


# ------------------------------------------------------------------ engine
class Brian2Engine(SleepEngine):
    """SRC sleep as a Brian2 spiking network (see the module docstring).

    Parameters
    ----------
    codegen: ``"cython"`` (default), ``"numpy"`` or ``"cpp_standalone"``.
    fallback: code generation to use instead when ``codegen`` cannot be used
        because its compiler or ``make`` is missing (``None``: raise instead).
    cache_dir: directory for the Cython cache and the standalone projects
        (default: :func:`default_cache_dir`).
    record_neurons: ``{layer name: neuron indices}``; only these neurons'
        spike trains are recorded for the named layers (per-step counts and
        per-neuron totals always cover every neuron). Layer names as in
        ``SleepNetwork.layer_names`` (not the input).
    record_v: ``{layer name: neuron indices}`` whose membrane potential is
        recorded every step, available as :attr:`voltage_traces`.
    (``dtype``, ``record_spikes``, ``progress``: see :class:`~snn.base.SleepEngine`;
    ``float32`` stores the state in single precision but Brian2 evaluates mixed
    expressions in double, so only ``float64`` is guaranteed to match the fast
    engine spike for spike.)

    After ``build``, :attr:`brian2_objects` holds the Brian2 groups, synapses
    and monitors (runtime codegen) for inspection or extension.
    """

    name = "brian2"

    def __init__(
        self,
        *,
        codegen: str = "cython",
        fallback: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        record_neurons: Mapping[str, Sequence[int]] | None = None,
        record_v: Mapping[str, Sequence[int]] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if codegen not in CODEGENS:
            raise ValueError(f"unknown codegen {codegen!r}; choose one of {CODEGENS}")
        if fallback is not None and fallback not in CODEGENS:
            raise ValueError(f"unknown fallback codegen {fallback!r}; choose one of {CODEGENS} or None")
        self.requested_codegen = codegen
        self.fallback = fallback
        self.codegen = codegen
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.record_neurons = {str(k): v for k, v in (record_neurons or {}).items()}
        self.record_v = {str(k): v for k, v in (record_v or {}).items()}
        self.voltage_traces: dict[str, VoltageTrace] = {}
        self.brian2_objects: dict[str, Any] = {}
        self._net: b2.Network | None = None

    # ------------------------------------------------------------ building
    def _choose_codegen(self) -> str:
        problem = compiler_problem(self.requested_codegen)
        if problem is None:
            return self.requested_codegen
        if self.fallback is None:
            raise RuntimeError(
                f"Brian2 codegen {self.requested_codegen!r} is not available: {problem}. Install a C++ "
                "compiler and make (e.g. apt-get install build-essential), or pass fallback='numpy' "
                "to run with Brian2's NumPy code generation instead."
            )
        fb_problem = compiler_problem(self.fallback)
        if fb_problem is not None:
            raise RuntimeError(
                f"Brian2 codegen {self.requested_codegen!r} is not available ({problem}) and neither "
                f"is the fallback {self.fallback!r} ({fb_problem})"
            )
        logger.warning("Brian2 codegen %r is not available (%s); falling back to %r as requested",
                       self.requested_codegen, problem, self.fallback)
        return self.fallback

    def _build(self, network: SleepNetwork) -> None:
        names = network.layer_names
        sizes = network.sizes
        self._record_neurons: dict[int, np.ndarray] = {}
        self._record_v: dict[int, np.ndarray] = {}
        for option, target in ((self.record_neurons, self._record_neurons), (self.record_v, self._record_v)):
            for name, idx in option.items():
                if name not in names[1:]:
                    raise ValueError(f"unknown layer {name!r}; layers: {names[1:]}")
                l = names.index(name)
                target[l] = _subset(name, idx, sizes[l])
        if self._record_neurons and not self.record_spikes:
            logger.warning("record_neurons has no effect with record_spikes=False")
        self.codegen = self._choose_codegen()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._sizes = list(sizes)
        self._w = [np.ascontiguousarray(w, dtype=self.dtype) for w in network.weights]
        self._v = [np.zeros(n, dtype=self.dtype) for n in sizes[1:]]
        self.voltage_traces = {}
        self._net = None
        self.brian2_objects = {}
        self._offsets: dict[str, Any] = {}
        self._compile_s = 0.0
        if self.codegen != "cpp_standalone":
            t0 = time.perf_counter()
            with _brian2_prefs(self.codegen, self.cache_dir, self.dtype):
                self._net, self.brian2_objects = self._make_network(network, steps=0, input_spikes=None)
                # a zero-length run generates and compiles every code object
                self._net.run(0 * b2.ms, namespace={})
            self._compile_s = time.perf_counter() - t0
            self._w, self._v = [], []  # the state lives in the Brian2 objects now
            logger.info("brian2 (%s): network built and compiled in %.2f s", self.codegen, self._compile_s)

    def _make_network(self, network: SleepNetwork, steps: int,
                      input_spikes: InputSpikes | None) -> tuple[b2.Network, dict[str, Any]]:
        """Create the Brian2 objects for ``network`` with the current state."""
        sizes = self._sizes
        L = len(sizes) - 1
        dt = network.dt_ms * b2.ms
        clock = b2.Clock(dt=dt, name="sleep_clock")
        slots = [f"layer{l}" for l in range(L + 1)]
        objs: dict[str, Any] = {"clock": clock}

        # layer 0: spike generator relayed into input neurons that remember the step's spikes
        if input_spikes is None or input_spikes.indices.size == 0:
            idx, times = np.zeros(0, dtype=np.int32), np.zeros(0) * b2.second
        else:
            idx = input_spikes.indices
            times = input_spikes.steps_of_spikes * float(dt) * b2.second
        gen = b2.SpikeGeneratorGroup(sizes[0], idx, times, clock=clock, when=slots[0],
                                     order=_INPUT_ORDER["generator"], sorted=True, name="input_generator")
        inp = b2.NeuronGroup(sizes[0], INPUT_MODEL, threshold="spiked", reset="", clock=clock, name="layer0")
        inp.thresholder["spike"].when = slots[0]
        inp.thresholder["spike"].order = _INPUT_ORDER["threshold"]
        clear = inp.run_regularly("spiked = False", clock=clock, when=slots[0], order=_INPUT_ORDER["clear"],
                                  name="layer0_clear")
        relay = b2.Synapses(gen, inp, on_pre="spiked_post = True", clock=clock, name="input_relay")
        relay.connect(j="i")
        relay.pre.when = slots[0]
        relay.pre.order = _INPUT_ORDER["relay"]
        objs.update(generator=gen, input=inp, input_clear=clear, input_relay=relay)
        groups, synapses, spike_mons, rate_mons, event_mons, v_mons = [inp], [], {}, {}, {}, {}
        float64 = {"v_th": np.float64}
        for l in range(1, L + 1):
            slot = slots[l]
            recorded = l in self._record_neurons and self.record_spikes
            model = NEURON_MODEL + ("recorded : boolean (constant)  # spike train is recorded\n" if recorded else "")
            events = {"recorded_spike": "spiked and recorded"} if recorded else None
            g = b2.NeuronGroup(sizes[l], model, threshold=THRESHOLD, reset=RESET, events=events, clock=clock,
                               dtype=float64, name=f"layer{l}")
            g.thresholder["spike"].when = slot
            g.thresholder["spike"].order = _ORDER["threshold"]
            g.resetter["spike"].when = slot
            g.resetter["spike"].order = _ORDER["reset"]
            integ = g.run_regularly(INTEGRATE, clock=clock, when=slot, order=_ORDER["integrate"],
                                    name=f"layer{l}_integrate")
            s = b2.Synapses(groups[l - 1], g, model=SYNAPSE_MODEL, on_pre=ON_PRE, on_post=ON_POST[network.rule],
                            clock=clock, name=f"synapses{l}")
            # all-to-all, presynaptic-major: synapse k = i_pre * n_post + j_post, i.e. W_l.T raveled
            s.connect()
            s.pre.when = s.post.when = slot
            s.pre.order = _ORDER["on_pre"]
            s.post.order = _ORDER["on_post"]
            record_all = self.record_spikes and not recorded
            mon = b2.SpikeMonitor(g, record=record_all, when=slot, order=_ORDER["monitor"],
                                  name=f"spikes{l}")
            spike_mons[l] = mon
            if not record_all:
                rm = b2.PopulationRateMonitor(g, name=f"rate{l}")
                rm.when, rm.order = slot, _ORDER["monitor"]
                rate_mons[l] = rm
            if recorded:
                # a custom event "spiked and recorded" (evaluated after the reset) feeds an
                # EventMonitor that stores the spikes of the chosen neurons only
                rec = np.zeros(sizes[l], dtype=bool)
                rec[self._record_neurons[l]] = True
                g.recorded = rec
                g.thresholder["recorded_spike"].when = slot
                g.thresholder["recorded_spike"].order = _ORDER["monitor"]
                event_mons[l] = b2.EventMonitor(g, "recorded_spike", when=slot, order=_ORDER["monitor"] + 1,
                                                name=f"recorded_spikes{l}")
            if l in self._record_v:
                v_mons[l] = b2.StateMonitor(g, "v", record=self._record_v[l], clock=clock, when=slot,
                                            order=_ORDER["v_monitor"], name=f"voltage{l}")
            groups.append(g)
            synapses.append(s)
            objs[f"integrate{l}"] = integ
        objs.update(groups=groups, synapses=synapses, spike_monitors=spike_mons, rate_monitors=rate_mons,
                    event_monitors=event_mons, voltage_monitors=v_mons)
        net = b2.Network()
        net.add(gen, relay, *groups, *synapses, *spike_mons.values(), *rate_mons.values(),
                *event_mons.values(), *v_mons.values())
        net.schedule = ["start", "groups", "thresholds", "synapses", "resets", *slots, "end"]
        if self.codegen != "cpp_standalone":
            self._set_state(objs, network)
        return net, objs

    def _set_state(self, objs: dict[str, Any], network: SleepNetwork) -> None:
        """Runtime mode: write parameters, weights and potentials into the Brian2 objects."""
        for l, (g, s) in enumerate(zip(objs["groups"][1:], objs["synapses"]), start=1):
            g.alpha = network.alpha[l - 1]
            g.decay = network.decay
            g.v_th = network.threshold[l - 1]
            g.v = self._v[l - 1]
            s.inc = network.inc
            s.dec = network.dec
            self._check_order(l, np.asarray(s.i[:]), np.asarray(s.j[:]))
            s.w = self._w[l - 1].T.ravel()

    def _check_order(self, l: int, i_pre: np.ndarray, j_post: np.ndarray) -> None:
        n_pre, n_post = self._sizes[l - 1], self._sizes[l]
        expect = i_pre.astype(np.int64) * n_post + j_post
        if i_pre.size != n_pre * n_post or not np.array_equal(expect, np.arange(n_pre * n_post)):
            raise RuntimeError(f"unexpected synapse order in layer {l}: Brian2 did not create the "
                               "all-to-all synapses presynaptic-major")

    # ------------------------------------------------------------ state
    @property
    def brian2_network(self) -> "b2.Network | None":
        """The Brian2 ``Network`` (runtime codegen, after ``build``), e.g. to add monitors
        with ``when="layer<l>"`` slots; ``None`` for cpp_standalone, whose objects
        exist only while a run is generated."""
        return self._net

    @property
    def weights(self) -> list[np.ndarray]:
        if self._net is not None:
            return [np.asarray(s.w[:], dtype=self.dtype).reshape(self._sizes[l], self._sizes[l + 1]).T.copy()
                    for l, s in enumerate(self.brian2_objects["synapses"])]
        return [w.copy() for w in self._w]

    @property
    def potentials(self) -> list[np.ndarray]:
        """Current membrane potentials per layer (copies)."""
        if self._net is not None:
            return [np.asarray(g.v[:], dtype=self.dtype).copy() for g in self.brian2_objects["groups"][1:]]
        return [v.copy() for v in self._v]

    # ------------------------------------------------------------ running
    def _run(self, input_spikes: InputSpikes) -> SleepResult:
        if self.codegen == "cpp_standalone":
            return self._run_standalone(input_spikes)
        return self._run_runtime(input_spikes)

    def _collect(self, objs: dict[str, Any], input_spikes: InputSpikes, t0_s: float,
                 offsets: dict[str, int]) -> SleepResult:
        """Read the monitors (entries after ``offsets``) into a SleepResult."""
        net = self.network
        steps = input_spikes.steps
        L = len(self._sizes) - 1
        dt_s = net.dt_ms * 1e-3
        counts = np.zeros((steps, L + 1), dtype=np.int64)
        counts[:, 0] = input_spikes.counts
        totals = [input_spikes.totals()]
        records: list[SpikeRecord] = [input_spikes]

        def step_of(t: np.ndarray) -> np.ndarray:
            return np.rint((np.asarray(t, dtype=np.float64) - t0_s) / dt_s).astype(np.int64)

        for l in range(1, L + 1):
            n = self._sizes[l]
            mon = objs["spike_monitors"][l]
            count_now = np.asarray(mon.count[:], dtype=np.int64)
            totals.append(count_now - offsets.get(f"count{l}", 0))
            offsets[f"count{l}"] = count_now
            if l in objs["rate_monitors"]:
                rm = objs["rate_monitors"][l]
                start = offsets.get(f"rate{l}", 0)
                rate = np.asarray(rm.rate_[start:], dtype=np.float64)
                offsets[f"rate{l}"] = start + rate.size
                counts[:, l] = np.rint(rate * n * dt_s).astype(np.int64)[:steps]
                if l in objs["event_monitors"]:
                    em = objs["event_monitors"][l]
                    start = offsets.get(f"event{l}", 0)
                    i = np.asarray(em.i[start:], dtype=np.int64)
                    t = np.asarray(em.t_[start:])
                    offsets[f"event{l}"] = start + i.size
                    records.append(_records_from_monitor(i, step_of(t), steps, n))
            else:
                start = offsets.get(f"spikes{l}", 0)
                i = np.asarray(mon.i[start:], dtype=np.int64)
                t = np.asarray(mon.t_[start:])
                offsets[f"spikes{l}"] = start + i.size
                rec = _records_from_monitor(i, step_of(t), steps, n)
                counts[:, l] = rec.counts
                records.append(rec)
        for l, vm in objs["voltage_monitors"].items():
            start = offsets.get(f"v{l}", 0)
            v = np.asarray(vm.v[:, start:], dtype=self.dtype).T.copy()
            offsets[f"v{l}"] = start + v.shape[0]
            name = net.layer_names[l]
            prev = self.voltage_traces.get(name)
            if prev is not None:
                v = np.concatenate([prev.v, v])
            self.voltage_traces[name] = VoltageTrace(name, self._record_v[l].copy(), v, net.dt_ms)
        return SleepResult(
            weights=self.weights, counts=counts, totals=totals,
            spikes=records if self.record_spikes else None,
            layer_names=list(net.layer_names), dt_ms=net.dt_ms,
        )

    def _run_runtime(self, input_spikes: InputSpikes) -> SleepResult:
        objs = self.brian2_objects
        net = self._net
        dt_ms = self.network.dt_ms
        steps = input_spikes.steps
        t0_s = float(net.t_)
        t0 = time.perf_counter()
        with _brian2_prefs(self.codegen, self.cache_dir, self.dtype):
            gen = objs["generator"]
            times = (input_spikes.steps_of_spikes * dt_ms * 1e-3 + t0_s) * b2.second
            gen.set_spikes(input_spikes.indices, times, sorted=True)
            offsets = self._offsets
            report = None
            if self.progress:
                from tqdm.auto import tqdm
                bar = tqdm(total=steps, desc="sleep (brian2)", unit="step", leave=False)

                def report(elapsed, completed, start, duration):  # noqa: ANN001 - Brian2 callback
                    bar.n = int(round(float(completed) * steps))
                    bar.refresh()
            try:
                # numpy codegen evaluates exp(-w / 0.001) for large negative w: inf is intended
                with np.errstate(over="ignore"):
                    net.run(steps * dt_ms * b2.ms, namespace={}, report=report, report_period=1 * b2.second)
            finally:
                if self.progress:
                    bar.close()
            sim_s = float(b2.get_device()._last_run_time) if steps else 0.0
            prepared = time.perf_counter() - t0
            result = self._collect(objs, input_spikes, t0_s, offsets)
        # compile_s: code generation and compilation at build (cold or from the cache);
        # codegen_s: Brian2's per-run preparation (code objects are re-created, compiled ones reused)
        self.timing.update(compile_s=self._compile_s, sim_s=sim_s, codegen_s=max(0.0, prepared - sim_s))
        return result

    # ------------------------------------------------------------ standalone
    def _project_dir(self, network: SleepNetwork) -> Path:
        # one project per network shape, precision, rule and set of monitors: what changes
        # between runs of one project (the input spikes, the number of steps) is only in
        # main.cpp and objects.cpp, so make recompiles just these two files
        key = {
            "sizes": self._sizes, "dtype": self.dtype.name, "rule": network.rule,
            "record_spikes": self.record_spikes,
            "record_neurons": {str(k): v.tolist() for k, v in self._record_neurons.items()},
            "record_v": {str(k): v.tolist() for k, v in self._record_v.items()},
            "brian2": b2.__version__, "flags": COMPILE_ARGS,
        }
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
        return self.cache_dir / "standalone" / f"{'-'.join(map(str, self._sizes))}-{digest}"

    def _run_standalone(self, input_spikes: InputSpikes) -> SleepResult:
        from brian2.devices.device import reset_device, set_device
        from filelock import FileLock

        project = self._project_dir(self.network)
        project.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(project) + ".lock"), _brian2_prefs("cpp_standalone", self.cache_dir, self.dtype):
            set_device("cpp_standalone", build_on_run=False, directory=str(project))
            try:
                result, times = self._standalone_simulation(project, input_spikes)
            finally:
                b2.get_device().reinit()
                reset_device()
        # the Brian2 objects are gone now; collect them so that the next build
        # finds the same object names (and therefore the same generated code)
        gc.collect()
        self.project_dir = project
        self.timing.update(times)
        logger.info("brian2 (cpp_standalone): codegen %.2f s, make %.2f s, binary %.2f s (simulation %.3f s)",
                    times["codegen_s"], times["compile_s"], times["binary_s"], times["sim_s"])
        return result

    def _standalone_simulation(self, project: Path, input_spikes: InputSpikes) -> tuple[SleepResult, dict[str, float]]:
        """Generate, compile and run the standalone project; update the state."""
        network = self.network
        steps = input_spikes.steps
        t0 = time.perf_counter()
        device = b2.get_device()
        device.reinit()
        device.activate(build_on_run=False, directory=str(project))
        net, objs = self._make_network(network, steps, input_spikes)
        # parameters and state come in through the command line (run_args): the
        # generated code does not depend on them, so a network of the same shape
        # reuses the compiled project
        device.apply_run_args()
        net.run(steps * network.dt_ms * b2.ms, namespace={})
        run_args: dict[Any, Any] = {}
        for l, (g, s) in enumerate(zip(objs["groups"][1:], objs["synapses"]), start=1):
            run_args[g.alpha] = float(network.alpha[l - 1])
            run_args[g.decay] = float(network.decay)
            run_args[g.v_th] = float(network.threshold[l - 1])
            run_args[g.v] = self._v[l - 1]
            run_args[s.inc] = float(network.inc)
            run_args[s.dec] = float(network.dec)
            run_args[s.w] = np.ascontiguousarray(self._w[l - 1].T).ravel()
        codegen_s = time.perf_counter() - t0
        device.build(directory=str(project), compile=True, run=True, with_output=False, run_args=run_args)
        times = {
            "codegen_s": codegen_s,
            "compile_s": float(device.timers["compile"]["make"] or 0.0),
            "binary_s": float(device.timers["run_binary"] or 0.0),
            "sim_s": float(device._last_run_time) if steps else 0.0,
        }
        new_w = []
        for l, s in enumerate(objs["synapses"], start=1):
            self._check_order(l, np.asarray(s.i[:]), np.asarray(s.j[:]))
            new_w.append(np.asarray(s.w[:], dtype=self.dtype).reshape(self._sizes[l - 1], self._sizes[l]).T.copy())
        self._w = new_w
        self._v = [np.asarray(g.v[:], dtype=self.dtype).copy() for g in objs["groups"][1:]]
        result = self._collect(objs, input_spikes, 0.0, {})
        for fname in list(device.run_args_arrays):
            for path in (project / "static_arrays" / fname, project / "static_arrays" / (fname + ".lock")):
                try:
                    path.unlink()
                except OSError:
                    pass
        return result, times


__all__ = ["Brian2Engine", "CACHE_ENV", "CODEGENS", "VoltageTrace", "compiler_problem", "default_cache_dir"]
