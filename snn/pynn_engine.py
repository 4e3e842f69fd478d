"""PyNN engines: the SRC sleep network on NEST and on Brian2 through PyNN.

Neuromorphic users port models through PyNN (NEST, SpiNNaker, BrainScaleS all
speak it). These engines export the bridge's :class:`~snn.network.SleepNetwork`
to PyNN, run it, record spikes with PyNN (as Neo) and bring the weights back,
behind the usual engine interface::

    engine = snn.get_engine("pynn.nest")                        # or "pynn.brian2"
    engine = snn.get_engine("pynn.nest", plasticity="frozen")   # dynamics only
    result = engine.build(network).run(input_spikes)
    block = engine.neo_block                                    # PyNN's recording, as neo.Block

The PyNN model
--------------
* one ``Population`` of ``IF_curr_delta`` cells per layer: ``v_rest = v_reset =
  0 mV``, ``v_thresh = threshold * beta_l`` (mV), ``tau_refrac = 0 ms`` and
  ``tau_m = -dt / ln(decay)`` (999.5 ms for decay 0.999 at dt = 1 ms), so that the
  exact leak of one step, ``exp(-dt / tau_m)``, is ``decay``;
* a ``SpikeSourceArray`` replaying the same :class:`~snn.spikes.InputSpikes` as
  every other engine;
* per weight layer two ``Projection`` objects carrying ``alpha_l * W_l`` (mV): an
  ``excitatory`` one with the pairs whose weight is >= 0 and an ``inhibitory``
  one with the negative ones (PyNN requires one sign per projection), each with a
  delay of one step (``dt`` ms).

Units: time in ms, membrane potentials and delta-synapse weights in mV (the
sleep network's potentials are dimensionless; read them as mV).

The one-step-per-layer shift
----------------------------
SRC propagates a spike through every layer within the same step; a simulator
needs at least one step of synaptic delay. So in the simulator layer ``l``
processes algorithm step ``t`` in simulator step ``t + l`` (plus a constant
offset): it integrates exactly the same inputs, one step later per layer. The
engine shifts the recorded spike times back before comparing or returning them:
algorithm step ``t`` of a run that starts with the simulator at step ``K0``
happens in simulator step ``K0 + 1 + t + l`` for layer ``l`` (input: ``l = 0``).
NEST stamps a spike of step ``k`` with ``(k + 1) * dt``, Brian2 with ``k * dt``.

Within a step both simulators do ``v <- decay * v + (sum of delivered weights)``
and only then test the threshold, like SRC: NEST's ``iaf_psc_delta`` adds the
delivered weights right after the propagator (``V_m = P33 * V_m + input``); on
Brian2 the engine installs the schedule ``groups, synapses, thresholds, resets``
(see below).

Each ``run`` ends by simulating ``L + 2`` extra steps without input, so that the
deeper layers finish the run's last steps (and NEST hands over every spike).
The potential of each layer is saved right after it finished the run's last
step and written back right before it starts the next run's first step, so
state persists across ``run`` calls exactly like in the other engines.

Plasticity (engine option ``plasticity``)
-----------------------------------------
PyNN's standard STDP classes cannot express the SRC rule (post-triggered
depression of *silent* inputs with a weight-dependent factor), so:

* ``"exact"`` (default): the simulator advances one step at a time; after each
  step the engine reads which neurons fired, applies the Hebbian update of
  SRC_SPEC.md section 4 in NumPy (float64) to the rows of the neurons that fired
  (with the presynaptic spikes of the same algorithm step) and writes back only
  those rows into the simulator before the next step's spikes are delivered (NEST
  reads a synapse's weight when it delivers a spike, at the start of the next
  step; Brian2 in the ``synapses`` slot of the next step). Spikes are identical to
  the fast engine's and the weights agree to rounding. A weight whose sign changes
  stays in the projection it started in: both simulators sum signed
  delta-synapse weights onto ``v`` alike.
* ``"frozen"``: weights stay fixed (sleep dynamics only, for firing-rate studies
  and porting); compare with the fast engine run on ``inc = dec = 0``.

No native NEST route is provided. No built-in NEST synapse implements the rule,
and a NESTML synapse would have to apply the depression of silent inputs lazily
(NEST only calls a synapse when its presynaptic neuron spikes) and flush the
pending updates before weights are read; more practically, NESTML modules are
compiled against NEST's development files (``nest-config``), which the PyPI
wheel of NEST does not ship.

PyNN 0.13 pitfalls handled here (each has a test)
-------------------------------------------------
* NEST: the default ``spike_precision='off_grid'`` uses ``iaf_psc_delta_ps``,
  which refuses ``tau_refrac = 0`` ("Refractory time must be at least one time
  step"); the engine sets ``spike_precision='on_grid'`` (``iaf_psc_delta``).
* NEST: PyNN's ``IF_curr_delta`` lacks the variable map ``v -> V_m``, so
  ``Population.initialize(v=...)`` only logs "NEST does not allow setting an
  initial value for v" and recording ``v`` fails; :class:`NestIFCurrDelta`
  (a subclass) adds the map.
* NEST: ``Projection.get('weight')`` returns NEST's value times 1e-3 and
  ``Projection.set(weight=w)`` stores ``w * 1e3`` for ``IF_curr_delta`` (the
  nA/pA scaling is undone only when connecting); :func:`projection_weights` and
  :func:`set_projection_weights` correct it. The engine's own connector passes
  the weights to NEST unscaled.
* Brian2: ``setup(timestep=dt)`` sets only the network clock; PyNN's
  ``SpikeSourceArray`` uses Brian2's ``defaultclock`` (0.1 ms), so its spikes
  would live on another clock: :class:`Brian2SpikeSourceArray` puts the
  generator on the network clock (1 ms).
* Brian2: the default schedule tests the threshold *before* delivering the
  step's spikes (``v = decay * (v + input)`` at the next step) and resets after
  delivery; the engine uses ``['start', 'groups', 'synapses', 'thresholds',
  'resets', 'end']`` so that ``v = decay * v + input`` is tested in the same
  step. In that order the ``synapses`` slot delivers the spikes of the previous
  step's threshold, so the Brian2 ``Synapses.delay`` is set to 0: the schedule
  itself is the one-step delay of the PyNN projection.
* Brian2: PyNN's threshold is ``v > v_thresh``; SRC fires at ``v >= threshold``
  (:class:`Brian2IFCurrDelta`).
* Building: PyNN's list/array connectors loop in Python over postsynaptic cells
  (12 s for 784-1200-1200-10 on NEST, far longer on Brian2);
  :class:`PairsConnector` makes all pairs of a projection in one simulator call.

Each PyNN simulator module holds one network per process: building a second
engine on the same simulator discards the first one's network (using the first
one afterwards raises ``RuntimeError``).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any, Iterator

# NEST prints its banner on import unless told otherwise (must precede `import nest`)
os.environ.setdefault("PYNEST_QUIET", "1")

import neo  # noqa: E402
import numpy as np  # noqa: E402
import quantities as pq  # noqa: E402
from pyNN.connectors import Connector  # noqa: E402
from pyNN.parameters import Sequence  # noqa: E402
from tqdm import tqdm  # noqa: E402

from .base import SleepEngine  # noqa: E402
from .network import SleepNetwork, weight_factor  # noqa: E402
from .spikes import InputSpikes, SleepResult, SpikeRecord  # noqa: E402

logger = logging.getLogger(__name__)

#: simulators reachable through PyNN
SIMULATORS = ("nest", "brian2")
#: values of the ``plasticity`` option
PLASTICITY_MODES = ("exact", "frozen")
#: Brian2 code generation targets accepted by the ``codegen`` option
BRIAN2_CODEGENS = ("numpy", "cython")
#: Brian2 schedule: leak (groups), deliver (synapses), then threshold and reset
BRIAN2_SCHEDULE = ["start", "groups", "synapses", "thresholds", "resets", "end"]
#: tau_m (ms) standing in for an infinite time constant (decay = 1): exp(-dt / 1e30) == 1.0
TAU_M_NO_LEAK_MS = 1e30


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the warnings NEST and PyNN emit on import and setup.

    PyNN 0.13 with NEST 3.10 warns that it cannot build its NEST extensions
    (``nest-config`` is not shipped with the PyPI wheel; they are not needed
    here) and that ``nest.set_verbosity`` is deprecated; NEST's banner is
    switched off with ``PYNEST_QUIET`` at import of this module.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


# ---------------------------------------------------------------- connector
class PairsConnector(Connector):
    """Connect explicit (pre, post, weight) pairs in one simulator call.

    PyNN's ``FromListConnector``/``ArrayConnector`` call the backend once per
    postsynaptic cell and Brian2's backend then sets every synapse in a Python
    loop; for a 784-1200-1200-10 network that is seconds on NEST and many
    minutes on Brian2. This connector hands all pairs of a projection to
    NEST's array ``Connect`` or to ``brian2.Synapses.connect`` at once, in
    presynaptic-major order, with weights in mV (``IF_curr_delta``) passed
    unscaled and a delay of ``delay_ms``.

    pre, post: indices into the projection's pre/post populations.
    weights_mv: signed weights in mV (one sign per projection, as PyNN requires).
    """

    parameter_names = ("pre", "post")

    def __init__(self, pre: np.ndarray, post: np.ndarray, weights_mv: np.ndarray, delay_ms: float) -> None:
        super().__init__(safe=True)
        self.pre = np.asarray(pre, dtype=np.int64)
        self.post = np.asarray(post, dtype=np.int64)
        self.weights_mv = np.asarray(weights_mv, dtype=np.float64)
        self.delay_ms = float(delay_ms)
        if not (self.pre.shape == self.post.shape == self.weights_mv.shape) or self.pre.ndim != 1:
            raise ValueError("pre, post and weights_mv must be 1-D arrays of the same length")

    def connect(self, projection: Any) -> None:
        module = type(projection).__module__
        if module.startswith("pyNN.nest"):
            _nest_connect_pairs(projection, self)
        elif module.startswith("pyNN.brian2"):
            _brian2_connect_pairs(projection, self)
        else:  # pragma: no cover - only the two backends are wired
            raise NotImplementedError(f"PairsConnector does not support {module}")


def _nest_connect_pairs(prj: Any, c: PairsConnector) -> None:
    import nest

    if c.pre.size == 0:
        return
    pre_ids = np.asarray(prj.pre.node_collection.tolist(), dtype=np.int64)
    post_ids = np.asarray(prj.post.node_collection.tolist(), dtype=np.int64)
    # a synapse model of its own per projection: NEST keeps one connection array
    # per synapse model, so the exact mode's GetConnections for one projection
    # only scans that projection's connections
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


def _brian2_connect_pairs(prj: Any, c: PairsConnector) -> None:
    syn = prj._brian2_synapses[0][0]
    if c.pre.size == 0:
        syn.active = False  # Brian2 refuses to run Synapses without synapses
        return
    syn.connect(i=c.pre, j=c.post)
    # IF_curr_delta synapses are voltage steps: weight in volt
    syn.variables["weight"].get_value()[-c.pre.size:] = c.weights_mv * 1e-3
    # the schedule (synapses before thresholds) already delays by one step
    syn.pre.variables["delay"].get_value()[-c.pre.size:] = 0.0
    prj._n_connections += int(c.pre.size)


# ------------------------------------------------------------- PyNN classes
@functools.lru_cache(maxsize=None)
def nest_classes() -> tuple[Any, type, type]:
    """``(pyNN.nest, NestIFCurrDelta, NestSpikeSourceArray)``, importing NEST quietly."""
    with quiet():
        import nest
        import pyNN.nest as sim
    _set_nest_verbosity(nest)

    class NestIFCurrDelta(sim.IF_curr_delta):
        """PyNN's ``IF_curr_delta`` with the variable map PyNN 0.13 lacks on NEST.

        Without ``variable_map``, ``initialize(v=...)`` tries to set a NEST
        status entry ``v`` (unknown to ``iaf_psc_delta``), PyNN only logs "NEST
        does not allow setting an initial value for v" and the potential stays
        unchanged; recording ``v`` fails likewise. Membrane potential in mV.
        """

        __doc__ = sim.IF_curr_delta.__doc__
        variable_map = {"v": "V_m"}
        scale_factors = {"v": 1}

    return sim, NestIFCurrDelta, sim.SpikeSourceArray


@functools.lru_cache(maxsize=None)
def brian2_classes() -> tuple[Any, type, type]:
    """``(pyNN.brian2, Brian2IFCurrDelta, Brian2SpikeSourceArray)``."""
    with quiet():
        import brian2
        import pyNN.brian2 as sim
        from pyNN.brian2 import simulator as b2sim
        from pyNN.brian2.cells import BaseNeuronGroup, SpikeGeneratorGroup

    class SRCThresholdNeuronGroup(BaseNeuronGroup):
        """PyNN's ``ThresholdNeuronGroup`` firing at ``v >= v_thresh`` (PyNN: ``>``),
        integrated with Brian2's ``exact`` method (stated, so Brian2 does not log
        its choice)."""

        def __init__(self, n: int, equations: Any, **parameters: Any) -> None:
            equations += """v_thresh : volt (constant)
                            v_reset  : volt (constant)"""
            BaseNeuronGroup.__init__(self, n, equations, "v >= v_thresh", reset="v = v_reset",
                                     method="exact", **parameters)

    class ClockedSpikeGeneratorGroup(SpikeGeneratorGroup):
        """PyNN's spike generator on the network clock instead of ``defaultclock``."""

        def __init__(self, n: int, equations: Any, spike_time_sequences: Any = None) -> None:
            if isinstance(spike_time_sequences, Sequence):  # PyNN simplifies a homogeneous value
                spike_time_sequences = np.array([spike_time_sequences] * n, dtype=object)
            assert spike_time_sequences.size == n
            self._check_spike_times(spike_time_sequences)
            indices, times = self._convert_sequences_to_arrays(spike_time_sequences)
            brian2.SpikeGeneratorGroup.__init__(self, n, indices=indices, times=times,
                                                clock=b2sim.state.network.clock)

    class Brian2IFCurrDelta(sim.IF_curr_delta):
        """``IF_curr_delta`` on Brian2 firing at ``v >= v_thresh`` (mV)."""

        __doc__ = sim.IF_curr_delta.__doc__
        brian2_model = SRCThresholdNeuronGroup

    class Brian2SpikeSourceArray(sim.SpikeSourceArray):
        """``SpikeSourceArray`` whose generator runs on the PyNN network's clock
        (``setup(timestep=...)``), not on Brian2's 0.1 ms ``defaultclock``."""

        __doc__ = sim.SpikeSourceArray.__doc__
        brian2_model = ClockedSpikeGeneratorGroup

    return sim, Brian2IFCurrDelta, Brian2SpikeSourceArray


