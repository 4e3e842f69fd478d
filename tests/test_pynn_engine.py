"""The PyNN engines (``pynn.nest``, ``pynn.brian2``) against the fast engine.

Acceptance of issue 4: frozen weights give the fast engine's spike trains (run
with ``inc = dec = 0``, after the engine shifted the one-step-per-layer delay
back) on a small network and on a trained 784-1200-1200-10 network for 500
steps, on NEST and on Brian2; the exact plastic mode on NEST gives identical
spikes and weights within 1e-9 on a small network and passes the golden trace
``mnist_5tasks_hot`` (both in ``test_engine_contract.py``); spikes come back as a ``neo.Block`` from
PyNN's recording with the structure of :func:`snn.neo_export.to_neo`. One test
per PyNN 0.13 pitfall the engine works around. NEST and PyNN are imported
directly: a missing simulator is a failure, never a skip.
"""
import contextlib
import logging
import math
import subprocess
import sys

import snn.pynn as pe  # first: switches NEST's banner off before anything imports nest

import neo
import numpy as np
import pytest
import torch

with pe.quiet():  # PyNN/NEST/Brian2 warn on import (nest-config, pyparsing deprecations)
    import brian2
    import nest
    import pyNN.brian2
    import pyNN.nest

import bridge
import snn
from ann import SleepMLP, TrainConfig, class_incremental_tasks, load_mnist_subset, train_task
from snn.neo_export import spike_records_from_neo, to_neo

from .conftest import random_input, random_network

WEIGHT_TOL = 1e-9
SIMULATORS = ["nest", "brian2"]


def frozen(network: snn.SleepNetwork) -> snn.SleepNetwork:
    net = network.copy()
    net.inc = net.dec = 0.0
    return net


def run(name, network, spikes, **options):
    eng = snn.get_engine(name, **options)
    eng.build(network.copy())
    return eng, eng.run(spikes)


def assert_same_spikes(ref, res):
    np.testing.assert_array_equal(res.counts, ref.counts)
    for a, b in zip(ref.totals, res.totals):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(ref.spikes, res.spikes):
        assert a == b


@contextlib.contextmanager
def numpy_codegen():
    """Brian2's NumPy target (no compilation) for hand-made pyNN.brian2 networks."""
    saved = brian2.prefs["codegen.target"]
    brian2.prefs["codegen.target"] = "numpy"
    try:
        yield
    finally:
        brian2.prefs["codegen.target"] = saved


# --------------------------------------------------------------- small network
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_frozen_small_network_matches_fast_engine(simulator):
    net, spikes = random_network(), random_input(steps=400)
    _, fast = run("fast", frozen(net), spikes)
    eng, res = run(f"pynn.{simulator}", net, spikes, plasticity="frozen")
    assert fast.counts[:, 1:].sum(0).min() > 50, "the test network must actually spike"
    assert res.engine == f"pynn.{simulator}" and res.layer_names == fast.layer_names
    assert_same_spikes(fast, res)
    for w, w0 in zip(res.weights, net.weights):  # frozen: the network's weights, untouched
        np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("rule", ["reference", "plain"])
def test_exact_plastic_is_the_default_and_writes_back_the_simulator_weights(simulator, rule):
    """Spikes and weights of the exact mode against the dense engine: test_engine_contract.py."""
    net, spikes = random_network(rule=rule), random_input(steps=300)
    eng, res = run(f"pynn.{simulator}", net, spikes)  # plasticity="exact" is the default
    assert eng.plasticity == "exact"
    # the rows written back are the simulator's weights (read through PyNN, scaling fixed)
    for w_sim, w in zip(eng.simulator_weights(), res.weights):
        assert np.abs(w_sim - w).max() <= 1e-12


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("plasticity", ["frozen"])  # "exact": in test_engine_contract.py
def test_runs_in_pieces_equal_one_run(simulator, plasticity):
    """Potentials and weights persist across run() calls despite the layer shift."""
    net = random_network() if plasticity == "exact" else frozen(random_network())
    spikes = random_input(steps=240)
    fast_eng, fast = run("fast", net, spikes)
    eng = snn.get_engine(f"pynn.{simulator}", plasticity=plasticity).build(net.copy())
    pieces = [(0, 1), (1, 3), (3, 120), (120, 121), (121, 240)]
    results = [eng.run(spikes.slice_steps(a, b)) for a, b in pieces]
    for l in range(net.n_layers + 1):
        assert snn.SpikeRecord.concatenate([r.spikes[l] for r in results]) == fast.spikes[l]
    assert max(float(np.abs(a - b).max()) for a, b in zip(eng.weights, fast.weights)) <= WEIGHT_TOL
    # v = decay * v + alpha * W @ s per step, as in SRC: same potentials (mV) as the fast engine
    for v_fast, v in zip(fast_eng.potentials, eng.potentials):
        assert np.abs(v_fast - v).max() <= 1e-9


