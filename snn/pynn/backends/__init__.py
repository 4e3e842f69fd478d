"""PyNN simulator back ends of the PyNN engine, by simulator name."""
from __future__ import annotations

from .base import Backend, Layer
from .brian2 import BRIAN2_CODEGENS, BRIAN2_SCHEDULE, Brian2Backend
from .nest import NestBackend

#: simulator name -> back end class
BACKENDS: dict[str, type[Backend]] = {"nest": NestBackend, "brian2": Brian2Backend}

__all__ = ["BACKENDS", "BRIAN2_CODEGENS", "BRIAN2_SCHEDULE", "Backend", "Brian2Backend", "Layer", "NestBackend"]