def _set_nest_verbosity(nest: Any) -> None:
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:  # pragma: no cover - NEST < 3.10
        with quiet():
            nest.set_verbosity("M_ERROR")


# ------------------------------------------------ weights through PyNN (fix)
def _receptor_scale(prj: Any) -> float:
    """NEST backend: the factor PyNN applies at connection time only (1e-3 for
    ``IF_curr_delta``, whose weights are mV, not nA)."""
    if not type(prj).__module__.startswith("pyNN.nest"):
        return 1.0
    return float(getattr(prj.post.celltype, "receptor_scale", 1.0))


def projection_weights(prj: Any) -> np.ndarray:
    """Weights of a PyNN projection as a ``(n_pre, n_post)`` array (NaN where not
    connected), in the units they were connected with (mV for ``IF_curr_delta``).

    PyNN 0.13's ``Projection.get('weight')`` on NEST multiplies the stored value by
    1e-3 even for ``IF_curr_delta``, whose weights NEST stores in mV; this undoes it.
    """
    with quiet():
        values = np.asarray(prj.get("weight", format="array"), dtype=np.float64)
    return values / _receptor_scale(prj)


def set_projection_weights(prj: Any, weights: np.ndarray) -> None:
    """Set the weights of existing connections (``(n_pre, n_post)``, entries of
    absent connections ignored) in the units they were connected with.

    PyNN 0.13's ``Projection.set(weight=w)`` on NEST stores ``w * 1e3`` for
    ``IF_curr_delta``; this compensates (up to rounding of the two factors).
    """
    with quiet():
        prj.set(weight=np.asarray(weights, dtype=np.float64) * _receptor_scale(prj))


