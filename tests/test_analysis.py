"""Sleep analyses on small hand-computed cases: wake-side representations
(ann.representations), sleep-side activity (snn.activity, Elephant on the Neo
output), both sides (bridge.analysis)."""
import numpy as np
import pytest
import quantities as pq
from scipy import stats

import snn
from ann import SleepMLP
from ann.errors import DataError
from ann.representations import (
    active_fraction, class_correlation_matrix, class_selective_units, hidden_layer_activations, mean_input_drive,
    task_selective_units, top_units, treves_rolls_sparseness, within_between,
)
from bridge.analysis import (
    bonferroni, class_reactivation, old_vs_newest, selective_reactivation, task_unit_drive, weight_change,
)
from bridge.errors import AnalysisError
from snn.activity import firing_rates, layer_rates, population_rate, raster, spike_counts
from snn.errors import InvalidSpikesError, NeuronSelectionError


# ------------------------------------------------------------------ wake side
def test_class_correlation_matrix_by_hand():
    # class 0: [1,0,0] and [2,0,0] have the same centred pattern: r = 1
    # class 1: [0,1,0] vs [0,0,1]: centred dot -3/9, norms^2 6/9 -> r = -0.5; across classes r = -0.5 too
    acts = np.array([[1, 0, 0], [2, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=float)
    labels = np.array([0, 0, 1, 1, 0])  # the silent example has no correlation and is left out
    classes, r = class_correlation_matrix(acts, labels)
    assert classes.tolist() == [0, 1]
    np.testing.assert_allclose(r, [[1.0, -0.5], [-0.5, -0.5]])
    wb = within_between(r)
    assert wb["within"] == pytest.approx(0.25) and wb["between"] == pytest.approx(-0.5)


def test_correlation_matrix_is_the_mean_of_example_pairs():
    rng = np.random.default_rng(0)
    acts, labels = rng.random((12, 6)), np.repeat([0, 1, 2], 4)
    _, r = class_correlation_matrix(acts, labels)
    full = np.corrcoef(acts)
    for a in range(3):
        for b in range(3):
            block = full[np.ix_(labels == a, labels == b)]
            expected = block[~np.eye(4, dtype=bool)].mean() if a == b else block.mean()
            assert r[a, b] == pytest.approx(expected)


def test_sparseness_by_hand():
    acts = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [3, 0, 0, 0], [0, 0, 0, 0]], dtype=float)
    # 1 - a per active example: 1 - 0.25/0.5 = 0.5, 1 - 1 = 0, 1 - 0.5625/2.25 = 0.75; silent example left out
    assert treves_rolls_sparseness(acts) == pytest.approx((0.5 + 0 + 0.75) / 3)
    assert active_fraction(acts) == pytest.approx(7 / 16)
    assert active_fraction(acts, threshold=1.0) == pytest.approx(1 / 16)


def test_selective_units_by_hand():
    assert top_units(np.array([0.1, 0.5, 0.5, 0.2]), 2).tolist() == [1, 2]  # tie: lower index first
    acts = np.array([[5, 0, 1], [4, 0, 2], [0, 3, 1], [0, 1, 0]], dtype=float)
    labels = np.array([0, 0, 1, 2])
    sel = class_selective_units(acts, labels, 1)
    assert {c: u.tolist() for c, u in sel.items()} == {0: [0], 1: [1], 2: [1]}
    tasks = task_selective_units(acts, labels, [[0], [1, 2]], 2)
    assert [t.tolist() for t in tasks] == [[0, 2], [1, 2]]  # task 2 means: [0, 2, 0.5]
    with pytest.raises(DataError, match="top-N"):
        top_units(np.ones(3), 4)
    with pytest.raises(DataError, match="task 2"):
        task_selective_units(acts, labels, [[0], [7]], 1)


def test_input_drive_and_activations_by_hand():
    # reference dropout: hidden outputs x 0.75 in test mode
    model = SleepMLP.from_weights([np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([[1.0, 1.0, 1.0]])])
    x = np.array([[1.0, 2.0], [3.0, 0.0]])
    acts = hidden_layer_activations(model, x)
    np.testing.assert_allclose(acts[0], [[0.75, 1.5, 2.25], [2.25, 0.0, 2.25]])
    drive = mean_input_drive(model, x)
    np.testing.assert_allclose(drive[0], [2.0, 1.0, 3.0])  # mean of W1 x
    np.testing.assert_allclose(drive[1], [(4.5 + 4.5) / 2])  # mean of W2 h1
    with pytest.raises(DataError, match="3 features but the model takes 2"):
        hidden_layer_activations(model, np.ones((2, 3)))
    with pytest.raises(DataError, match="3 features but the model takes 2"):
        mean_input_drive(model, np.ones((2, 3)))


def test_bad_activation_shapes():
    with pytest.raises(DataError, match="labels"):
        class_correlation_matrix(np.ones((3, 2)), np.array([0, 1]))
    with pytest.raises(DataError, match="non-empty"):
        treves_rolls_sparseness(np.ones(3))


