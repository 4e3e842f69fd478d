"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``.

The one implementation for the whole package: the export formats (``snn.export``)
and the results folders of the experiment harness (``bridge.experiments.results_io``)
both use it (``snn`` may not import ``bridge``; the bridge may import ``snn``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from .errors import OutputExistsError


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], *, overwrite: bool = False) -> Path:
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s folder, then move it
    into place with ``os.replace``.

    An interruption leaves either no file (or the old one) or the complete new one,
    never a partial file. The new file gets the usual permissions (``0o666`` less the
    umask; ``mkstemp`` alone would make it private). Raises
    :class:`~snn.errors.OutputExistsError` when ``path`` exists and ``overwrite`` is
    false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