# ------------------------------------------------------------------ backends
@dataclass
class _Layer:
    """Simulator objects of one weight layer and where each weight lives."""

    population: Any
    projections: list[Any]            # [excitatory, inhibitory]
    in_exc: np.ndarray                # (n_post, n_pre) bool: pair is in the excitatory projection
    position: np.ndarray              # (n_post, n_pre) int: index of the pair in its projection


class _Backend:
    """What the engine needs from a PyNN simulator module."""

    name = "abstract"
    #: a spike of simulator step k is recorded at time (k + stamp_offset) * dt
    stamp_offset = 0
    #: native membrane potential units per mV
    v_per_mv = 1.0

    def __init__(self, dt_ms: float, options: dict[str, Any]) -> None:
        self.dt = float(dt_ms)
        self.options = options
        self.sim: Any = None
        #: simulator steps done
        self.kernel = 0

    # build
    def setup(self) -> None: ...
    def input_population(self, n: int) -> Any: ...
    def layer_population(self, n: int, tau_m_ms: float, v_thresh_mv: float, label: str) -> Any: ...
    def finalize(self, layers: list[_Layer], exact: bool) -> None: ...
    # run
    def advance(self, steps: int) -> None: ...
    def get_v(self, pop: Any) -> np.ndarray: ...
    def set_v(self, pop: Any, v_native: np.ndarray) -> None: ...
    def fired(self) -> list[np.ndarray]: ...
    def write_rows(self, l: int, rows: np.ndarray, values_mv: np.ndarray) -> None: ...

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Context in which the simulator runs (global preferences)."""
        with quiet():
            yield

    def projection(self, pre: Any, post: Any, receptor: str, pairs: PairsConnector, label: str) -> Any:
        sim = self.sim
        syn = sim.StaticSynapse(weight=0.0, delay=self.dt)
        return sim.Projection(pre, post, pairs, syn, receptor_type=receptor, label=label)

    def run_steps(self, k_start: int, k_end: int, between: Any, *, every_step: bool,
                  events: list[int], bar: Any) -> None:
        """Simulate from step ``k_start`` to ``k_end``, calling ``between(k)`` whenever
        ``k`` steps are done and step ``k`` is next: at every ``k`` if ``every_step``,
        else at least at each of ``events``. Default: one simulator call per stretch."""
        kernel = k_start
        while True:
            between(kernel)
            if kernel >= k_end:
                break
            target = kernel + 1 if every_step else min(k for k in events if k > kernel)
            self.advance(target - kernel)
            bar.update(target - kernel)
            kernel = target
            self.kernel = kernel

    def set_input_times(self, pop: Any, times_ms: list[np.ndarray]) -> None:
        pop.set(spike_times=[Sequence(t) for t in times_ms])

    def after_clear(self, pop: Any) -> None:
        """Repair after ``get_data(clear=True)`` where PyNN's clearing is incomplete."""

    def version(self) -> str:
        return ""