# ----------------------------------------------------------------- sleep side
def hand_result():
    """2 populations (3 inputs, 2 outputs), 4 steps of 1 ms."""
    inp = snn.SpikeRecord.from_events(3, 4, [0, 0, 1, 3], [0, 2, 2, 2])
    out = snn.SpikeRecord.from_events(2, 4, [1, 2, 3], [1, 1, 0])
    counts = np.stack([inp.counts, out.counts], axis=1)
    return snn.SleepResult(weights=[np.zeros((2, 3))], counts=counts, totals=[inp.totals(), out.totals()],
                           spikes=[inp, out], layer_names=["input", "output"], dt_ms=1.0)


def test_rates_counts_and_population_rate_by_hand():
    res = hand_result()
    assert spike_counts(res, "output").tolist() == [1, 2]
    np.testing.assert_allclose(firing_rates(res, "output"), [250.0, 500.0])  # 1 and 2 spikes in 4 ms
    np.testing.assert_allclose(firing_rates(res)["input"], [250.0, 0.0, 750.0])
    assert layer_rates(res) == pytest.approx({"input": 1000 / 3, "output": 375.0})
    t, r = population_rate(res, 1, bin_ms=2.0)
    np.testing.assert_allclose(t, [0.0, 2.0])
    np.testing.assert_allclose(r, [1 / (2 * 0.002), 2 / (2 * 0.002)])  # spikes / (neurons * bin)
    with pytest.raises(InvalidSpikesError, match="multiple"):
        population_rate(res, "output", bin_ms=1.5)


def test_raster_by_hand():
    res = hand_result()
    t, i = raster(res, "input")
    assert t.tolist() == [0.0, 0.0, 1.0, 3.0] and i.tolist() == [0, 2, 2, 2]
    t, i = raster(res, "input", neurons=[2], t_start_ms=1.0, t_stop_ms=3.0)
    assert t.tolist() == [1.0] and i.tolist() == [2]
    res.spikes = None
    with pytest.raises(InvalidSpikesError, match="record_spikes"):
        raster(res, "input")


def test_unknown_layer_or_neuron_index():
    res = hand_result()
    with pytest.raises(NeuronSelectionError, match="unknown layer 'hidden9'"):
        firing_rates(res, "hidden9")
    with pytest.raises(NeuronSelectionError, match="unknown layer 5"):
        spike_counts(res, 5)
    with pytest.raises(NeuronSelectionError, match=r"must lie in \[0, 2\)"):
        raster(res, "output", neurons=[0, 2])


