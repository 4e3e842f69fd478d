"""Shared expensive fixtures of the simulator and cluster tests (issue #28: a fast test loop).

``dask_scheduler``: one local Dask cluster (two worker processes on loopback, one thread
each) per test session (per pytest-xdist worker), for the tests whose subject is what runs
on Dask workers, not how a cluster starts or fails (``test_distributed.py`` starts its own).
Its workers log at WARNING level, so a test can read their logs (``Client.get_worker_logs``).

Use: ``from ._sim_fixtures import dask_scheduler  # noqa: F401`` in the test module.
"""
from __future__ import annotations

import logging
from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[object]:
    """A ``distributed.LocalCluster`` of 2 worker processes x 1 thread, as ``workers=2`` makes."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       host="127.0.0.1", silence_logs=logging.WARNING)
    with cluster:
        yield cluster


@pytest.fixture
def dask_scheduler(dask_cluster) -> str:
    """The address of the session's cluster (``scheduler=...`` of the Dask runs)."""
    return dask_cluster.scheduler_address


def worker_log_messages(address: str) -> list[str]:
    """Every log message the cluster's workers have kept (their recent WARNING and above)."""
    from distributed import Client

    with Client(address) as client:
        return [msg for logs in client.get_worker_logs().values() for _, msg in logs]