def test_leak_per_step_is_decay():
    """tau_m = -dt / ln(decay) makes IF_curr_delta's exact leak exp(-dt / tau_m) equal decay."""
    for decay in (0.9, 0.99, 0.999):
        net = random_network()
        net.decay = decay
        assert math.exp(-net.dt_ms / net.tau_m_ms) == pytest.approx(decay, rel=1e-15)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_other_step_lengths_and_no_leak(simulator):
    """dt = 0.1 ms needs spike times snapped to NEST's grid; decay = 1 is an infinite tau_m."""
    spikes = random_input(steps=150)
    for dt, decay in ((0.1, 0.95), (1.0, 1.0)):
        net = random_network()
        net.dt_ms, net.decay = dt, decay
        _, fast = run("fast", net, spikes)
        _, res = run(f"pynn.{simulator}", net, spikes)
        assert_same_spikes(fast, res)
        assert res.dt_ms == dt


def test_record_spikes_off_keeps_counts_and_totals():
    net, spikes = frozen(random_network()), random_input(steps=100)
    _, fast = run("fast", net, spikes)
    eng, res = run("pynn.nest", net, spikes, plasticity="frozen", record_spikes=False)
    assert res.spikes is None
    np.testing.assert_array_equal(res.counts, fast.counts)
    for a, b in zip(fast.totals, res.totals):
        np.testing.assert_array_equal(a, b)


def test_zero_steps_and_progress_bar():
    net = random_network()
    eng = snn.get_engine("pynn.nest", progress=True).build(net)
    empty = eng.run(random_input(steps=0))
    assert empty.steps == 0 and empty.counts.shape == (0, 4)
    _, fast = run("fast", net, random_input(steps=20))
    assert_same_spikes(fast, eng.run(random_input(steps=20)))


# ------------------------------------------------------------------------ Neo
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_neo_block_from_pynn_recording_has_to_neo_structure(simulator):
    net, spikes = random_network(), random_input(steps=120)
    _, fast = run("fast", net, spikes)
    eng, res = run(f"pynn.{simulator}", net, spikes)
    block = eng.neo_block
    ref = to_neo(fast)
    assert isinstance(block, neo.Block) and len(block.segments) == 1
    assert block.annotations["recorded_by"] == "PyNN" and block.annotations["engine"] == f"pynn.{simulator}"
    for key in ("dt_ms", "steps", "layer_names", "layer_sizes"):
        assert block.annotations[key] == ref.annotations[key]
    seg, rseg = block.segments[0], ref.segments[0]
    assert seg.name == rseg.name and len(seg.spiketrains) == len(rseg.spiketrains) == sum(net.sizes)
    for st, rst in zip(seg.spiketrains, rseg.spiketrains):
        assert st.name == rst.name
        for key in ("layer", "layer_index", "neuron"):
            assert st.annotations[key] == rst.annotations[key]
        np.testing.assert_array_equal(st.rescale("ms").magnitude, rst.rescale("ms").magnitude)
        assert st.t_stop == rst.t_stop
    assert [g.name for g in block.groups] == [g.name for g in ref.groups]
    # analyses written for to_neo's blocks read these too
    records = spike_records_from_neo(block)
    for name, record in zip(net.layer_names, res.spikes):
        assert records[name] == record


# ------------------------------------------------------------ PyNN 0.13 pitfalls
def test_pitfall_nest_needs_on_grid_spikes_for_zero_refractory_time():
    with pe.quiet():
        # "off_grid" is PyNN's default (a later setup() without the argument keeps the last value)
        pyNN.nest.setup(timestep=1.0, min_delay=1.0, spike_precision="off_grid")
        with pytest.raises(nest.NESTError, match="Refractory time must be at least one time step"):
            pyNN.nest.Population(2, pyNN.nest.IF_curr_delta(tau_refrac=0.0))
    eng = snn.get_engine("pynn.nest").build(random_network())
    status = nest.GetStatus(eng.populations[1].node_collection[:1], ["model", "t_ref"])[0]
    assert status == ("iaf_psc_delta", 0.0)