def test_elephant_rates_on_neo_output_equal_the_package_rates():
    from elephant.statistics import mean_firing_rate

    rng = np.random.default_rng(0)
    net = snn.SleepNetwork(weights=[rng.normal(0.1, 0.1, (15, 10)), rng.normal(0.1, 0.1, (4, 15))],
                           alpha=np.array([1.0, 1.0]), threshold=np.array([0.3, 0.3]), decay=0.99,
                           inc=0.01, dec=0.001)
    inp = snn.SpikeRecord.from_dense(rng.random((400, 10)) < 0.2)
    res = snn.get_engine("fast", record_spikes=True).build(net).run(inp)
    block = res.to_neo()
    mine = firing_rates(res)
    trains = block.segments[0].spiketrains
    assert len(trains) == 10 + 15 + 4
    assert sum(res.totals[1]) > 0
    for st in trains:
        rate = mean_firing_rate(st, t_start=0 * pq.ms, t_stop=res.steps * res.dt_ms * pq.ms)
        expected = mine[st.annotations["layer"]][st.annotations["neuron"]]
        assert float(rate.rescale(pq.Hz).magnitude) == pytest.approx(expected, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------ both sides
def test_selective_reactivation_by_hand():
    counts = np.array([10, 9, 8, 0, 0, 0, 1, 1])
    res = selective_reactivation(counts, {"task1": [0, 1, 2], "task2": [3, 4]})
    t1 = res["task1"]
    assert t1["selective_mean"] == pytest.approx(9.0)
    assert t1["random_mean"] == pytest.approx(29 / 8)
    # SD of the mean of 3 units drawn without replacement from 8
    assert t1["random_sd"] == pytest.approx(counts.std() / np.sqrt(3) * np.sqrt(5 / 7))
    assert t1["u_statistic"] == 15.0  # every selective unit fires more than every other unit: U = 3 * 5
    p = stats.mannwhitneyu(counts[:3], counts[3:], alternative="greater").pvalue
    assert t1["p"] == pytest.approx(p)
    assert t1["p_bonferroni"] == pytest.approx(min(1.0, 2 * p)) and t1["n_tests"] == 2
    assert res["task2"]["selective_mean"] == 0.0 and res["task2"]["p"] > 0.5
    assert bonferroni([0.01, 0.3, 0.6]) == pytest.approx([0.03, 0.9, 1.0])
    with pytest.raises(AnalysisError, match="subset"):
        selective_reactivation(counts, {"bad": [8]})


def test_class_reactivation_by_hand():
    counts = np.array([1, 2, 3])
    acts = np.array([[1, 2, 3], [3, 2, 1], [2, 4, 6], [0, 0, 0]], dtype=float)
    labels = np.array([0, 0, 1, 1])
    res = class_reactivation(acts, labels, counts)
    assert res[0]["mean"] == pytest.approx(0.0) and res[0]["sd"] == pytest.approx(np.sqrt(2))
    assert res[1] == {"mean": pytest.approx(1.0), "sd": 0.0, "n": 1}  # the silent example is left out
    assert class_reactivation(acts, labels, np.zeros(3))[0]["mean"] is None
    with pytest.raises(AnalysisError, match="to match the spike counts"):
        class_reactivation(acts, labels, np.ones(4))


def test_weight_change_by_hand():
    before = [np.array([[0.0, 1.0], [1.0, 0.0]])]
    after = [np.array([[0.5, 1.0], [-1.0, 0.0]])]
    (ch,) = weight_change(before, after, bins=4)
    assert ch["mean"] == pytest.approx(-0.375) and ch["mean_abs"] == pytest.approx(0.625)
    assert ch["fraction_changed"] == 0.5 and ch["fraction_increased"] == 0.25 and ch["fraction_decreased"] == 0.25
    assert ch["sign_flips"] == 0.5
    assert ch["histogram"]["edges"] == pytest.approx([-2, -1, 0, 1, 2])
    assert ch["histogram"]["counts"] == [1, 0, 3, 0]  # -2 | - | 0, 0, 0.5 | -
    with pytest.raises(AnalysisError, match="shape"):
        weight_change(before, [np.zeros((3, 2))])


def test_input_drive_old_vs_newest_by_hand():
    w1 = np.array([[1.0, 0.0], [0.0, 1.0]])
    before = SleepMLP.from_weights([w1, np.ones((1, 2))])
    after = SleepMLP.from_weights([np.array([[2.0, 0.0], [0.0, 0.5]]), np.ones((1, 2))])
    task_x = [np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])]  # task 1 drives unit 0, task 2 unit 1
    rows = task_unit_drive(before, after, task_x, [[np.array([0]), np.array([1])]])
    assert rows[0] == [{"task": 1, "before": 1.0, "after": 2.0, "change": 1.0},
                       {"task": 2, "before": 2.0, "after": 1.0, "change": -1.0}]
    assert old_vs_newest(rows[0]) == {"old_tasks_change": 1.0, "newest_task_change": -1.0}
    assert old_vs_newest(rows[0][:1]) == {"old_tasks_change": None, "newest_task_change": 1.0}
    with pytest.raises(AnalysisError, match="unit indices"):
        task_unit_drive(before, after, task_x, [[np.array([0]), np.array([5])]])


def test_neo_subset_export_holds_only_the_subset_and_the_recorded_voltages(tmp_path):
    from snn.neo_export import SpikeTrainArray, read_neo, spike_records_from_neo, write_neo

    rng = np.random.default_rng(1)
    net = snn.SleepNetwork(weights=[rng.normal(0.1, 0.1, (15, 10)), rng.normal(0.1, 0.1, (4, 15))],
                           alpha=np.array([1.0, 1.0]), threshold=np.array([0.3, 0.3]), decay=0.99,
                           inc=0.01, dec=0.001)
    res = snn.get_engine("fast", record_spikes=True, record_v={"hidden1": [1, 2]}).build(net).run(
        snn.SpikeRecord.from_dense(rng.random((300, 10)) < 0.2))
    full = res.to_neo()
    assert isinstance(full.segments[0].spiketrains, SpikeTrainArray)  # built from arrays, trains made on use
    assert full.groups[1].spiketrains[3] is full.segments[0].spiketrains[13]  # a Group shares the Segment's trains
    sig = full.segments[0].analogsignals[0]  # record_v traces are exported by default
    np.testing.assert_array_equal(sig.magnitude, res.voltages["hidden1"].v)
    block = res.to_neo(neurons={"hidden1": [3, 7]})
    trains = block.segments[0].spiketrains
    assert [st.name for st in trains] == ["hidden1[3]", "hidden1[7]"] and [g.name for g in block.groups] == ["hidden1"]
    back = spike_records_from_neo(read_neo(write_neo(block, tmp_path / "subset.nix")))
    assert list(back) == ["hidden1"]
    keep = np.isin(res.spikes[1].indices, [3, 7])
    np.testing.assert_array_equal(back["hidden1"].indices, res.spikes[1].indices[keep])
    np.testing.assert_array_equal(back["hidden1"].steps_of_spikes, res.spikes[1].steps_of_spikes[keep])