class _NestBackend(_Backend):
    name = "nest"
    stamp_offset = 1
    v_per_mv = 1.0
    #: connections read per call when mapping them (bounds the memory of NEST's status dicts)
    MAP_CHUNK = 100_000

    def setup(self) -> None:
        sim, self.cell_class, self.source_class = nest_classes()
        import nest

        self.nest = nest
        self.sim = sim
        threads = int(self.options.get("threads", 1))
        with quiet():
            # on_grid: iaf_psc_delta (iaf_psc_delta_ps refuses tau_refrac = 0)
            sim.setup(timestep=self.dt, min_delay=self.dt, max_delay=max(10.0 * self.dt, self.dt),
                      spike_precision="on_grid", threads=threads, verbosity="error")
        _set_nest_verbosity(nest)
        self._det = None

    def input_population(self, n: int) -> Any:
        pop = self.sim.Population(n, self.source_class(spike_times=[Sequence([]) for _ in range(n)]), label="input")
        # PyNN creates spike_generators with precise_times=True: a spike time a
        # rounding error above a grid point (0.1 ms steps: 3 * 0.1 - 0.1 =
        # 0.20000000000000004) is then a precise spike in the *next* step, which the
        # on-grid parrot neurons forward one step late. Without precise_times NEST
        # rounds times within half a tic to the grid.
        self.nest.SetStatus(pop.node_collection_source, {"precise_times": False})
        return pop

    def layer_population(self, n: int, tau_m_ms: float, v_thresh_mv: float, label: str) -> Any:
        cell = self.cell_class(tau_m=tau_m_ms, v_rest=0.0, v_reset=0.0, v_thresh=v_thresh_mv,
                               tau_refrac=0.0, cm=1.0, i_offset=0.0)
        return self.sim.Population(n, cell, initial_values={"v": 0.0}, label=label)

    def finalize(self, layers: list[_Layer], exact: bool) -> None:
        nest = self.nest
        state = self.sim.simulator.state
        self._layers = layers
        if exact:
            # a recorder of our own, emptied after every step, tells which neurons fired
            self._det = nest.Create("spike_recorder")
            ids = [np.asarray(ly.population.node_collection.tolist(), dtype=np.int64) for ly in layers]
            for ly in layers:
                nest.Connect(ly.population.node_collection, self._det)
            self._first_id = np.array([i[0] for i in ids], dtype=np.int64)
            for i in ids:  # PyNN populations are contiguous node-id ranges
                assert np.array_equal(i, np.arange(i[0], i[0] + i.size))
        # connect parrots and recorders (PyNN does this on its first run), then mark
        # the simulation as running so PyNN does not add its extra min_delay
        state.run(0.0)
        state.running = True
        if exact:
            # connections are sorted by source when the simulation is first
            # prepared: fetch them after that, then map (post, pre) -> connection
            nest.Prepare()
            nest.Cleanup()
            self._datums = []
            for ly in layers:
                per_prj = []
                for k, prj in enumerate(ly.projections):
                    conns = nest.GetConnections(source=prj.pre.node_collection, target=prj.post.node_collection,
                                                synapse_model=prj.nest_synapse_model,
                                                synapse_label=prj.nest_synapse_label)
                    datums = list(conns._datum) if len(conns) else []
                    mask = ly.in_exc if k == 0 else ~ly.in_exc
                    self._map_connections(prj, datums, mask, ly)
                    per_prj.append(datums)
                self._datums.append(per_prj)

    def _map_connections(self, prj: Any, datums: list, mask: np.ndarray, ly: _Layer) -> None:
        """Record where NEST keeps each (post, pre) pair of ``prj`` in ``ly.position``.

        Before simulating, NEST sorts every connection array by source with an
        unstable sort, so the order of the targets within one source is not the
        order they were made in (it is on large arrays, not always on small ones).
        The targets are read back once, in chunks (about 5 us per connection).
        """
        from nest.lib.hl_api_types import SynapseCollection

        n = int(mask.sum())
        if len(datums) != n:
            raise RuntimeError(f"projection {prj.label!r} has {len(datums)} connections in NEST, expected {n}")
        pre_ids = np.asarray(prj.pre.node_collection.tolist(), dtype=np.int64)
        post_ids = np.asarray(prj.post.node_collection.tolist(), dtype=np.int64)
        for a in range(0, n, self.MAP_CHUNK):
            got = SynapseCollection(datums[a:a + self.MAP_CHUNK]).get(["source", "target"])
            src = np.searchsorted(pre_ids, np.asarray(got["source"], dtype=np.int64))
            tgt = np.searchsorted(post_ids, np.asarray(got["target"], dtype=np.int64))
            if not (mask[tgt, src].all()):
                raise RuntimeError(f"NEST lists a connection of {prj.label!r} that was not made")
            ly.position[tgt, src] = np.arange(a, a + src.size)

    def advance(self, steps: int) -> None:
        if steps > 0:
            self.sim.simulator.state.run(steps * self.dt)

    def get_v(self, pop: Any) -> np.ndarray:
        return np.asarray(self.nest.GetStatus(pop.node_collection, "V_m"), dtype=np.float64)

    def set_v(self, pop: Any, v_native: np.ndarray) -> None:
        # PyNN's own API; works on NEST thanks to NestIFCurrDelta's variable map
        pop.initialize(v=np.asarray(v_native, dtype=np.float64))

    def fired(self) -> list[np.ndarray]:
        ev = self._det.get("events")
        senders = np.asarray(ev["senders"], dtype=np.int64)
        self._det.n_events = 0
        layer = np.searchsorted(self._first_id, senders, side="right") - 1
        return [np.sort(senders[layer == l] - self._first_id[l]) for l in range(self._first_id.size)]

    def write_rows(self, l: int, rows: np.ndarray, values_mv: np.ndarray) -> None:
        from nest.lib.hl_api_types import SynapseCollection

        ly = self._layers[l]
        in_exc = ly.in_exc[rows]
        pos = ly.position[rows]
        for k, sel in enumerate((in_exc, ~in_exc)):
            if not sel.any():
                continue
            datums = self._datums[l][k]
            sc = SynapseCollection([datums[p] for p in pos[sel].tolist()])
            sc.set(weight=values_mv[sel].tolist())

    def version(self) -> str:
        return f"NEST {self.nest.__version__}"