def test_pitfall_nest_initial_v_needs_the_variable_map(caplog):
    sim, cell_class, _ = pe.nest_classes()
    with pe.quiet():
        sim.setup(timestep=1.0, min_delay=1.0, spike_precision="on_grid")
        stock = sim.Population(3, sim.IF_curr_delta(tau_refrac=0.0, v_thresh=5.0, v_rest=0.0, v_reset=0.0))
        fixed = sim.Population(3, cell_class(tau_refrac=0.0, v_thresh=5.0, v_rest=0.0, v_reset=0.0))
        with caplog.at_level(logging.WARNING, logger="PyNN"):
            stock.initialize(v=np.array([0.5, 1.5, 2.5]))
        fixed.initialize(v=np.array([0.5, 1.5, 2.5]))
    assert "does not allow setting an initial value for v" in caplog.text
    assert nest.GetStatus(stock.node_collection, "V_m") == (-70.0,) * 3  # NEST's default, unchanged
    assert nest.GetStatus(fixed.node_collection, "V_m") == (0.5, 1.5, 2.5)


def test_pitfall_nest_projection_get_set_scale_weights():
    eng = snn.get_engine("pynn.nest", plasticity="frozen").build(random_network())
    exc = eng.projections[0][0]
    alpha_w = eng.network.alpha[0] * eng.network.weights[0].T          # (pre, post) mV
    mask = alpha_w >= 0
    with pe.quiet():
        raw = np.asarray(exc.get("weight", format="array"))
    np.testing.assert_allclose(raw[mask], 1e-3 * alpha_w[mask], rtol=1e-12)  # PyNN 0.13: off by 1e-3
    fixed = pe.projection_weights(exc)
    np.testing.assert_allclose(fixed[mask], alpha_w[mask], rtol=1e-12)
    assert np.isnan(fixed[~mask]).all()
    new = np.where(mask, 0.5 * alpha_w, np.nan)
    pe.set_projection_weights(exc, new)
    nest_w = np.asarray(nest.GetConnections(synapse_model=exc.nest_synapse_model).get("weight"))
    np.testing.assert_allclose(np.sort(nest_w), np.sort(new[mask]), rtol=1e-12)  # NEST holds mV
    with pe.quiet():
        exc.set(weight=new)                                           # PyNN 0.13: 1000 x too large
    nest_w = np.asarray(nest.GetConnections(synapse_model=exc.nest_synapse_model).get("weight"))
    np.testing.assert_allclose(np.sort(nest_w), np.sort(1e3 * new[mask]), rtol=1e-12)


def test_pitfall_brian2_spike_source_needs_the_network_clock():
    sim, _, source_class = pe.brian2_classes()
    default_dt = brian2.defaultclock.dt
    with pe.quiet():
        sim.setup(timestep=1.0, min_delay=1.0)
        stock = sim.Population(2, sim.SpikeSourceArray(spike_times=[[3.0], [4.0]]))
        fixed = sim.Population(2, source_class(spike_times=[[3.0], [4.0]]))
    assert float(sim.simulator.state.network.clock.dt / brian2.ms) == 1.0
    assert float(stock.brian2_group.clock.dt / brian2.ms) == pytest.approx(0.1)  # Brian2's defaultclock
    assert fixed.brian2_group.clock is sim.simulator.state.network.clock
    assert brian2.defaultclock.dt == default_dt  # the engine leaves Brian2's defaultclock alone


def test_pitfall_brian2_needs_delivery_before_threshold():
    net, spikes = frozen(random_network()), random_input(steps=200)
    _, fast = run("fast", net, spikes)
    eng = snn.get_engine("pynn.brian2", plasticity="frozen").build(net)
    network = pyNN.brian2.simulator.state.network
    assert list(network.schedule) == pe.BRIAN2_SCHEDULE
    network.schedule = None  # Brian2's default: groups, thresholds, synapses, resets
    res = eng.run(spikes)
    assert not np.array_equal(res.counts, fast.counts)
    eng = snn.get_engine("pynn.brian2", plasticity="frozen").build(net)
    assert_same_spikes(fast, eng.run(spikes))


