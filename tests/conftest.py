import os
from pathlib import Path

import numpy as np
import pytest

import snn

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = Path(os.environ.get("SRC_GOLDEN_DIR", REPO.parent / "shared" / "golden"))
GOLDEN_FILES = ["mnist_2tasks_small.npz", "mnist_5tasks_hot.npz"]


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
