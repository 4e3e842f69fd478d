"""Neo export of sleep spikes: round trips through NIX and pickle files."""
import numpy as np
import pytest
import quantities as pq

import neo
import snn
from snn.neo_export import read_neo, spike_records_from_neo, to_neo, write_neo

from .conftest import random_input, random_network


@pytest.fixture(scope="module")
def brian2_run():
    """A Brian2 sleep with spike monitors on every layer and two voltage traces."""
    eng = snn.get_engine("brian2", record_v={"hidden1": [0, 3, 5], "output": [1]})
    eng.build(random_network())
    result = eng.run(random_input(steps=200))
    assert result.counts[:, 1:].sum() > 50
    return eng, result


@pytest.mark.slow
@pytest.mark.parametrize("ext", [".nix", ".pkl"])
def test_round_trip_equals_the_monitors(brian2_run, tmp_path, ext):
    eng, result = brian2_run
    path = write_neo(result, tmp_path / f"sleep{ext}", voltages=eng.voltage_traces)
    assert path.is_file()
    block = read_neo(path)
    assert len(block.segments) == 1
    seg = block.segments[0]
    assert len(seg.spiketrains) == sum(r.n_neurons for r in result.spikes)  # one train per neuron
    assert list(block.annotations["layer_names"]) == result.layer_names
    assert [g.name for g in block.groups] == result.layer_names
    records = spike_records_from_neo(block)
    assert list(records) == result.layer_names
    for name, rec in zip(result.layer_names, result.spikes):
        assert records[name] == rec  # every spike, same neuron, same step
    st = next(s for s in seg.spiketrains if s.annotations["layer"] == "hidden1" and s.annotations["neuron"] == 3)
    expected = result.spikes[1].steps_of_spikes[result.spikes[1].indices == 3] * result.dt_ms
    np.testing.assert_array_equal(st.rescale(pq.ms).magnitude, expected)
    assert st.t_stop.rescale(pq.ms).magnitude == pytest.approx(200 * result.dt_ms)
    # voltage traces come back as AnalogSignals in mV, one column per recorded neuron
    sigs = {s.annotations["layer"]: s for s in seg.analogsignals}
    np.testing.assert_array_equal(sigs["hidden1"].rescale(pq.mV).magnitude, eng.voltage_traces["hidden1"].v)
    np.testing.assert_array_equal(sigs["hidden1"].array_annotations["neuron"], [0, 3, 5])
    assert sigs["output"].shape == (200, 1)


def test_result_method_subsets_and_fast_engine_results(tmp_path):
    eng = snn.get_engine("fast")
    eng.build(random_network())
    result = eng.run(random_input(steps=120))
    # only the layers named are exported (None: every neuron of the layer)
    block = result.to_neo(neurons={"hidden1": None, "hidden2": [2, 9], "output": None})
    assert isinstance(block, neo.Block) and block.annotations["engine"] == "fast"
    trains = block.segments[0].spiketrains
    assert {st.annotations["layer"] for st in trains} == {"hidden1", "hidden2", "output"}
    assert sorted(st.annotations["neuron"] for st in trains if st.annotations["layer"] == "hidden2") == [2, 9]
    back = spike_records_from_neo(read_neo(write_neo(block, tmp_path / "fast.pkl")))
    keep = np.isin(result.spikes[2].indices, [2, 9])
    np.testing.assert_array_equal(back["hidden2"].indices, result.spikes[2].indices[keep])
    assert back["output"] == result.spikes[3]


def test_bad_input(tmp_path):
    eng = snn.get_engine("fast", record_spikes=False)
    eng.build(random_network())
    silent = eng.run(random_input(steps=10))
    with pytest.raises(ValueError, match="record_spikes=True"):
        to_neo(silent)
    eng = snn.get_engine("fast")
    eng.build(random_network())
    result = eng.run(random_input(steps=10))
    with pytest.raises(ValueError, match="unsupported Neo file extension '.csv'"):
        write_neo(result, tmp_path / "spikes.csv")
    with pytest.raises(ValueError, match="unknown layer"):
        to_neo(result, neurons={"hidden7": [0]})
    with pytest.raises(ValueError, match="must lie in"):
        to_neo(result, neurons={"hidden1": [99]})
    with pytest.raises(FileNotFoundError):
        read_neo(tmp_path / "missing.nix")
