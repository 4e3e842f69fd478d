"""PyNN cell and spike-source classes with the fixes the SRC neuron needs.

Like ``pyNN/nest/cells.py`` and ``pyNN/brian2/cells.py``: one function per
simulator returns ``(pyNN simulator module, cell class, spike-source class)``,
importing the simulator quietly on first use (cached):

* NEST: PyNN 0.13's ``IF_curr_delta`` lacks the variable map ``v -> V_m``
  (:func:`nest_classes` adds it);
* Brian2: PyNN's ``IF_curr_delta`` fires at ``v > v_thresh`` where SRC fires at
  ``v >= threshold``, and its ``SpikeSourceArray`` runs on Brian2's 0.1 ms
  ``defaultclock`` instead of the network clock (:func:`brian2_classes` fixes both).

Membrane potentials and thresholds in mV.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .quiet import import_quietly, set_nest_verbosity


@functools.lru_cache(maxsize=None)
def nest_classes() -> tuple[Any, type, type]:
    """``(pyNN.nest, NestIFCurrDelta, SpikeSourceArray)``, importing NEST quietly."""
    nest = import_quietly("nest")
    sim = import_quietly("pyNN.nest")
    set_nest_verbosity(nest)

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
    """``(pyNN.brian2, Brian2IFCurrDelta, Brian2SpikeSourceArray)``, importing Brian2 quietly."""
    brian2 = import_quietly("brian2")
    sim = import_quietly("pyNN.brian2")
    b2sim = import_quietly("pyNN.brian2.simulator")
    b2cells = import_quietly("pyNN.brian2.cells")
    Sequence = import_quietly("pyNN.parameters").Sequence

    class SRCThresholdNeuronGroup(b2cells.BaseNeuronGroup):
        """PyNN's ``ThresholdNeuronGroup`` firing at ``v >= v_thresh`` (PyNN: ``>``),
        integrated with Brian2's ``exact`` method (stated, so Brian2 does not log
        its choice)."""

        def __init__(self, n: int, equations: Any, **parameters: Any) -> None:
            equations += """v_thresh : volt (constant)
                            v_reset  : volt (constant)"""
            b2cells.BaseNeuronGroup.__init__(self, n, equations, "v >= v_thresh", reset="v = v_reset",
                                             method="exact", **parameters)

    class ClockedSpikeGeneratorGroup(b2cells.SpikeGeneratorGroup):
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


__all__ = ["brian2_classes", "nest_classes"]
