"""Taking the sleep network elsewhere: files, NIR, standalone PyNN models.

* :mod:`snn.export.files`: portable, versioned HDF5 files for a
  :class:`~snn.network.SleepNetwork`, :class:`~snn.spikes.InputSpikes` and a
  :class:`~snn.spikes.SleepResult` (``save_network`` / ``load_network``, ...).
* :mod:`snn.export.nir`: the frozen network as a ``nir.NIRGraph`` (``to_nir``,
  ``from_nir``, ``write_nir``, ``read_nir``); convolution and pooling layers through
  :mod:`snn.export.nir_conv` (``Conv2d``, pooling, ``Flatten`` nodes).
* :mod:`snn.export.pynn_script`: the frozen network as a data file plus a PyNN
  script that runs without this package (``write_pynn_model``).

See ``docs/neuromorphic.md`` for what carries over and what does not. No PyTorch here.
"""
from __future__ import annotations

from .files import (
    FORMAT_NAME, FORMAT_VERSION, load_network, load_result, load_spikes, save_network, save_result, save_spikes,
)
from .nir import NIR_TARGETS, SNNTORCH_DT, from_nir, read_nir, to_nir, write_nir

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "NIR_TARGETS", "SNNTORCH_DT", "from_nir", "load_network", "load_result", "load_spikes",
    "read_nir", "save_network", "save_result", "save_spikes", "to_nir", "write_nir",
]
