"""Warm-up of the test run's cache of compiled Brian2 code before ``make test``.

Every test process, the CLI subprocesses and the notebook kernels share one cache
(``$SLEEP_REPLAY_BRIAN2_CACHE``, which ``tests/conftest.py`` sets). On a fresh clone it is empty,
and the first Brian2 tests of the two pytest-xdist workers compile the same Cython extensions at
the same time: one compiles, the other waits on Brian2's lock of that extension.
``python -m tests._brian2_cache`` (``make test``) compiles the code of the tests' three-layer
random network in float64 and float32 in two processes at once instead, so that both cores
compile and no test waits (measured on fresh clones: 65 extensions in about 75 s; pytest then took
299 s instead of 397 s, and ``make test`` in all 435 s instead of 466 s).
"""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO, random_input, random_network  # and $SLEEP_REPLAY_BRIAN2_CACHE

DTYPES = ("float64", "float32")


def compile_network_code(dtype: str) -> None:
    """Build (and so compile) the tests' three-layer random network with the Brian2 engine's
    default Cython code generation in ``dtype``, and run it for three steps."""
    import snn

    snn.get_engine("brian2", dtype=dtype).build(random_network()).run(random_input(steps=3))


def main(argv: list[str]) -> int:
    """With a dtype: compile its code. Without: compile every dtype of :data:`DTYPES`, one process each."""
    if argv:
        compile_network_code(argv[0])
        return 0
    procs = [subprocess.Popen([sys.executable, "-m", "tests._brian2_cache", dtype], cwd=REPO) for dtype in DTYPES]
    return max(p.wait() for p in procs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
