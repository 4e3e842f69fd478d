"""Loading ``srcmodule`` into NEST and reading its weights in bulk.

:func:`install` builds the module if needed (:mod:`snn.nestmodule.build`) and
loads it with ``nest.Install``; it must run after every ``nest.ResetKernel()``
(PyNN's ``setup()`` resets the kernel) and before any node exists.
:class:`WeightReader` reads every connection of a synapse model (source, target,
weight) through the module's C function ``srcnest_read_weights``: NEST's Python
API (``SynapseCollection.get("weight")``) builds a Python dict per connection,
about 10 to 20 us each (30 s or more for the 2.4 million synapses of a
784-1200-1200-10 network).
"""
from __future__ import annotations

import ctypes
import functools
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EngineStateError
from .build import build_module

#: the NEST synapse model the module registers (PyNN: ``sim.native_synapse_type(SYNAPSE_MODEL)``)
SYNAPSE_MODEL = "src_synapse"


def install(nest: Any, compiler: str | None = None) -> Path:
    """Build (once, cached) and load ``srcmodule`` into the running NEST kernel;
    returns the path of the module file. A no-op when the kernel has it already."""
    path = build_module(nest, compiler=compiler)
    if SYNAPSE_MODEL not in nest.synapse_models:
        nest.Install(str(path.with_suffix("")))
    return path


def synapse_parameters(alpha: float, inc: float, dec: float, w_scale: float) -> dict[str, float]:
    """The ``src_synapse`` parameters of one weight layer (``weight`` is given per
    connection): ``alpha`` (mV per unit weight), ``inc``/``dec`` (the layer's
    amplitudes) and ``w_scale`` (``f``'s scale; ``inf`` for the plain rule)."""
    return {"alpha": float(alpha), "inc": float(inc), "dec": float(dec), "w_scale": float(w_scale)}


@functools.lru_cache(maxsize=None)
def _library(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.srcnest_read_weights.restype = ctypes.c_long
    lib.srcnest_read_weights.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_void_p]
    lib.srcnest_last_error.restype = ctypes.c_char_p
    return lib


class WeightReader:
    """Bulk reading of the weights of one synapse model through the loaded module.

    path: the module file :func:`install` returned (the library NEST loaded).
    """

    def __init__(self, path: Path) -> None:
        self._lib = _library(str(path))

    def read(self, nest: Any, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sources, targets, weights)`` of every connection of ``model``: node ids
        (int64) and the weights as the model's ``get_status`` reports them (float64;
        for ``src_synapse`` with the pending post spikes replayed)."""
        defaults = nest.GetDefaults(model)
        n = int(defaults["num_connections"])
        src, tgt, w = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float64)
        got = self._lib.srcnest_read_weights(int(defaults["synapse_modelid"]), n, src.ctypes.data,
                                             tgt.ctypes.data, w.ctypes.data)
        if got != n:
            detail = self._lib.srcnest_last_error().decode(errors="replace") if got < -(1 << 40) else \
                f"{got} connections read, {n} expected"
            raise EngineStateError(f"reading the weights of NEST synapse model {model!r} failed: {detail}")
        return src, tgt, w


__all__ = ["SYNAPSE_MODEL", "WeightReader", "install", "synapse_parameters"]
