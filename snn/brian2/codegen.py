"""Brian2 code generation: targets, compilers, compile flags, preferences, cache directory.

Targets (:data:`CODEGENS`):

* ``"cython"`` (default) and ``"numpy"``: Brian2 runtime mode (:mod:`snn.brian2.runtime`).
  The Cython cache lives in ``<cache_dir>/cython-<flags hash>`` (:func:`cython_cache_dir`).
* ``"cpp_standalone"``: a C++ project in ``<cache_dir>/standalone/<key>`` compiled with
  ``make`` (:mod:`snn.brian2.standalone`).

``<cache_dir>`` is the engine's ``cache_dir`` option, else ``$SLEEP_REPLAY_BRIAN2_CACHE``
(:data:`CACHE_ENV`), else ``.cache/brian2`` under the current working directory (never
the home directory): :func:`default_cache_dir`.

Compiled arithmetic must round like the fast engine's, so Brian2's loop-invariant
rewriting is off and the compile flags drop ``-ffast-math`` and FMA contraction
(:data:`COMPILE_ARGS`). Brian2's global preferences are changed only inside
:func:`brian2_prefs` and restored afterwards.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shlex
import shutil
import sys
import sysconfig
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import EngineOptionError, ToolNotFoundError

#: warnings Brian2 2.9 triggers by using pyparsing's camelCase API (deprecated since pyparsing 3.3)
_NOISY_MODULES = r"(brian2|pyparsing)(\.|$)"


@contextmanager
def quiet_brian2() -> Iterator[None]:
    """Silence the DeprecationWarnings raised from Brian2's and pyparsing's own code (only those)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=_NOISY_MODULES)
        yield


@contextmanager
def keep_excepthook() -> Iterator[None]:
    """Undo the ``sys.excepthook`` that importing Brian2 installs: Brian2 would report
    every uncaught error of the user's program, Brian2's or not, as "Brian 2 encountered
    an unexpected error ... please report" with debug files in the temp folder. Errors
    keep Python's (or the user's own) reporting."""
    saved = sys.excepthook
    try:
        yield
    finally:
        sys.excepthook = saved


with quiet_brian2(), keep_excepthook():
    import brian2 as b2  # an ImportError here is what the registry reports as the missing "brian2" extra
    from brian2 import prefs

logger = logging.getLogger(__name__)

#: code generation targets accepted by :class:`~snn.brian2.Brian2Engine`
CODEGENS = ("cython", "numpy", "cpp_standalone")
#: environment variable naming the cache / build directory
CACHE_ENV = "SLEEP_REPLAY_BRIAN2_CACHE"

#: compile flags of cpp_standalone: Brian2's defaults without ``-ffast-math`` and with
#: FMA contraction off, so that compiled arithmetic rounds like the fast engine's
COMPILE_ARGS = ["-w", "-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-std=c++11"]
#: compile flags of the Cython runtime: the same at -O1, which compiles ~30 % faster
#: (the runtime per-step cost is Brian2's Python loop, not the compiled kernels)
CYTHON_COMPILE_ARGS = ["-O1" if a == "-O3" else a for a in COMPILE_ARGS]

#: programs each target needs on PATH ("cxx": the C++ compiler, see :func:`cxx_executable`)
REQUIRED_TOOLS = {"numpy": (), "cython": ("cxx",), "cpp_standalone": ("make", "cxx")}


def check_codegen(codegen: str, option: str = "codegen") -> str:
    """``codegen`` if it is one of :data:`CODEGENS`, else :class:`~snn.errors.EngineOptionError`."""
    if codegen not in CODEGENS:
        raise EngineOptionError(f"unknown {option} {codegen!r}; choose one of {CODEGENS}")
    return codegen


