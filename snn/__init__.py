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
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import errors
from .errors import EngineOptionError, MissingExtraError, UnknownEngineError
from .extras import pip_command
from .base import SleepEngine
from .limits import activity_limit
from .layers import Conv2d, Dense, Pool2d
from .network import KERNEL_UPDATES, WEIGHT_RULES, SleepNetwork, hebbian_rows, weight_factor
from .spikes import InputSpikes, SleepResult, SpikeRecord, VoltageTrace



@dataclass(frozen=True)
class EngineEntry:
    """How a registered engine name is made: the class (``"module:Class"``, imported
    only when used), fixed options the name implies (as ``pynn.nest`` implies
    ``simulator="nest"``), and the ``pip`` extra that brings its simulator."""

    target: str
    fixed_options: Mapping[str, Any] = field(default_factory=dict)
    extra: str | None = None


#: engine name -> how to make it; aliases such as ``pynn.nest`` live here, not in subclasses
ENGINES: dict[str, EngineEntry] = {
    "fast": EngineEntry("snn.fast:FastEngine"),
    "dense": EngineEntry("snn.dense:DenseEngine"),
    "brian2": EngineEntry("snn.brian2:Brian2Engine", extra="brian2"),
    "pynn.nest": EngineEntry("snn.pynn:PyNNEngine", {"simulator": "nest"}, extra="pynn"),
    "pynn.brian2": EngineEntry("snn.pynn:PyNNEngine", {"simulator": "brian2"}, extra="pynn"),
    # the SRC rule inside NEST (extension module src_synapse, compiled once; docs/neuromorphic.md)
    "pynn.nest.native": EngineEntry("snn.pynn:PyNNEngine", {"simulator": "nest", "plasticity": "native"},
                                    extra="pynn"),
}


def available_engines() -> list[str]:
    """Names accepted by :func:`get_engine`."""
    return sorted(ENGINES)


def engine_class(name: str) -> type[SleepEngine]:
    """The class registered as ``name`` (imports its module).

    Raises :class:`~snn.errors.UnknownEngineError` for an unknown name and
    :class:`~snn.errors.MissingExtraError` naming the ``pip`` extra when the engine's
    simulator is not installed.
    """
    if name not in ENGINES:
        raise UnknownEngineError(f"unknown sleep engine {name!r}; available engines: {', '.join(available_engines())}")
    entry = ENGINES[name]
    module_name, cls_name = entry.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if entry.extra is None or isinstance(exc, MissingExtraError):
            raise
        raise MissingExtraError(
            f"engine {name!r} needs the {entry.extra!r} extra ({exc.name or exc} is not installed): "
            f"{pip_command(entry.extra)}"
        ) from exc
    return getattr(module, cls_name)


def get_engine(name: str, **options: Any) -> SleepEngine:
    """Instantiate the engine registered as ``name`` with ``options``.

    Options fixed by the name (e.g. ``simulator`` for ``pynn.nest``) may not be
    given again with another value (:class:`~snn.errors.EngineOptionError`).
    """
    cls = engine_class(name)
    fixed = dict(ENGINES[name].fixed_options)
    for key, value in fixed.items():
        if key in options and options[key] != value:
            raise EngineOptionError(f"engine {name!r} fixes {key}={value!r}; got {key}={options[key]!r}")
    return cls(**{**options, **fixed})


__all__ = [
    "activity_limit",
    "Conv2d",
    "Dense",
    "ENGINES",
    "EngineEntry",
    "engine_class",
    "errors",
    "InputSpikes",
    "KERNEL_UPDATES",
    "Pool2d",
    "SleepEngine",
    "SleepNetwork",
    "SleepResult",
    "SpikeRecord",
    "VoltageTrace",
    "WEIGHT_RULES",
    "available_engines",
    "get_engine",
    "hebbian_rows",
    "weight_factor",
]


def __getattr__(name: str):
    """``snn.export`` (files, NIR, standalone PyNN) is imported on first use: it needs h5py and nir."""
    if name == "export":
        return importlib.import_module(".export", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