class _Brian2Backend(_Backend):
    name = "brian2"
    stamp_offset = 0
    v_per_mv = 1e-3

    def setup(self) -> None:
        sim, self.cell_class, self.source_class = brian2_classes()
        import brian2

        self.brian2 = brian2
        self.sim = sim
        codegen = self.options.get("codegen", "numpy")
        if codegen not in BRIAN2_CODEGENS:
            raise ValueError(f"unknown codegen {codegen!r}; choose one of {BRIAN2_CODEGENS}")
        self.codegen = codegen
        with self.active():
            sim.setup(timestep=self.dt, min_delay=self.dt)
            sim.simulator.state.network.schedule = list(BRIAN2_SCHEDULE)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        prefs = self.brian2.prefs
        wanted = {"codegen.target": self.codegen}
        saved = {k: prefs[k] for k in wanted}
        try:
            for k, v in wanted.items():
                prefs[k] = v
            with quiet():
                yield
        finally:
            for k, v in saved.items():
                prefs[k] = v

    def input_population(self, n: int) -> Any:
        return self.sim.Population(n, self.source_class(spike_times=[Sequence([]) for _ in range(n)]), label="input")

    def layer_population(self, n: int, tau_m_ms: float, v_thresh_mv: float, label: str) -> Any:
        cell = self.cell_class(tau_m=tau_m_ms, v_rest=0.0, v_reset=0.0, v_thresh=v_thresh_mv,
                               tau_refrac=0.0, cm=1.0, i_offset=0.0)
        return self.sim.Population(n, cell, initial_values={"v": 0.0}, label=label)

    def finalize(self, layers: list[_Layer], exact: bool) -> None:
        self._layers = layers
        self._operation: dict[str, Any] = {"function": None}
        slot = self._operation

        def call_engine(t: Any) -> None:
            if slot["function"] is not None:
                slot["function"](t)

        self.sim.simulator.state.network.add(
            self.brian2.NetworkOperation(call_engine, when="start", order=1,
                                         clock=self.sim.simulator.state.network.clock))
        self._weights = []
        for ly in layers:
            per_prj = []
            for k, prj in enumerate(ly.projections):
                syn = prj._brian2_synapses[0][0]
                mask = ly.in_exc if k == 0 else ~ly.in_exc
                post_i, pre_j = np.nonzero(mask)
                order = np.lexsort((post_i, pre_j))
                if not (np.array_equal(np.asarray(syn.i[:]), pre_j[order])
                        and np.array_equal(np.asarray(syn.j[:]), post_i[order])):
                    raise RuntimeError(f"Brian2 reordered the synapses of {prj.label!r}")
                per_prj.append(syn.variables["weight"].get_value())
            self._weights.append(per_prj)

    def advance(self, steps: int) -> None:
        if steps > 0:
            self.sim.simulator.state.run(steps * self.dt)

    def run_steps(self, k_start: int, k_end: int, between: Any, *, every_step: bool,
                  events: list[int], bar: Any) -> None:
        """One Brian2 ``run`` for the whole stretch; ``between`` runs in a
        ``NetworkOperation`` at the start of every step.

        Splitting the stretch into several ``run`` calls would lose spikes: at the
        end of a ``run`` Brian2's thresholder empties the spike space, and with the
        synapses-before-thresholds schedule the last step's spikes are delivered
        only in the first step of the next call.
        """
        due = set(events)

        def operation(t: Any) -> None:
            k = int(round(float(t / self.brian2.ms) / self.dt))
            if every_step or k in due:
                between(k)
            if k > k_start:
                bar.update(1)

        self._operation["function"] = operation
        try:
            self.advance(k_end - k_start)
        finally:
            self._operation["function"] = None
        self.kernel = k_end
        bar.update(1)
        between(k_end)

    def get_v(self, pop: Any) -> np.ndarray:
        return np.array(pop.brian2_group.variables["v"].get_value(), dtype=np.float64)

    def set_v(self, pop: Any, v_native: np.ndarray) -> None:
        # native (volt) values: a round trip through mV would round
        pop.brian2_group.variables["v"].get_value()[:] = v_native

    def fired(self) -> list[np.ndarray]:
        return [np.sort(np.asarray(ly.population.brian2_group.spikes, dtype=np.int64)) for ly in self._layers]

    def after_clear(self, pop: Any) -> None:
        """PyNN clears a Brian2 ``SpikeMonitor`` with ``resize(0)``, which leaves its
        spike count ``N``: the next spikes would be appended after ``N`` zeros
        (spikes at t = 0 on the next ``get_data``). Reset ``N`` and ``count`` too."""
        monitor = pop.recorder._devices.get("spikes")
        if monitor is not None:
            monitor.variables["N"].set_value(0)
            monitor.variables["count"].get_value()[:] = 0

    def write_rows(self, l: int, rows: np.ndarray, values_mv: np.ndarray) -> None:
        ly = self._layers[l]
        in_exc = ly.in_exc[rows]
        pos = ly.position[rows]
        for k, sel in enumerate((in_exc, ~in_exc)):
            if sel.any():
                self._weights[l][k][pos[sel]] = values_mv[sel] * 1e-3

    def version(self) -> str:
        return f"Brian2 {self.brian2.__version__}"


