"""snn.activity_limit: a sleep whose network activity runs away stops with a typed error."""
import numpy as np
import pytest

import snn
from snn.errors import ActivityLimitError, EngineOptionError

from .conftest import random_input, random_network


def network_rate(engine: str) -> float:
    """Mean spikes per step of the network layers (not the input) over the whole run."""
    result = snn.get_engine(engine).build(random_network()).run(random_input(steps=400))
    return float(result.counts[:, 1:].sum()) / result.counts.shape[0]


@pytest.mark.parametrize("engine", ["fast", "dense"])
def test_limit_below_the_activity_stops_the_sleep(engine):
    rate = network_rate(engine)
    assert rate > 1.0  # the test network is busy
    with snn.activity_limit(max_spikes_per_step=rate / 2):
        with pytest.raises(ActivityLimitError, match=r"spikes per step over steps 0-.*activity limit"):
            snn.get_engine(engine).build(random_network()).run(random_input(steps=400))
    # above the activity, or outside the block: the run is untouched
    with snn.activity_limit(max_spikes_per_step=rate * 2):
        assert network_rate(engine) == rate
    assert snn.limits.current_limit() is None


def test_fast_engine_stops_at_the_first_chunk_above_the_limit():
    """The fast engine checks after every chunk: it stops there, on every machine alike."""
    engine = snn.get_engine("fast", chunk_steps=100).build(random_network())
    quiet = snn.SpikeRecord.from_dense(np.zeros((300, 30), dtype=bool))
    busy = random_input(steps=300)
    both = snn.SpikeRecord.from_dense(np.vstack([quiet.to_dense(), busy.to_dense()]))
    with snn.activity_limit(max_spikes_per_step=1.0):
        with pytest.raises(ActivityLimitError, match="over steps 300-399"):
            engine.run(both)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "10", True])
def test_bad_limits_are_refused(bad):
    with pytest.raises(EngineOptionError, match="max_spikes_per_step"):
        with snn.activity_limit(bad):
            pass
