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
(:mod:`snn.pynn.backends.brian2`).

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
  initial value for v" and recording ``v`` fails; ``NestIFCurrDelta``
  (a subclass, :func:`~snn.pynn.cells.nest_classes`) adds the map.
* NEST: ``Projection.get('weight')`` returns NEST's value times 1e-3 and
  ``Projection.set(weight=w)`` stores ``w * 1e3`` for ``IF_curr_delta`` (the
  nA/pA scaling is undone only when connecting); :func:`projection_weights` and
  :func:`set_projection_weights` correct it. The engine's own connector passes
  the weights to NEST unscaled.
* Brian2: ``setup(timestep=dt)`` sets only the network clock; PyNN's
  ``SpikeSourceArray`` uses Brian2's ``defaultclock`` (0.1 ms), so its spikes
  would live on another clock: ``Brian2SpikeSourceArray``
  (:func:`~snn.pynn.cells.brian2_classes`) puts the
  generator on the network clock (1 ms).
* Brian2: the default schedule tests the threshold *before* delivering the
  step's spikes (``v = decay * (v + input)`` at the next step) and resets after
  delivery; the engine uses ``['start', 'groups', 'synapses', 'thresholds',
  'resets', 'end']`` so that ``v = decay * v + input`` is tested in the same
  step. In that order the ``synapses`` slot delivers the spikes of the previous
  step's threshold, so the Brian2 ``Synapses.delay`` is set to 0: the schedule
  itself is the one-step delay of the PyNN projection.
* Brian2: PyNN's threshold is ``v > v_thresh``; SRC fires at ``v >= threshold``
  (``Brian2IFCurrDelta``).
* Building: PyNN's list/array connectors loop in Python over postsynaptic cells
  (12 s for 784-1200-1200-10 on NEST, far longer on Brian2);
  :class:`PairsConnector` makes all pairs of a projection in one simulator call.

Each PyNN simulator module holds one network per process: building a second
engine on the same simulator discards the first one's network (using the first
one afterwards raises :class:`~snn.errors.EngineStateError`, a ``RuntimeError``).
Bad options raise :class:`~snn.errors.EngineOptionError`; a missing PyNN or NEST
raises :class:`~snn.errors.MissingExtraError` naming the ``pynn`` extra.

Layout (as PyNN's ``pyNN/nest/``, one job per module)
-----------------------------------------------------
* :mod:`snn.pynn.quiet`: NEST banner off, the known noisy warnings ignored,
  quiet imports that name the ``pynn`` extra when PyNN or NEST is missing;
* :mod:`snn.pynn.cells`: PyNN cell and spike-source classes with the fixes above;
* :mod:`snn.pynn.connectors`: :class:`PairsConnector`, one simulator call per projection;
* :mod:`snn.pynn.weights`: reading/writing projection weights with PyNN 0.13's NEST scaling fixed;
* :mod:`snn.pynn.backends`: the back-end protocol (:class:`~snn.pynn.backends.base.Backend`,
  abstract) and its NEST and Brian2 implementations;
* :mod:`snn.pynn.engine`: :class:`PyNNEngine` (build, run, exact plasticity, recording).
"""
from __future__ import annotations

from .quiet import NOISY_WARNINGS, PYNN_EXTRA, import_quietly, quiet  # first: sets PYNEST_QUIET
from .backends import BRIAN2_CODEGENS, BRIAN2_SCHEDULE, BACKENDS, Backend
from .cells import brian2_classes, nest_classes
from .connectors import PairsConnector
from .engine import PLASTICITY_MODES, SIMULATORS, PyNNEngine
from .weights import projection_weights, set_projection_weights

__all__ = [
    "BACKENDS", "BRIAN2_CODEGENS", "BRIAN2_SCHEDULE", "Backend", "NOISY_WARNINGS", "PLASTICITY_MODES",
    "PYNN_EXTRA", "PairsConnector", "PyNNEngine", "SIMULATORS", "brian2_classes", "import_quietly",
    "nest_classes", "projection_weights", "quiet", "set_projection_weights",
]