_BACKENDS = {"nest": _NestBackend, "brian2": _Brian2Backend}
#: simulator name -> id of the engine whose network the PyNN module currently holds
_OWNER: dict[str, int] = {}


# -------------------------------------------------------------------- engine
class PyNNEngine(SleepEngine):
    """The sleep network as a PyNN model on NEST or Brian2.

    Parameters
    ----------
    simulator: ``"nest"`` (pyNN.nest, NEST 3) or ``"brian2"`` (pyNN.brian2).
    plasticity: ``"exact"`` (default: SRC Hebbian rule applied between
        single simulator steps; same spikes and weights as the fast engine) or
        ``"frozen"`` (fixed weights, the simulator runs each ``run`` in a few
        calls).
    codegen: Brian2 only: ``"numpy"`` (default, no compiler needed) or
        ``"cython"``.
    threads: NEST only: ``local_num_threads`` (default 1; the exact mode's
        weight write-back assumes 1).
    dtype: only ``"float64"`` (the simulators compute in double precision).
    (``record_spikes``, ``progress``: see :class:`~snn.base.SleepEngine`.)

    After ``run``: :attr:`neo_block` holds the run's spikes as recorded by PyNN
    (one ``neo.Block``, same structure as :func:`snn.neo_export.to_neo`, times
    in ms shifted back to algorithm steps; without spike trains when
    ``record_spikes=False``); :attr:`populations` (input first) and
    :attr:`projections` (``[excitatory, inhibitory]`` per layer) expose the
    PyNN objects; :attr:`potentials` (mV) and :attr:`weights` the state.
    """

    name = "pynn"

    def __init__(self, *, simulator: str = "nest", plasticity: str = "exact", codegen: str = "numpy",
                 threads: int = 1, **options: Any) -> None:
        super().__init__(**options)
        if simulator not in SIMULATORS:
            raise ValueError(f"unknown PyNN simulator {simulator!r}; choose one of {SIMULATORS}")
        if plasticity not in PLASTICITY_MODES:
            raise ValueError(f"unknown plasticity mode {plasticity!r}; choose one of {PLASTICITY_MODES}")
        if self.dtype != np.float64:
            raise ValueError("PyNN engines simulate in double precision: use dtype='float64'")
        if codegen not in BRIAN2_CODEGENS:
            raise ValueError(f"unknown codegen {codegen!r}; choose one of {BRIAN2_CODEGENS}")
        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if plasticity == "exact" and int(threads) != 1:
            raise ValueError("plasticity='exact' needs threads=1")
        self.simulator = simulator
        self.plasticity = plasticity
        self.codegen = codegen
        self.threads = int(threads)
        self.name = f"pynn.{simulator}"
        self.neo_block: neo.Block | None = None
        self.populations: list[Any] = []
        self.projections: list[list[Any]] = []
        self._backend: _Backend | None = None

    # ---------------------------------------------------------------- build
    def _build(self, network: SleepNetwork) -> None:
        backend = _BACKENDS[self.simulator](network.dt_ms, {"codegen": self.codegen, "threads": self.threads})
        backend.setup()
        _OWNER[self.simulator] = id(self)
        self._backend = backend
        exact = self.plasticity == "exact"
        tau_m = network.tau_m_ms if math.isfinite(network.tau_m_ms) else TAU_M_NO_LEAK_MS
        names = network.layer_names
        with backend.active():
            source = backend.input_population(network.sizes[0])
            pops = [source]
            layers: list[_Layer] = []
            for l, w in enumerate(network.weights):
                pop = backend.layer_population(w.shape[0], tau_m, float(network.threshold[l]), names[l + 1])
                aw = network.alpha[l] * np.asarray(w, dtype=np.float64)   # (post, pre) mV
                in_exc = aw >= 0
                position = np.zeros(aw.shape, dtype=np.int64)
                prjs = []
                for receptor, mask in (("excitatory", in_exc), ("inhibitory", ~in_exc)):
                    post_i, pre_j = np.nonzero(mask)
                    order = np.lexsort((post_i, pre_j))               # presynaptic-major
                    pre_j, post_i = pre_j[order], post_i[order]
                    position[post_i, pre_j] = np.arange(pre_j.size)
                    pairs = PairsConnector(pre_j, post_i, aw[post_i, pre_j], network.dt_ms)
                    prj = backend.projection(pops[-1], pop, receptor, pairs,
                                             f"{names[l]}->{names[l + 1]} {receptor}")
                    prjs.append(prj)
                layers.append(_Layer(pop, prjs, in_exc, position))
                pops.append(pop)
            for pop in pops:
                pop.record("spikes")
            backend.finalize(layers, exact)
        self.populations = pops
        self.projections = [ly.projections for ly in layers]
        self._layers = layers
        self._w = [np.array(w, dtype=np.float64) for w in network.weights]
        self._alpha = network.alpha.astype(np.float64)
        self._v_saved = [np.zeros(n) for n in network.sizes[1:]]
        self._kernel = 0
        self.neo_block = None
        logger.info("%s: built %s (%s plasticity) in PyNN %s", self.name,
                    "-".join(map(str, network.sizes)), self.plasticity, backend.version())

    def _check_owner(self) -> None:
        if _OWNER.get(self.simulator) != id(self):
            raise RuntimeError(f"another pynn.{self.simulator} engine was built since this one: PyNN holds "
                               "one network per simulator and process; build this engine again")

    # ---------------------------------------------------------------- state
    @property
    def weights(self) -> list[np.ndarray]:
        """Current weights, ``(n_post, n_pre)`` per layer (copies). In exact mode the
        engine's float64 copy, which is also written into the simulator; in frozen
        mode the network's weights."""
        return [w.copy() for w in self._w]

    @property
    def potentials(self) -> list[np.ndarray]:
        """Membrane potentials (mV) after the last step of the last run, per layer."""
        b = self._backend
        return [v / b.v_per_mv for v in self._v_saved]

    def simulator_weights(self) -> list[np.ndarray]:
        """The weights as stored in the simulator, read back through PyNN's
        ``Projection.get`` (with :func:`projection_weights`' fix) and divided by
        ``alpha``: ``(n_post, n_pre)`` per layer. Slow for large networks (PyNN
        reads NEST's connections one by one)."""
        self._check_owner()
        out = []
        for l, (exc, inh) in enumerate(self.projections):
            with self._backend.active():
                a = np.nan_to_num(projection_weights(exc)) + np.nan_to_num(projection_weights(inh))
            out.append(a.T / self._alpha[l])
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
        t1 = time.perf_counter()
        records, block = self._collect(K0, N)
        timing["recording_s"] += time.perf_counter() - t1
        self.timing.update(timing)
        counts = np.stack([r.counts for r in records], axis=1).astype(np.int64)
        self.neo_block = block
        return SleepResult(
            weights=self.weights, counts=counts, totals=[r.totals() for r in records],
            spikes=records if self.record_spikes else None,
            layer_names=list(net.layer_names), dt_ms=dt,
        )

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
            if post.size == 0:
                continue
            pre = input_spikes.step(g) if l == 1 else prev[l - 1]
            W = self._w[l - 1]
            sub = W[post]
            f = weight_factor(sub, net.rule)
            on = np.zeros(W.shape[1], dtype=bool)
            on[pre] = True
            new = np.where(on[None, :], sub + net.inc * f, sub - net.dec * f)
            W[post] = new
            self._backend.write_rows(l - 1, post, self._alpha[l - 1] * new)

    def _collect(self, K0: int, N: int) -> tuple[list[SpikeRecord], neo.Block]:
        """Read PyNN's recording of this run, shift it back to algorithm steps."""
        b = self._backend
        net = self.network
        dt = net.dt_ms
        names = net.layer_names
        block = neo.Block(name="SRC sleep", engine=self.name, dt_ms=float(dt), steps=int(N),
                          layer_names=list(names), layer_sizes=[int(n) for n in net.sizes],
                          simulator=b.version(), plasticity=self.plasticity, recorded_by="PyNN",
                          layer_shift_steps=list(range(net.n_layers + 1)))
        seg = neo.Segment(name="sleep", index=0)
        block.segments.append(seg)
        t_stop = N * dt * pq.ms
        records = []
        for l, pop in enumerate(self.populations):
            with b.active():
                data = pop.get_data("spikes", clear=True)
                b.after_clear(pop)
            shift = K0 + 1 + l + b.stamp_offset           # recorded time / dt of algorithm step 0
            group = neo.Group(name=names[l], layer=names[l], layer_index=l, n_neurons=int(pop.size),
                              allowed_types=[neo.SpikeTrain])
            trains: dict[int, np.ndarray] = {}
            for st in data.segments[-1].spiketrains:
                i = int(st.annotations["source_index"])
                g = np.rint(np.asarray(st.rescale(pq.ms).magnitude) / dt).astype(np.int64) - shift
                trains[i] = g[(g >= 0) & (g < N)]
            all_i, all_g = [], []
            for i in range(pop.size):
                g = trains.get(i, np.zeros(0, np.int64))
                all_i.append(np.full(g.size, i, np.int64))
                all_g.append(g)
                if self.record_spikes:
                    st = neo.SpikeTrain(g * dt * pq.ms, t_start=0 * pq.ms, t_stop=t_stop, name=f"{names[l]}[{i}]",
                                        layer=names[l], layer_index=l, neuron=i,
                                        pynn_shift_ms=float(shift * dt))
                    seg.spiketrains.append(st)
                    group.add(st)
            if self.record_spikes:
                block.groups.append(group)
            gi = np.concatenate(all_i)
            gg = np.concatenate(all_g)
            o = np.lexsort((gi, gg))
            indptr = np.zeros(N + 1, dtype=np.int64)
            np.cumsum(np.bincount(gg, minlength=N), out=indptr[1:])
            records.append(SpikeRecord(int(pop.size), indptr, gi[o]))
        if self.record_spikes:
            block.check_relationships()
        return records, block

    def _empty_result(self) -> SleepResult:
        net = self.network
        records = [SpikeRecord(n, np.zeros(1, np.int64), np.zeros(0, np.int32)) for n in net.sizes]
        return SleepResult(weights=self.weights, counts=np.zeros((0, net.n_layers + 1), np.int64),
                           totals=[r.totals() for r in records], spikes=records if self.record_spikes else None,
                           layer_names=list(net.layer_names), dt_ms=net.dt_ms)


class PyNNNestEngine(PyNNEngine):
    """``pynn.nest``: :class:`PyNNEngine` on NEST (``simulator="nest"``)."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("simulator", "nest")
        if options["simulator"] != "nest":
            raise ValueError("pynn.nest runs on simulator='nest'")
        super().__init__(**options)


class PyNNBrian2Engine(PyNNEngine):
    """``pynn.brian2``: :class:`PyNNEngine` on Brian2 (``simulator="brian2"``)."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("simulator", "brian2")
        if options["simulator"] != "brian2":
            raise ValueError("pynn.brian2 runs on simulator='brian2'")
        super().__init__(**options)


__all__ = [
    "BRIAN2_SCHEDULE", "PLASTICITY_MODES", "SIMULATORS", "PairsConnector", "PyNNBrian2Engine", "PyNNEngine",
    "PyNNNestEngine", "brian2_classes", "nest_classes", "projection_weights", "quiet", "set_projection_weights",
]
