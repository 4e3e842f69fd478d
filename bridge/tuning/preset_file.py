"""Tuned sleep parameters as a preset file (TOML) with provenance.

Layout::

    [sleep]                 # every SleepParams field, exactly (floats round-trip)
    max_rate_hz = 231.2
    ...
    [provenance]            # how the values were found
    package_version = "0.1.0"
    validation_accuracy = 58.3
    trials = 100
    ...
    [provenance.search]     # the tuning config's tables as read

A run config names it with ``[sleep] preset = "path/to/preset.toml"`` (other
keys of that table override single fields); :meth:`SleepParams.from_file`
reads it too.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from snn.extras import require

from ..errors import ConfigError
from ..experiments.results_io import atomic_write
from ..params import SleepParams, read_config

tomli_w = require("tomli_w")

#: file name of the tuned preset a search writes into its output folder
PRESET_FILE = "preset.toml"
_HEADER = ("# Sleep parameters found by `sleep-replay tune` (validation split of the training data).\n"
           "# Use in a run config:  [sleep] preset = \"{path}\"\n")


def _toml_ready(value: Any) -> Any:
    """``value`` without ``None`` entries (TOML has no null) and with tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_ready(v) for v in value if v is not None]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_preset_file(path: str | os.PathLike, params: SleepParams, provenance: dict[str, Any]) -> Path:
    """Write ``params`` and ``provenance`` to ``path`` (atomically)."""
    doc = {"sleep": params.to_dict(), "provenance": _toml_ready(provenance)}
    text = _HEADER.format(path=Path(path).as_posix()) + tomli_w.dumps(doc)

    def write(tmp: Path) -> None:
        tmp.write_text(text)

    return atomic_write(path, write)


def read_preset_file(path: str | os.PathLike) -> tuple[SleepParams, dict[str, Any]]:
    """The :class:`SleepParams` and the provenance table of a preset file."""
    data = read_config(path)
    if "sleep" not in data:
        raise ConfigError(f"{path}: a preset file needs a [sleep] table")
    return SleepParams.from_dict(data["sleep"]), dict(data.get("provenance", {}))


__all__ = ["PRESET_FILE", "read_preset_file", "write_preset_file"]
