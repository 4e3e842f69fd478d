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


def block_rates(counts: np.ndarray, block: int) -> list[float]:
    """Mean network spikes per step of every block of ``block`` steps (the last may be shorter)."""
    return [float(counts[a:a + block, 1:].sum()) / counts[a:a + block].shape[0] for a in range(0, len(counts), block)]


def test_fast_engine_early_look_keeps_the_blocks_decision():
    """Inside a block the fast engine stops as soon as the block cannot stay under the
    limit; it raises exactly when a whole block's mean is above the limit, names that
    block, and a limit that holds leaves spikes and weights bit for bit unchanged."""
    block = 600  # > EARLY_CHECK_STEPS, so each block is run in several pieces
    assert block > snn.limits.EARLY_CHECK_STEPS
    inputs = random_input(steps=1500)
    free = snn.get_engine("fast", chunk_steps=block).build(random_network()).run(inputs)
    rates = block_rates(free.counts, block)
    positive = sorted({r for r in rates if r > 0})
    assert len(positive) >= 2  # at least one limit that stops the sleep and one that holds
    for limit in positive + [positive[0] / 2, (positive[0] + positive[1]) / 2, positive[-1] * 1.01]:
        with snn.activity_limit(max_spikes_per_step=limit):
            engine = snn.get_engine("fast", chunk_steps=block).build(random_network())
            over = [i for i, r in enumerate(rates) if r > limit]
            if over:
                first = over[0] * block
                with pytest.raises(ActivityLimitError, match=f"over steps {first}-"):
                    engine.run(inputs)
            else:
                held = engine.run(inputs)
                assert np.array_equal(held.counts, free.counts)
                assert all(np.array_equal(a, b) for a, b in zip(held.weights, free.weights))


def test_fast_engine_stops_a_runaway_early_in_its_block():
    """A network far above the limit stops after the first look, not at the block's end."""
    rate = network_rate("fast")
    engine = snn.get_engine("fast", chunk_steps=5000).build(random_network())
    look = snn.limits.EARLY_CHECK_STEPS
    with snn.activity_limit(max_spikes_per_step=rate / 50):
        with pytest.raises(ActivityLimitError, match=f"in steps 0-{look - 1}, .* over steps 0-4999"):
            engine.run(random_input(steps=5000))
