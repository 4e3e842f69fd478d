"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``.

The one implementation for the whole package: the export formats (``snn.export``)
and the results folders of the experiment harness (``bridge.experiments.results_io``)
both use it (``snn`` may not import ``bridge``; the bridge may import ``snn``).
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Callable

from .errors import OutputExistsError, OutputPathError, OutputWriteError

#: errno values of a write that failed for want of room or permission (a full disk, a quota,
#: a read-only file system): reported as :class:`~snn.errors.OutputWriteError` naming the file
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM})


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
    false, :class:`~snn.errors.OutputPathError` when ``path`` is a folder, and
    :class:`~snn.errors.OutputWriteError` (an ``OSError``) naming ``path`` when the disk
    is full or not writable (:data:`WRITE_ERRNOS`).
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path} is a folder; give the path of a file to write")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True to replace it")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
            raise OutputWriteError(f"cannot write {path}: {exc.strerror} (the earlier file, if any, is "
                                   "unchanged)") from exc
        raise
    return path
