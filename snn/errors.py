"""Typed errors of the sleep engines (modelled on ``pyNN/errors.py``).

Every error a user can cause by bad input derives from :class:`SnnError` and from
the matching builtin (``ValueError``, ``TypeError``, ``ImportError``), so callers
that catch the builtin keep working while the CLI can tell user errors from bugs.
"""
from __future__ import annotations


class SnnError(Exception):
    """Base class of every error raised by the ``snn`` package on bad input."""


class InvalidNetworkError(SnnError, ValueError):
    """A :class:`~snn.network.SleepNetwork` field is out of range or of the wrong shape."""


class PlasticConvError(InvalidNetworkError):
    """A convolution's shared kernel would learn in an engine that cannot tie weights
    (the PyNN engines: every PyNN synapse holds its own weight)."""


class InvalidSpikesError(SnnError, ValueError):
    """Spike data (CSR arrays, spike times) is malformed or does not fit the network."""


class UnknownEngineError(SnnError, ValueError):
    """An engine name that is not registered."""


class EngineOptionError(SnnError, ValueError):
    """An engine option is unknown, out of range, or cannot be honoured by this engine."""


class EngineStateError(SnnError, RuntimeError):
    """An engine method called in the wrong order (e.g. ``run`` before ``build``)."""


class MissingExtraError(SnnError, ImportError):
    """An optional dependency (a simulator) is not installed; the message names the
    ``pip install "sleep-replay[EXTRA]"`` extra that brings it."""


class SpikeFileError(SnnError, ValueError):
    """A spike or network file is missing, truncated, of another format version, or of
    the wrong kind."""


class NeuronSelectionError(SnnError, ValueError):
    """A layer name or neuron index the network does not have (recording requests,
    subsets for export or analysis)."""


class OutputExistsError(SnnError, FileExistsError):
    """A file would be overwritten although ``overwrite=False`` (the default)."""


class OutputPathError(SnnError, ValueError):
    """An output path of the wrong kind: a folder where a file is written, a file where
    a folder of files is written."""


class OutputWriteError(SnnError, OSError):
    """A file could not be written: the disk is full, a quota is reached, or the file
    system is read-only or not writable; the message names the file."""


class ToolNotFoundError(SnnError, RuntimeError):
    """A program an engine option needs (a C++ compiler, ``make``) is not on PATH; the
    message names it and how to fall back."""


class NativeBuildError(SnnError, RuntimeError):
    """Compiling a simulator extension (NEST's ``src_synapse`` module) failed; the
    message holds the command and the compiler's messages."""


__all__ = [
    "ActivityLimitError", "EngineOptionError", "EngineStateError", "InvalidNetworkError", "InvalidSpikesError",
    "MissingExtraError", "NativeBuildError", "NeuronSelectionError", "OutputExistsError", "OutputPathError",
    "OutputWriteError", "PlasticConvError", "SnnError", "SpikeFileError", "ToolNotFoundError", "UnknownEngineError", "WrongTypeError",
]


class ActivityLimitError(SnnError, RuntimeError):
    """A sleep's network fired more spikes per step than the limit set with
    :func:`snn.activity_limit` (runaway activity under extreme parameters)."""


class WrongTypeError(SnnError, TypeError):
    """An argument of the wrong type (e.g. a dict where a SleepNetwork is needed)."""
