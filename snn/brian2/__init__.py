"""Brian2 engine: the SRC sleep phase as a Brian2 spiking network simulation.

The sleep network of SRC_SPEC.md section 4 written as a Brian2 model that can be
inspected, extended and recorded from like any other Brian2 network (one
``NeuronGroup`` per layer, ``Synapses`` whose ``on_pre`` delivers the weights and whose
``on_post`` applies the SRC Hebbian rule, monitors), giving the same spikes as
:mod:`snn.fast`::

    engine = snn.get_engine("brian2", codegen="cython")   # or Brian2Engine(...)
    engine.build(network)
    result = engine.run(input_spikes)

Modules, one job each:

* :mod:`~snn.brian2.equations`: the model as Brian2 strings next to the paper's math,
  and the schedule (slot and order of every object within a step);
* :mod:`~snn.brian2.codegen`: code generation targets, compiler detection, compile
  flags, Brian2 preferences (set and restored), the cache directory policy
  (``$SLEEP_REPLAY_BRIAN2_CACHE``);
* :mod:`~snn.brian2.objects`: the Brian2 groups, synapses and monitors of one network,
  and reading/writing their state;
* :mod:`~snn.brian2.monitors`: what is recorded, and the monitors' contents as
  :class:`~snn.spikes.SpikeRecord`\\ s;
* :mod:`~snn.brian2.runtime`: cython/numpy runtime network, alive from build to last run;
* :mod:`~snn.brian2.standalone`: cpp_standalone project per shape, rule and monitors;
* :mod:`~snn.brian2.conv`: convolution layers, unrolled into synapses tied to one shared
  kernel that a ``NetworkOperation`` updates between steps (runtime codegen);
* :mod:`~snn.brian2.engine`: :class:`Brian2Engine`, the :class:`~snn.base.SleepEngine`.

Importing this package imports ``brian2``; without it the ``ImportError`` propagates
(``snn.get_engine("brian2")`` turns it into :class:`~snn.errors.MissingExtraError`).
"""
from __future__ import annotations

from ..spikes import VoltageTrace
from .codegen import (
    CACHE_ENV,
    CODEGENS,
    COMPILE_ARGS,
    CYTHON_COMPILE_ARGS,
    compiler_problem,
    cython_cache_dir,
    default_cache_dir,
)
from .engine import Brian2Engine

__all__ = [
    "Brian2Engine", "CACHE_ENV", "CODEGENS", "COMPILE_ARGS", "CYTHON_COMPILE_ARGS", "VoltageTrace",
    "compiler_problem", "cython_cache_dir", "default_cache_dir",
]