def test_pitfall_brian2_threshold_is_inclusive():
    sim, cell_class, source_class = pe.brian2_classes()
    counts = {}
    for name, cls in (("stock", sim.IF_curr_delta), ("fixed", cell_class)):
        with pe.quiet(), numpy_codegen():
            sim.setup(timestep=1.0, min_delay=1.0)
            sim.simulator.state.network.schedule = pe.BRIAN2_SCHEDULE  # input delivered before the test
            src = sim.Population(1, source_class(spike_times=[[2.0]]))
            cell = sim.Population(1, cls(tau_m=20.0, v_thresh=0.5, v_rest=0.0, v_reset=0.0, tau_refrac=0.0),
                                  initial_values={"v": 0.0})
            sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5, delay=1.0))
            cell.record("spikes")
            sim.run(10.0)
            counts[name] = len(cell.get_data().segments[0].spiketrains[0])
    assert counts == {"stock": 0, "fixed": 1}  # v reaching v_thresh exactly fires in SRC


def test_quiet_import_and_run():
    """No NEST banner, no deprecation or extension warnings in our output."""
    code = ("import snn, snn.pynn, numpy as np\n"
            "net = snn.SleepNetwork(weights=[np.full((2, 3), 0.6)], alpha=[1.0], threshold=[1.0])\n"
            "for name in ('pynn.nest', 'pynn.brian2'):\n"
            "    snn.get_engine(name).build(net).run(snn.SpikeRecord.from_dense(np.ones((5, 3), bool)))\n")
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


# -------------------------------------------------------------- engine contract
def test_registry_options_and_errors():
    assert {"pynn.nest", "pynn.brian2"} <= set(snn.available_engines())
    nest_engine = snn.get_engine("pynn.nest")
    assert isinstance(nest_engine, pe.PyNNEngine) and nest_engine.simulator == "nest"
    brian2_engine = snn.get_engine("pynn.brian2", plasticity="frozen")
    assert isinstance(brian2_engine, pe.PyNNEngine) and brian2_engine.simulator == "brian2"
    assert snn.get_engine("pynn.brian2").name == "pynn.brian2"
    with pytest.raises(ValueError, match="plasticity"):
        snn.get_engine("pynn.nest", plasticity="stdp")
    with pytest.raises(ValueError, match="simulator"):
        pe.PyNNEngine(simulator="spinnaker")
    with pytest.raises(ValueError, match="codegen"):
        snn.get_engine("pynn.brian2", codegen="cpp_standalone")
    with pytest.raises(ValueError, match="threads=1"):
        snn.get_engine("pynn.nest", threads=2)


def test_second_engine_on_the_same_simulator_invalidates_the_first():
    net, spikes = random_network(), random_input(steps=10)
    first = snn.get_engine("pynn.nest").build(net)
    snn.get_engine("pynn.nest").build(net)
    with pytest.raises(RuntimeError, match="another pynn.nest engine"):
        first.run(spikes)
    other = snn.get_engine("pynn.brian2").build(net)  # the other simulator is independent
    other.run(spikes)


# ---------------------------------------------- trained 784-1200-1200-10 network
@pytest.fixture(scope="module")
def trained_sleep():
    task = class_incremental_tasks(load_mnist_subset())[0]
    model = SleepMLP(generator=torch.Generator().manual_seed(0))
    train_task(model, task.x_train, task.y_train, TrainConfig(epochs=1), seed=0)
    params = bridge.preset("mnist")
    spec = bridge.build_sleep_network(model, task.x_train, params)
    spikes = bridge.make_input_spikes(spec.mean_image, params, 500, seed=1)
    assert spec.network.sizes == [784, 1200, 1200, 10]
    return spec.network, spikes


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_frozen_trained_784_1200_1200_10_matches_fast_engine(trained_sleep, simulator):
    net, spikes = trained_sleep
    _, fast = run("fast", frozen(net), spikes)
    assert fast.counts[:, 1:3].mean(0).min() > 5, "realistic sleep activity expected"
    _, res = run(f"pynn.{simulator}", net, spikes, plasticity="frozen")
    assert_same_spikes(fast, res)
