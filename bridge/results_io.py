"""Writing results safely: atomic files and no silent overwrites."""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

logger = logging.getLogger(__name__)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then move the file into place atomically.

    An interruption leaves either the old file or the complete new one, never a
    partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, data: Any) -> Path:
    return atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


def prepare_output_dir(out_dir: str | os.PathLike, names: list[str]) -> Path:
    """Make ``out_dir`` ready for files ``names``.

    Existing result files (or folders) among ``names`` are moved to
    ``out_dir/archive/<timestamp>/`` and logged, so a new run never silently
    replaces earlier results.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = [out / n for n in names if (out / n).exists()]
    if existing:
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
    return out
