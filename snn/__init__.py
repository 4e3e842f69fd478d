"""Sleep engines: spiking simulation of the SRC sleep phase.

One API, interchangeable back ends chosen by name (as in PyNN)::

    import snn
    engine = snn.get_engine("fast", dtype="float64")
    engine.build(network)            # snn.SleepNetwork
    result = engine.run(input_spikes)  # snn.InputSpikes -> snn.SleepResult

The ``snn`` package knows nothing about training or PyTorch.
"""
from __future__ import annotations

import importlib

from .base import SleepEngine
from .network import WEIGHT_RULES, SleepNetwork, weight_factor
from .spikes import InputSpikes, SleepResult, SpikeRecord

#: engine name -> "module:class"; modules are imported only when used
ENGINES: dict[str, str] = {
    "fast": "snn.fast:FastEngine",
    "dense": "snn.dense:DenseEngine",
    "brian2": "snn.brian2_engine:Brian2Engine",
    "pynn.nest": "snn.pynn_engine:PyNNNestEngine",
    "pynn.brian2": "snn.pynn_engine:PyNNBrian2Engine",
}


def available_engines() -> list[str]:
    """Names accepted by :func:`get_engine`."""
    return sorted(ENGINES)


def get_engine(name: str, **options) -> SleepEngine:
    """Instantiate the engine registered as ``name`` with ``options``.

    Raises ``ValueError`` for an unknown name, listing the known ones.
    """
    if name not in ENGINES:
        raise ValueError(f"unknown sleep engine {name!r}; available engines: {', '.join(available_engines())}")
    module_name, cls_name = ENGINES[name].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(**options)


__all__ = [
    "ENGINES",
    "InputSpikes",
    "SleepEngine",
    "SleepNetwork",
    "SleepResult",
    "SpikeRecord",
    "WEIGHT_RULES",
    "available_engines",
    "get_engine",
    "weight_factor",
]
