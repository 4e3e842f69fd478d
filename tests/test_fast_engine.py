"""The fast engine's own option, and validation of the data it is given.

What every engine must do (spikes equal to the dense reference, runs in pieces,
golden traces, bad input) is checked once for all engines in
``test_engine_contract.py``.
"""
import numpy as np
import pytest

import snn


def test_chunk_steps_must_be_positive():
    """The fast engine's own option; its runs in chunks are in the engine contract."""
    with pytest.raises(ValueError, match="chunk_steps must be >= 1, got 0"):
        snn.get_engine("fast", chunk_steps=0)


@pytest.mark.parametrize("change, message", [
    (dict(weights=[np.ones((3, 4)), np.ones((2, 5))]), "shape mismatch"),
    (dict(weights=[np.full((3, 4), np.nan)]), "NaN"),
    (dict(alpha=[1.0, 2.0]), "alpha must have one value per layer"),
    (dict(decay=1.5), "decay"),
    (dict(inc=-0.1), "inc"),
    (dict(rule="stdp"), "unknown weight rule"),
])
def test_sleep_network_validation(change, message):
    kwargs = dict(weights=[np.ones((3, 4))], alpha=[1.0], threshold=[1.0])
    kwargs.update(change)
    if len(kwargs["weights"]) == 2 and "alpha" not in change:
        kwargs.update(alpha=[1.0, 1.0], threshold=[1.0, 1.0])
    with pytest.raises(ValueError, match=message):
        snn.SleepNetwork(**kwargs)


def test_spike_record_validation():
    with pytest.raises(ValueError, match="indices must lie"):
        snn.SpikeRecord(3, [0, 1], [5])
    with pytest.raises(ValueError, match="non-decreasing"):
        snn.SpikeRecord(3, [0, 2], [1])
