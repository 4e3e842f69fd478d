"""Shared helpers of the experiment/CLI tests: the command line in-process.

A subprocess ``python -m bridge.cli`` pays the import of torch, scipy and matplotlib
(5-10 CPU-s on this machine) on every call; :func:`run_cli` calls
:func:`bridge.cli.main` in the test's process instead and returns what a
``subprocess.run(..., capture_output=True, text=True)`` would: the exit code, stdout
and stderr (the library's warnings, e.g. "resuming ...", included, formatted as the
command line formats them). Tests about the process itself (exit codes of the
entry point, signals, a second process on a locked folder) keep a real subprocess.
"""
from __future__ import annotations

import contextlib
import io
import logging
import subprocess
from typing import Any


def run_cli(*args: Any) -> subprocess.CompletedProcess:
    """``sleep-replay *args`` in-process.

    Args:
        *args: command-line arguments (converted with ``str``).

    Returns:
        a CompletedProcess with ``returncode`` (argparse's exit 2 included), ``stdout`` and ``stderr``.
    """
    from bridge.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO if ("-v" in argv or "--verbose" in argv) else logging.WARNING)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(min(old_level, handler.level) if old_level else handler.level)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: bad flag (2), --help/--version (0)
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def run_main(capsys: Any, *argv: Any) -> tuple[int, str, str]:
    """``sleep-replay *argv`` in-process with pytest's ``capsys``: (exit code, stdout, stderr)."""
    from bridge.cli import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
