import os
from pathlib import Path

import numpy as np
import pytest

import snn

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = Path(os.environ.get("SRC_GOLDEN_DIR", REPO.parent / "shared" / "golden"))
GOLDEN_FILES = ["mnist_2tasks_small.npz", "mnist_5tasks_hot.npz"]
# one cache of compiled Brian2 code for the whole run: every test process, the CLI subprocesses and
# the notebook kernels (which run in a temporary folder, where the default .cache/brian2 would be cold)
os.environ.setdefault("SLEEP_REPLAY_BRIAN2_CACHE", str(REPO / ".cache" / "brian2"))


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    # the reference traces are the contract: their absence is a failure, not a skip
    missing = [f for f in GOLDEN_FILES if not (GOLDEN_DIR / f).is_file()]
    assert not missing, f"golden traces {missing} not found in {GOLDEN_DIR} (set SRC_GOLDEN_DIR)"
    return GOLDEN_DIR


def random_network(sizes=(30, 20, 15, 5), seed=0, rule="reference", scale=0.3) -> snn.SleepNetwork:
    """A small network that spikes a lot, with weights straddling 0 so f(w) matters."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, scale, size=(n_out, n_in)) * (rng.random((n_out, n_in)) < 0.7)
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    weights = [w + rng.normal(0, 0.002, size=w.shape) for w in weights]  # some weights near 0
    return snn.SleepNetwork(weights=weights, alpha=[1.5, 2.0, 2.5][: len(weights)],
                            threshold=[1.0, 0.8, 0.6][: len(weights)], decay=0.99, inc=0.05, dec=0.01, rule=rule)


def random_input(n_inputs=30, steps=400, p=0.25, seed=1) -> snn.InputSpikes:
    rng = np.random.default_rng(seed)
    return snn.SpikeRecord.from_dense(rng.random((steps, n_inputs)) < p)


# ------------------------------------------------------------- compiled-code caches
def _warm_numba_caches() -> None:
    """Compile the fast engine's Numba kernels (dense and conv, float32 and float64) once, before
    any test: `cache=True` writes them beside the sources, so on a fresh clone the compilation
    (about 15 CPU-s) is paid here once instead of by whichever test first runs a conv network, and
    the xdist workers load the cached code."""
    rng = np.random.default_rng(0)
    conv = snn.Conv2d((1, 6, 6), 2, (3, 3), (1, 1), (1, 1))
    pool = snn.Pool2d(conv.out_shape, 2)
    dense = snn.Dense(pool.n_out, 3)
    weights = [rng.normal(0, 0.4, conv.weight_shape), pool.average_weights(), rng.normal(0, 0.4, dense.weight_shape)]
    conv_net = snn.SleepNetwork(weights, alpha=[1.5, 2.0, 2.0], threshold=[0.5, 0.5, 0.5], decay=0.99,
                                inc=0.05, dec=0.01, layers=[conv, pool, dense])
    for net in (conv_net, random_network()):
        spikes = snn.SpikeRecord.from_dense(rng.random((5, net.sizes[0])) < 0.3)
        for dtype in ("float32", "float64"):
            snn.get_engine("fast", dtype=dtype).build(net).run(spikes)


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist), not each worker
        _warm_numba_caches()
    config.pluginmanager.register(SharedFixtureTeardown(), "sleep-replay-shared-fixture-teardown")


# ------------------------------------------------------------- the test tiers
# `make test-quick` runs every test not marked `slow`. A test that is not marked but costs more
# than QUICK_TEST_CPU_S of CPU time (this process's and its subprocesses', setup and teardown
# included but for shared fixtures' teardown: CPU seconds depend far less on the machine's load
# than wall time) is listed at the
# end of the run; over QUICK_TEST_FAIL_CPU_S a quick-tier run (-m 'not slow') fails: mark it @pytest.mark.slow.
# The thresholds follow the quick tier's budget (issue 28: <= 3 min on 2 cores, about 360 worker-s of
# wall, about 250 CPU-s at the suite's wall/CPU ratio of 1.45): in the profile of the whole suite the
# ~750 unmarked tests under 3 CPU-s cost 144 CPU-s together, which leaves room for a few tests of 3-10
# CPU-s (listed, so they are seen) but not for one over 10 (a cold compile cache can cost that much).
QUICK_TEST_CPU_S = float(os.environ.get("SLEEP_REPLAY_QUICK_TEST_CPU_S", "3"))
QUICK_TEST_FAIL_CPU_S = float(os.environ.get("SLEEP_REPLAY_QUICK_TEST_FAIL_CPU_S", "10"))
_UNMARKED_SLOW: list[tuple[str, float, float]] = []  # (test, CPU s, wall s)
_WALL_S: dict[str, float] = {}
_CPU_START = pytest.StashKey[float]()
_SHARED_TEARDOWN_CPU = pytest.StashKey[float]()


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    item.stash[_CPU_START] = _cpu_s()
    yield


class SharedFixtureTeardown:
    """A module- or session-scoped fixture is torn down in the teardown of its last test: the CPU
    time of that (e.g. a shared Dask cluster's worker processes, counted when they are reaped) was
    spent for all the tests that used it and is charged to none (its setup is charged to the first).

    A plugin registered at configure: a conftest's hooks see only the fixtures of nodes under its
    folder, and the session's fixtures are finalized by the session node."""

    def __init__(self) -> None:
        self.last: float | None = None  # during a teardown: CPU reading at the last finalized fixture
        self.shared = 0.0

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        self.last, self.shared = _cpu_s(), 0.0
        yield
        item.stash[_SHARED_TEARDOWN_CPU] = self.shared
        self.last = None

    def pytest_fixture_post_finalizer(self, fixturedef, request):
        if self.last is not None:
            now = _cpu_s()
            if fixturedef.scope != "function":
                self.shared += now - self.last
            self.last = now


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    if call.when == "teardown" and _CPU_START in item.stash:
        cpu = _cpu_s() - item.stash[_CPU_START] - item.stash.get(_SHARED_TEARDOWN_CPU, 0.0)
        item.user_properties.append(("cpu_s", cpu))
    yield


def _attributable_cpu_s(cpu_s: float, wall_s: float) -> float:
    """A test's CPU seconds, at most what the machine's cores can give in its wall time: a child
    process's CPU time counts when the child is reaped, which may be in a later test (a child left
    running by one test is reaped by the next ``subprocess.Popen`` of the process)."""
    return min(cpu_s, wall_s * (os.cpu_count() or 1))


def pytest_runtest_logreport(report):
    """Runs where the reports arrive (also the controller of pytest-xdist)."""
    _WALL_S[report.nodeid] = _WALL_S.get(report.nodeid, 0.0) + report.duration
    cpu = dict(report.user_properties).get("cpu_s")
    if cpu is not None:
        cpu = _attributable_cpu_s(cpu, _WALL_S[report.nodeid])
    if report.when == "teardown" and cpu is not None and os.environ.get("SLEEP_REPLAY_TEST_CPU_LOG"):
        with open(os.environ["SLEEP_REPLAY_TEST_CPU_LOG"], "a") as log:  # a CPU-time profile of the run
            log.write(f"{cpu:.2f}\t{_WALL_S[report.nodeid]:.2f}\t{'slow' if 'slow' in report.keywords else '-'}"
                      f"\t{report.nodeid}\n")
    if report.when == "teardown" and cpu is not None and "slow" not in report.keywords and cpu > QUICK_TEST_CPU_S:
        _UNMARKED_SLOW.append((report.nodeid, cpu, _WALL_S[report.nodeid]))


@pytest.hookimpl(tryfirst=True)
def _quick_tier(config) -> bool:
    """True for the quick tier's run (``-m "not slow"``): only there an unmarked slow test fails the run."""
    return "not slow" in (config.getoption("markexpr", "") or "")


def pytest_sessionfinish(session, exitstatus):
    if _quick_tier(session.config) and any(cpu > QUICK_TEST_FAIL_CPU_S for _, cpu, _ in _UNMARKED_SLOW) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if not _UNMARKED_SLOW:
        return
    terminalreporter.section("tests not marked slow that are slow")
    for nodeid, cpu, wall in sorted(_UNMARKED_SLOW, key=lambda t: -t[1]):
        fails = _quick_tier(terminalreporter.config) and cpu > QUICK_TEST_FAIL_CPU_S
        verdict = "FAIL" if fails else "warn"
        terminalreporter.line(f"{verdict} {cpu:6.1f} CPU-s {wall:6.1f} s  {nodeid}")
    terminalreporter.line(f"tests over {QUICK_TEST_CPU_S:g} CPU-s belong in the slow tier (@pytest.mark.slow); "
                          f"over {QUICK_TEST_FAIL_CPU_S:g} CPU-s the quick tier (-m 'not slow') fails")
