"""Writing results safely: atomic files, normal permissions, valid JSON, no
silent overwrites, and one run per results folder at a time.

* :func:`atomic_write`: an interruption leaves the old file or the complete new
  one, never a partial file; the file gets the permissions of a normally created
  file (``0o666`` minus the umask), not the private mode of a temporary file.
* :func:`write_json`: strict JSON (``NaN``/``Infinity`` are refused, not written).
* :func:`archive_files`: earlier results are moved to ``archive/<timestamp>/``.
* :func:`results_lock`: a lock file held for a whole run, so two runs never
  write into the same folder at once.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import filelock

from snn.atomic_io import atomic_write as _atomic_write

from ..errors import ResultsDirError

logger = logging.getLogger(__name__)

#: name of the lock file inside a results folder
LOCK_FILE = ".lock"


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then move the file into place atomically
    (:func:`snn.atomic_io.atomic_write`, replacing an existing file).

    An interruption leaves either the old file or the complete new one, never a
    partial file. The file is given mode ``0o666 & ~umask``, as ``open()`` would.
    """
    return _atomic_write(path, write, overwrite=True)


def json_text(data: Any) -> str:
    """Strict JSON text of ``data`` (indent 2, trailing newline); ``ValueError``
    for NaN or infinite floats, which JSON cannot hold (write ``None`` instead)."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as strict JSON, atomically (see :func:`json_text`)."""
    text = json_text(data)
    return atomic_write(path, lambda p: p.write_text(text))


def read_json(path: str | os.PathLike) -> Any | None:
    """The JSON value in ``path``, or ``None`` if the file is missing or not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def results_dir(out_dir: str | os.PathLike) -> Path:
    """``out_dir`` as a path; an empty name is refused (it would mean the current folder)."""
    if out_dir is None or not str(out_dir).strip():
        raise ResultsDirError("the results folder (--out) is empty; name a folder, e.g. --out results/run")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ResultsDirError(f"results folder {out} exists and is not a folder")
    return out


def archive_files(out_dir: str | os.PathLike, names: list[str]) -> Path | None:
    """Move the existing files (or folders) ``names`` of ``out_dir`` to
    ``out_dir/archive/<timestamp>/`` and log it. Returns the archive folder, or
    ``None`` if there was nothing to move."""
    out = Path(out_dir)
    existing = [out / n for n in dict.fromkeys(names) if (out / n).exists()]
    if not existing:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    archive = out / "archive" / stamp
    n = 1
    while archive.exists():
        archive = out / "archive" / f"{stamp}-{n}"
        n += 1
    archive.mkdir(parents=True)
    for f in existing:
        shutil.move(str(f), archive / f.name)
    logger.warning("earlier results in %s moved to %s", out, archive)
    return archive


def prepare_output_dir(out_dir: str | os.PathLike, names: list[str]) -> Path:
    """Make ``out_dir`` ready for files ``names``: existing ones are archived
    (:func:`archive_files`), so a new run never silently replaces earlier results."""
    out = results_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    archive_files(out, names)
    return out


@contextlib.contextmanager
def results_lock(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold ``out_dir/.lock`` for the duration of a run (the folder is created).

    A second run on the same folder, in this or another process, gets
    :class:`~bridge.errors.ResultsDirError` at once instead of waiting or
    mixing its files with the first run's.
    """
    out = results_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsDirError(f"cannot create results folder {out}: {exc.strerror}") from exc
    lock = filelock.FileLock(str(out / LOCK_FILE), timeout=0, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ResultsDirError(f"results folder {out} is in use by another run (lock {out / LOCK_FILE} is held); "
                              "wait for that run to finish or choose another --out") from None
    except OSError as exc:
        raise ResultsDirError(f"cannot lock results folder {out}: {exc.strerror}") from exc
    try:
        yield out
    finally:
        lock.release()
