"""The test tiers' CPU-time guard of ``tests/conftest.py`` (issue 28): an unmarked test over the
thresholds is listed, and fails a quick-tier run (``-m "not slow"``); CPU time of a child process
that a shared fixture or an earlier test started is not charged to the test that reaps it."""
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

SUITE = '''
import os, subprocess, sys, time
import pytest

BURN = "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 1.0: pass"  # 1 CPU-s

def spin(seconds):
    t = time.process_time()
    while time.process_time() - t < seconds:
        pass

def test_spins():
    spin(0.6)

@pytest.mark.slow
def test_marked_slow_spins():
    spin(0.6)

@pytest.fixture(scope="session")
def busy_child():
    child = subprocess.Popen([sys.executable, "-c", BURN])
    yield child
    time.sleep(1.0)  # closing takes a while (as a Dask cluster's does): the cores x wall bound would allow 2 CPU-s
    child.wait()  # a session fixture's teardown: in the teardown of the run's last test

def test_starts_a_child(busy_child):
    os.waitid(os.P_PID, busy_child.pid, os.WEXITED | os.WNOWAIT)  # it has spent its 1 CPU-s; not reaped yet

LEFT_RUNNING = []

def test_leaves_a_child_unreaped():
    LEFT_RUNNING.append(subprocess.Popen([sys.executable, "-c", BURN]))
    os.waitid(os.P_PID, LEFT_RUNNING[0].pid, os.WEXITED | os.WNOWAIT)  # it has spent its 1 CPU-s

def test_reaps_it():
    LEFT_RUNNING.clear()  # the Popen object's finalizer reaps the child

def test_last_reaps_the_session_child():
    pass
'''


@pytest.fixture
def guarded(pytester, monkeypatch):
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow tier\n")
    tests = pytester.mkdir("tests")  # as in the repository: the conftest in a folder below the rootdir
    (tests / "conftest.py").write_text(CONFTEST.read_text())
    (tests / "test_guarded.py").write_text(SUITE)
    monkeypatch.setenv("SLEEP_REPLAY_QUICK_TEST_CPU_S", "0.3")
    monkeypatch.setenv("SLEEP_REPLAY_QUICK_TEST_FAIL_CPU_S", "0.5")
    return pytester


def flagged(result) -> list[str]:
    """The lines of the run's "tests not marked slow that are slow" list."""
    return [line for line in result.outlines if "CPU-s" in line and "::" in line]


@pytest.mark.slow  # two pytest runs in subprocesses: about 8 CPU-s
def test_quick_tier_fails_on_an_unmarked_cpu_heavy_test_only(guarded):
    quick = guarded.runpytest_subprocess("-p", "no:cacheprovider", "-m", "not slow")
    quick.assert_outcomes(passed=5, deselected=1)
    assert quick.ret == pytest.ExitCode.TESTS_FAILED
    listed = flagged(quick)
    assert len(listed) == 1 and listed[0].startswith("FAIL") and "test_spins" in listed[0], quick.outlines
    # the whole suite lists it without failing; the tests that reaped the children are not charged their CPU time
    full = guarded.runpytest_subprocess("-p", "no:cacheprovider")
    full.assert_outcomes(passed=6)
    assert full.ret == pytest.ExitCode.OK
    listed = flagged(full)
    assert len(listed) == 1 and listed[0].startswith("warn") and "test_spins" in listed[0], full.outlines