# ------------------------------------------------------------------ cache directory
def default_cache_dir() -> Path:
    """``$SLEEP_REPLAY_BRIAN2_CACHE`` or ``./.cache/brian2`` (relative to the working directory)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.cwd() / ".cache" / "brian2"


def cython_cache_dir(cache_dir: Path) -> Path:
    """``<cache_dir>/cython-<flags hash>``: Brian2 keys its Cython cache on the code
    only, not on the compile flags, so builds with other flags (e.g. Brian2's
    ``-ffast-math`` defaults) must never share this directory."""
    digest = hashlib.sha1(" ".join(CYTHON_COMPILE_ARGS).encode()).hexdigest()[:8]
    return Path(cache_dir) / f"cython-{digest}"


def standalone_dir(cache_dir: Path) -> Path:
    """``<cache_dir>/standalone``: parent of the cpp_standalone projects."""
    return Path(cache_dir) / "standalone"


# ------------------------------------------------------------------ compilers
def cxx_executable(codegen: str) -> str:
    """The C++ compiler program ``codegen`` compiles with: ``$CXX``, else (Cython only)
    the compiler Python builds extensions with, else ``g++``; ``make`` of
    cpp_standalone uses ``$CXX`` or ``g++``."""
    cxx = os.environ.get("CXX") or (sysconfig.get_config_var("CXX") if codegen == "cython" else None) or "g++"
    return shlex.split(cxx)[0] if cxx.strip() else "g++"


def compiler_problem(codegen: str) -> str | None:
    """Why ``codegen`` cannot be used here (missing programs), or ``None`` if it can.

    ``cython`` needs the C++ compiler (:func:`cxx_executable`); ``cpp_standalone``
    needs ``make`` and the C++ compiler; ``numpy`` needs nothing.
    """
    tools = REQUIRED_TOOLS[check_codegen(codegen)]
    programs = [cxx_executable(codegen) if tool == "cxx" else tool for tool in tools]
    missing = [repr(p) for p in programs if shutil.which(p) is None]
    if not missing:
        return None
    return f"{' and '.join(missing)} needed for Brian2's {codegen} code generation not found on PATH"


def choose_codegen(requested: str, fallback: str | None) -> str:
    """``requested`` if its programs are installed, else ``fallback`` (with a warning)
    when one was given; raises :class:`~snn.errors.ToolNotFoundError` otherwise."""
    problem = compiler_problem(requested)
    if problem is None:
        return requested
    if fallback is None:
        raise ToolNotFoundError(
            f"Brian2 codegen {requested!r} is not available: {problem}. Install a C++ "
            "compiler and make (e.g. apt-get install build-essential), or pass fallback='numpy' "
            "to run with Brian2's NumPy code generation instead."
        )
    fb_problem = compiler_problem(fallback)
    if fb_problem is not None:
        raise ToolNotFoundError(
            f"Brian2 codegen {requested!r} is not available ({problem}) and neither "
            f"is the fallback {fallback!r} ({fb_problem})"
        )
    logger.warning("Brian2 codegen %r is not available (%s); falling back to %r as requested",
                   requested, problem, fallback)
    return fallback


# ------------------------------------------------------------------ preferences
@contextmanager
def brian2_prefs(codegen: str, cache_dir: Path, dtype: np.dtype) -> Iterator[None]:
    """Set Brian2's global preferences for this engine (target, no loop-invariant
    rewriting, compile flags, Cython cache, float dtype, ``make -j<cores>``);
    restore the previous values afterwards."""
    wanted = {
        "codegen.target": codegen if codegen != "cpp_standalone" else "numpy",
        "codegen.loop_invariant_optimisations": False,
        "codegen.cpp.extra_compile_args_gcc": list(COMPILE_ARGS if codegen == "cpp_standalone"
                                                   else CYTHON_COMPILE_ARGS),
        "codegen.runtime.cython.cache_dir": str(cython_cache_dir(cache_dir)),
        "core.default_float_dtype": dtype.type,
        "devices.cpp_standalone.extra_make_args_unix": [f"-j{max(1, os.cpu_count() or 1)}"],
    }
    saved = {k: prefs[k] for k in wanted}
    try:
        for k, v in wanted.items():
            prefs[k] = v
        with quiet_brian2():
            yield
    finally:
        for k, v in saved.items():
            prefs[k] = v


__all__ = [
    "CACHE_ENV", "CODEGENS", "COMPILE_ARGS", "CYTHON_COMPILE_ARGS", "REQUIRED_TOOLS", "b2", "brian2_prefs",
    "check_codegen", "choose_codegen", "compiler_problem", "cxx_executable", "cython_cache_dir",
    "default_cache_dir", "quiet_brian2", "standalone_dir",
]
