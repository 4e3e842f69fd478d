"""Importing and driving NEST, PyNN and Brian2 without their noise.

NEST prints a banner on import unless ``PYNEST_QUIET`` is set (done when this
module is imported, so import :mod:`snn.pynn` before anything imports ``nest``).
PyNN 0.13 with NEST 3.10 and Brian2 with a recent pyparsing emit a handful of
warnings that concern their own code, not the user's model; :func:`quiet`
ignores exactly those (:data:`NOISY_WARNINGS`: message pattern, category and
the module that warns), nothing else, and only while it is active.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from types import ModuleType
from typing import Any, Iterator

from ..extras import require

# NEST prints its banner on import unless told otherwise (must precede `import nest`)
os.environ.setdefault("PYNEST_QUIET", "1")

#: the ``pip`` extra that brings PyNN and NEST
PYNN_EXTRA = "pynn"


def _pyparsing_deprecation() -> type[Warning]:
    """pyparsing >= 3.3 warns with its own class (a UserWarning); older ones with DeprecationWarning."""
    try:
        return importlib.import_module("pyparsing").PyparsingDeprecationWarning
    except (ImportError, AttributeError):
        return DeprecationWarning


#: ``(message regex, category, module regex)`` of each warning :func:`quiet` ignores
NOISY_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # PyNN cannot build its NEST extensions: the PyPI wheel of NEST ships no
    # nest-config (the extensions are not needed here)
    (r"Cannot find nest-config", UserWarning, r"pyNN\.nest\."),
    # PyNN's setup(verbosity=...) calls nest.set_verbosity, deprecated in NEST 3.10
    (r"\s*Provided for backward compatibility only", UserWarning, r"nest\."),
    # PyNN 0.13 calls nest.GetStatus / nest.SetStatus, deprecated in NEST 3.10
    (r"\s*(Get|Set)Status\(\) is deprecated", UserWarning, r"nest\."),
    # Brian2's parsers use pyparsing's camelCase names ('setResultsName', 'parseString', ...)
    (r"'\w+' (argument is )?deprecated", _pyparsing_deprecation(), r"(brian2|pyparsing)\."),
)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Ignore :data:`NOISY_WARNINGS` (and only those) while the block runs."""
    with warnings.catch_warnings():
        for message, category, module in NOISY_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
        yield


def import_quietly(name: str) -> ModuleType:
    """Import module ``name`` (PyNN, NEST, Brian2) inside :func:`quiet`.

    Raises :class:`~snn.errors.MissingExtraError` naming the ``pynn`` extra when
    the module (or something it needs) is not installed.
    """
    with quiet():
        return require(name, PYNN_EXTRA, what=f"the PyNN engines ({name})")


def set_nest_verbosity(nest: Any) -> None:
    """Let NEST report errors only (NEST 3.10 API, the deprecated call before)."""
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:  # pragma: no cover - NEST < 3.10
        with quiet():
            nest.set_verbosity("M_ERROR")


__all__ = ["NOISY_WARNINGS", "PYNN_EXTRA", "import_quietly", "quiet", "set_nest_verbosity"]
