"""Building the NEST extension module ``srcmodule`` once and caching it.

The module (``src_synapse.h``, ``srcmodule.cpp`` next to this file) is compiled
with the system's C++ compiler against the headers of the installed NEST (the
PyPI wheel ships them under ``site-packages/nest/include/nest``; its
``nest-config`` prints the wheel's build-time prefix, so the headers are found
from the ``nest`` package itself). The result lands in a user cache folder,

    <cache>/nest-module/<key>/srcmodule.so

where ``<cache>`` is ``$SLEEP_REPLAY_CACHE_DIR`` or the platform's user cache
folder (``platformdirs.user_cache_dir("sleep-replay")``, e.g.
``~/.cache/sleep-replay``) and ``<key>`` names the NEST version and a hash of
it, the flags and the module's sources: a new NEST or source builds a new
module, anything else reuses it (also on a machine without a compiler). A file
lock serializes the build, so two processes never compile into the same folder;
the second one waits and then uses the first one's module. The compiled file is
moved into place atomically, with ``build-info.json`` (compiler, its version,
the commands) beside it.

Needs (checked, each missing one raises :class:`~snn.errors.ToolNotFoundError`
naming what to install): a C++20 compiler (``$CXX`` or ``g++``), the Boost
headers and ``ltdl.h`` (NEST's headers include them; Debian/Ubuntu:
``apt-get install g++ libboost-dev libltdl-dev``; ``make test`` installs them).
A failing compile raises :class:`~snn.errors.NativeBuildError` with the
compiler's messages.

NEST's PyPI wheel is built with the old C++ string ABI (manylinux); the flag
``_GLIBCXX_USE_CXX11_ABI`` is read off NEST's kernel library so the module
matches it. The kernel's symbols are resolved when NEST loads the module
(PyNEST imports its kernel with ``RTLD_GLOBAL``), so nothing is linked.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import filelock

from ..errors import NativeBuildError, ToolNotFoundError

logger = logging.getLogger(__name__)

#: the module's name (``nest.Install`` takes the path without the suffix)
MODULE_NAME = "srcmodule"
#: the sources, next to this file
SOURCES = ("srcmodule.cpp", "src_synapse.h")
#: environment variable naming the cache folder (default: the user cache folder)
CACHE_ENV = "SLEEP_REPLAY_CACHE_DIR"
#: compiler flags besides the include folder and the ABI flag; -ffp-contract=off keeps
#: ``w + inc * f`` two roundings, as in NumPy; -fopenmp matches the kernel's inline code
CXXFLAGS = ("-std=c++20", "-O2", "-fPIC", "-fopenmp", "-DNDEBUG", "-ffp-contract=off")
#: seconds to wait for another process's build before giving up
LOCK_TIMEOUT_S = 1800.0
#: header a failing compile could not find -> what to install
MISSING_HEADERS = {
    "boost/": "the Boost C++ headers (Debian/Ubuntu: apt-get install libboost-dev; Fedora: dnf install "
              "boost-devel; conda: conda install boost-cpp)",
    "ltdl.h": "the libltdl header (Debian/Ubuntu: apt-get install libltdl-dev; Fedora: dnf install "
              "libtool-ltdl-devel; conda: conda install libtool)",
}
COMPILER_HINT = ("a C++20 compiler: Debian/Ubuntu: apt-get install g++; Fedora: dnf install gcc-c++; "
                 "conda: conda install gxx_linux-64; or set CXX to your compiler")

_SOURCE_DIR = Path(__file__).resolve().parent


def source_dir() -> Path:
    """Folder of the module's C++ sources (:data:`SOURCES`)."""
    return _SOURCE_DIR


