"""Typed errors of the wake side (modelled on ``pyNN/errors.py``).

Every error a user can cause by bad input derives from :class:`AnnError` and from
the matching builtin, so callers that catch ``ValueError``/``TypeError`` keep working
while the CLI can tell user errors from bugs.
"""
from __future__ import annotations


class AnnError(Exception):
    """Base class of every error raised by the ``ann`` package on bad input."""


class DataError(AnnError, ValueError):
    """A data set, data file or data folder is missing, malformed or of the wrong shape."""


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file or folder the user named does not exist."""


class TrainingConfigError(AnnError, ValueError):
    """A training or model setting is out of range or of the wrong type."""


class InvalidWeightsError(AnnError, ValueError):
    """Weight arrays given to build a model that are not 2-D numeric matrices whose
    shapes chain (layer l's inputs = layer l-1's outputs); the message names the layer."""


class TrainingDivergedError(AnnError, FloatingPointError):
    """Training produced NaN or infinite values."""


class CorruptionError(AnnError, ValueError):
    """An image corruption of unknown kind or with a level out of range; the message names it."""


__all__ = ["AnnError", "CorruptionError", "DataError", "DataFileNotFoundError", "InvalidWeightsError", "TrainingConfigError", "TrainingDivergedError"]
