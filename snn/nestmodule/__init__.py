"""SRC plasticity inside NEST: the ``src_synapse`` extension module.

``src_synapse`` (C++, ``src_synapse.h``) applies the SRC Hebbian rule of
SRC_SPEC.md section 4 inside NEST, event-driven: a NEST synapse only runs when its
presynaptic neuron fires, so the postsynaptic spikes archived by the target
neuron since the last presynaptic spike are replayed in order when the next one
arrives (depression ``dec * f(w)`` for each, potentiation ``inc * f(w)`` when the
previous presynaptic spike arrived in the very step the post neuron fired), and
only then is ``alpha * W`` transmitted. Reading a weight replays the pending
ones (the flush). Exact with a delay of one step; see ``docs/neuromorphic.md``.

* :mod:`snn.nestmodule.build`: compiling the module once per NEST version and
  compiler, cached in the user cache folder, under a file lock;
* :mod:`snn.nestmodule.module`: :func:`install` (build and ``nest.Install``),
  :class:`WeightReader` (bulk weight reading through the module).

NESTML was not used: its generated synapses replay the post spikes of the window
``(t_last - d, t_pre - d]`` (``d`` the delay, taken as dendritic), so the post spike
of the step just before a pre spike arrives is applied only after that spike was
transmitted, and a generated synapse has no hook that replays pending spikes when
its weight is read.
"""
from __future__ import annotations

from .build import CACHE_ENV, MODULE_NAME, build_module, cache_root
from .module import SYNAPSE_MODEL, WeightReader, install, synapse_parameters

__all__ = ["CACHE_ENV", "MODULE_NAME", "SYNAPSE_MODEL", "WeightReader", "build_module", "cache_root", "install",
           "synapse_parameters"]
