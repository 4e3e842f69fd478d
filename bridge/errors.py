"""Typed errors of the bridge, and the set of user errors the CLI reports in one line.

The CLI prints one line (exit code 2) for any :data:`USER_ERRORS` and the full
traceback with ``-v``; any other exception type is a bug and is never hidden.
"""
from __future__ import annotations

from ann.errors import AnnError
from snn.errors import SnnError


class BridgeError(Exception):
    """Base class of every error raised by the ``bridge`` package on bad input."""


class ConfigError(BridgeError, ValueError):
    """A config file or config field is invalid; the message names the field."""


class ConfigFileError(ConfigError, FileNotFoundError):
    """A config file that does not exist or cannot be read."""


class ModelError(BridgeError, ValueError):
    """A PyTorch model the bridge cannot convert (the message names the operation)."""


class UnsupportedOperationError(ModelError, TypeError):
    """An operation in the model's forward (a layer type, a scale, an offset) that has
    no sleep-network counterpart; the message names it."""


class SleepDataError(BridgeError, ValueError):
    """Data given to sleep that is of the wrong shape, type or range (sleep needs
    intensities in [0, 1]); the message says what is expected."""


class SleepParamsError(ConfigError):
    """A sleep parameter out of range or of the wrong type."""


class ArgumentTypeError(BridgeError, TypeError):
    """A Python API argument of the wrong type (e.g. a dict where SleepParams is needed);
    the message names the argument."""


class TraceError(BridgeError, ValueError):
    """A conformance trace file that is missing, truncated or malformed (not a FAIL)."""


class ResultsDirError(BridgeError, RuntimeError):
    """A results folder that is locked by another run, unwritable, or holds other results."""


class AnalysisError(BridgeError, ValueError):
    """Analysis input that does not fit: shapes, unit or layer indices, data width."""


class MissingModelsError(AnalysisError, FileNotFoundError):
    """A results folder without the saved models an analysis needs (the message says
    which file is missing and how to make it)."""


class ClusterError(BridgeError, RuntimeError):
    """A Dask cluster that cannot run an experiment: unreachable scheduler, no workers,
    a worker without the package, the data or write access to the results folder."""


#: exception types the CLI reports as one-line user errors (exit code 2)
USER_ERRORS: tuple[type[BaseException], ...] = (AnnError, SnnError, BridgeError)

__all__ = [
    "AnalysisError", "ClusterError", "MissingModelsError",
    "ArgumentTypeError", "BridgeError", "ConfigError", "ConfigFileError", "ModelError", "ResultsDirError",
    "SleepDataError", "SleepParamsError", "TraceError", "USER_ERRORS", "UnsupportedOperationError",
]