def cache_root() -> Path:
    """Folder holding the built modules: ``$SLEEP_REPLAY_CACHE_DIR/nest-module`` or the
    user cache folder's ``nest-module``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser() / "nest-module"
    import platformdirs

    return Path(platformdirs.user_cache_dir("sleep-replay")) / "nest-module"


def find_compiler(compiler: str | None = None) -> str:
    """Full path of the C++ compiler: ``compiler``, else ``$CXX``, else ``g++``;
    :class:`ToolNotFoundError` naming what to install when there is none."""
    name = compiler or os.environ.get("CXX") or "g++"
    path = shutil.which(name)
    if path is None:
        raise ToolNotFoundError(f"building NEST's src_synapse needs a C++ compiler, and {name!r} was not found: "
                                f"install {COMPILER_HINT}")
    return path


def nest_include_dir(nest_module) -> Path:
    """NEST's header folder: ``<nest package>/include/nest`` (PyPI wheel), else the
    folder ``nest-config --includes`` names."""
    candidates = [Path(nest_module.__file__).resolve().parent / "include" / "nest"]
    config = shutil.which("nest-config")
    if config:
        out = subprocess.run([config, "--includes"], capture_output=True, text=True, check=False).stdout
        candidates += [Path(p[2:]) for p in out.split() if p.startswith("-I") and p.endswith("nest")]
    for folder in candidates:
        if (folder / "connection.h").is_file():
            return folder
    raise ToolNotFoundError("NEST's C++ headers were not found (looked in "
                            f"{', '.join(map(str, candidates))}): install nest-simulator 3.10 from PyPI "
                            "(pip install \"sleep-replay[pynn]\"), which ships them, or a NEST built with "
                            "its development files")


def cxx11_abi(nest_module) -> int:
    """``_GLIBCXX_USE_CXX11_ABI`` of NEST's kernel library (0: the old string ABI of
    manylinux wheels), read off the mangled name of ``ModuleManager::install``."""
    folder = Path(nest_module.__file__).resolve().parent
    libs = sorted(folder.glob("nestkernel_api*.so")) + sorted(folder.glob("pynestkernel*.so"))
    for lib in libs:
        data = lib.read_bytes()
        if b"_ZN4nest13ModuleManager7installERKNSt7__cxx11" in data:
            return 1
        if b"_ZN4nest13ModuleManager7installERKSs" in data:
            return 0
    return 1  # a NEST built on this machine uses the compiler's default, the new ABI


def compiler_version(cxx: str) -> str:
    """First line of ``cxx --version``."""
    out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "unknown"


def build_key(nest_version: str, flags: list[str]) -> str:
    """Cache key: the NEST version and a hash of it, the flags and the sources."""
    h = hashlib.sha256()
    h.update(json.dumps({"nest": nest_version, "flags": flags}).encode())
    for name in SOURCES:
        h.update((_SOURCE_DIR / name).read_bytes())
    return f"nest{nest_version}-{h.hexdigest()[:16]}"


def compile_command(cxx: str, include_dir: Path, abi: int, source: Path, obj: Path) -> list[str]:
    """The compile step (``-c``); the link step is ``[cxx, "-shared", obj, "-o", so]``."""
    return [cxx, *CXXFLAGS, f"-D_GLIBCXX_USE_CXX11_ABI={abi}", "-I", str(include_dir), "-c", str(source),
            "-o", str(obj)]


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return
    err = proc.stderr or proc.stdout
    for header in re.findall(r"fatal error: ([^:\s]+): No such file or directory", err):
        for prefix, hint in MISSING_HEADERS.items():
            if header.startswith(prefix):
                raise ToolNotFoundError(f"building NEST's src_synapse needs {header}, which was not found: "
                                        f"install {hint}")
    tail = "\n".join(err.strip().splitlines()[-25:])
    raise NativeBuildError(f"{what} of NEST's src_synapse failed (exit {proc.returncode}):\n  {' '.join(cmd)}\n"
                           f"{tail}")


def build_module(nest_module=None, *, compiler: str | None = None, force: bool = False) -> Path:
    """Path of the compiled ``srcmodule.so`` for this NEST, building it if needed.

    nest_module: the imported ``nest`` package (imported here when ``None``).
    compiler: C++ compiler (default ``$CXX`` or ``g++``).
    force: rebuild even when a cached module exists.
    """
    if nest_module is None:
        import nest as nest_module
    abi = cxx11_abi(nest_module)
    version = str(getattr(nest_module, "__version__", "unknown"))
    flags = [*CXXFLAGS, f"-D_GLIBCXX_USE_CXX11_ABI={abi}"]
    key = build_key(version, flags)
    root = cache_root()
    target = root / key / f"{MODULE_NAME}.so"
    if target.is_file() and not force:
        return target
    cxx = find_compiler(compiler)
    include_dir = nest_include_dir(nest_module)
    root.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(root / f"{key}.lock"), timeout=LOCK_TIMEOUT_S):
        if target.is_file() and not force:  # built by another process meanwhile
            return target
        logger.warning("building NEST's src_synapse module once for NEST %s with %s (about 20 s to a few "
                       "minutes); cached in %s", version, cxx, target.parent)
        with tempfile.TemporaryDirectory(dir=root, prefix=f".{key}-") as tmp:
            obj, so = Path(tmp) / f"{MODULE_NAME}.o", Path(tmp) / f"{MODULE_NAME}.so"
            commands = [compile_command(cxx, include_dir, abi, _SOURCE_DIR / "srcmodule.cpp", obj),
                        [cxx, "-shared", str(obj), "-o", str(so)]]
            _run(commands[0], "compiling")
            _run(commands[1], "linking")
            target.parent.mkdir(exist_ok=True)
            info = {"nest": version, "compiler": cxx, "compiler_version": compiler_version(cxx), "commands": commands}
            (target.parent / "build-info.json").write_text(json.dumps(info, indent=1))
            os.replace(so, target)
    return target


__all__ = ["CACHE_ENV", "CXXFLAGS", "MODULE_NAME", "SOURCES", "build_key", "source_dir", "build_module", "cache_root",
           "compile_command", "compiler_version", "cxx11_abi", "find_compiler", "nest_include_dir"]
