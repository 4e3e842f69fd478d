"""One contract for every registered sleep engine (as PyNN's ``run_with_simulators``
and Brian2's feature tests).

Each engine of :func:`snn.available_engines`, made through the public API only
(``snn.get_engine(name, **options)``), must on small networks:

* give the spikes of the dense reference engine (:mod:`snn.dense`, a literal
  transcription of SRC_SPEC.md section 4): counts per step per layer, totals and
  the recorded spike records equal; weights within the engine's tolerance; with
  the ``reference`` and the ``plain`` rule, in float64 and (where supported) float32;
* keep its state between ``run`` calls: runs in pieces equal one run;
* pass the golden reference traces of ``shared/golden``;
* refuse bad input with the typed errors of :mod:`snn.errors`.

Engine-specific options and tolerances live in the table ``CASES`` below; pitfalls
of one simulator keep their own tests (``test_brian2_engine.py``,
``test_pynn_engine.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pytest

import snn
from bridge.conformance import check_trace
from snn.errors import (EngineOptionError, EngineStateError, InvalidNetworkError, InvalidSpikesError,
                        SnnError, UnknownEngineError, WrongTypeError)

from .conftest import GOLDEN_FILES, random_input, random_network

SMALL_GOLDEN, HOT_GOLDEN = GOLDEN_FILES  # 784-400-300-10 x 2000 steps, 784-300-200-10 x 1500 steps
FLOAT32_WEIGHT_TOL = 1e-5
RULES = ["reference", "plain"]


@dataclass(frozen=True)
class EngineCase:
    """How the contract runs one engine.

    options: engine options of every run (e.g. Brian2's code generation target).
    weight_tol: float64 max |w - w_dense| after a run (0: bit for bit).
    float32: the engine computes in float32 on request (else it must refuse it).
    potentials: the engine exposes ``potentials`` (membrane potentials per layer).
    timing_keys: engine-specific entries of ``SleepResult.timing``.
    golden: (trace file, dtype) pairs the engine must pass.
    sizes: layer sizes of the random network of the equality test (cpp_standalone compiles
        a C++ project per network shape: two layers compile a third less code than three).
    """

    engine: str
    options: Mapping[str, Any] = field(default_factory=dict)
    weight_tol: float = 1e-9
    float32: bool = False
    potentials: bool = True
    timing_keys: tuple[str, ...] = ()
    golden: tuple[tuple[str, str], ...] = ()
    sizes: tuple[int, ...] = (30, 20, 15, 5)

    @property
    def id(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.engine}[{extra}]" if extra else self.engine

    def make(self, **options: Any) -> snn.SleepEngine:
        return snn.get_engine(self.engine, **{**self.options, **options})

    def tol(self, dtype: str) -> float:
        return self.weight_tol if dtype == "float64" else FLOAT32_WEIGHT_TOL


BOTH_FILES_BOTH_DTYPES = tuple((f, d) for f in GOLDEN_FILES for d in ("float64", "float32"))
PYNN_TIMING = ("simulate_s", "plasticity_s", "recording_s")

#: one entry per registered engine: its default configuration in the contract
CASES: dict[str, EngineCase] = {
    "fast": EngineCase("fast", weight_tol=1e-12, float32=True, golden=BOTH_FILES_BOTH_DTYPES),
    "dense": EngineCase("dense", weight_tol=0.0, float32=True, potentials=False, golden=BOTH_FILES_BOTH_DTYPES),
    "brian2": EngineCase("brian2", {"codegen": "cython"}, float32=True, timing_keys=("sim_s", "compile_s"),
                         golden=((SMALL_GOLDEN, "float64"), (HOT_GOLDEN, "float64"), (HOT_GOLDEN, "float32"))),
    # the slow simulators replay the smaller golden network only
    "pynn.nest": EngineCase("pynn.nest", {"plasticity": "exact"}, timing_keys=PYNN_TIMING,
                            golden=((HOT_GOLDEN, "float64"),)),
    "pynn.brian2": EngineCase("pynn.brian2", {"plasticity": "exact"}, timing_keys=PYNN_TIMING,
                              golden=((HOT_GOLDEN, "float64"),)),
    # the SRC rule inside NEST (src_synapse): bit for bit the dense engine's weights here
    "pynn.nest.native": EngineCase("pynn.nest.native", weight_tol=1e-12, timing_keys=PYNN_TIMING,
                                   golden=((SMALL_GOLDEN, "float64"), (HOT_GOLDEN, "float64"))),
}

#: further configurations checked against the dense engine (spike equality only)
VARIANTS = [
    EngineCase("brian2", {"codegen": "numpy"}, timing_keys=("sim_s", "compile_s")),
    EngineCase("brian2", {"codegen": "cpp_standalone"}, timing_keys=("sim_s", "compile_s"), sizes=(30, 20, 5)),
]


#: engines whose builds compile code or start a simulator: the slow tier (make test-quick leaves them out)
SIMULATORS = ("brian2", "pynn.nest", "pynn.brian2")


def tier(case: EngineCase) -> tuple:
    """pytest marks of a case: ``slow`` for the simulators."""
    return (pytest.mark.slow,) if case.engine in SIMULATORS else ()


def params(cases):
    return [pytest.param(c, id=c.id, marks=tier(c)) for c in cases]


MAIN = params(CASES.values())


def dense_run(network: snn.SleepNetwork, spikes: snn.InputSpikes, dtype: str = "float64"):
    eng = snn.get_engine("dense", dtype=dtype).build(network.copy())
    return eng, eng.run(spikes)


def case_run(case: EngineCase, network: snn.SleepNetwork, spikes: snn.InputSpikes, **options):
    eng = case.make(**options).build(network.copy())
    return eng, eng.run(spikes)


def assert_same_spikes(ref: snn.SleepResult, res: snn.SleepResult) -> None:
    """Counts per step per layer, totals per neuron and spike records equal."""
    assert res.counts.dtype == np.int64 and res.counts.shape == ref.counts.shape
    np.testing.assert_array_equal(res.counts, ref.counts)
    assert len(res.totals) == len(ref.totals)
    for a, b in zip(ref.totals, res.totals):
        np.testing.assert_array_equal(b, a)
    if ref.spikes is not None and res.spikes is not None:
        assert len(res.spikes) == len(ref.spikes)
        for a, b in zip(ref.spikes, res.spikes):
            assert b == a


def assert_same_weights(ref: snn.SleepResult, res: snn.SleepResult, tol: float) -> None:
    assert len(res.weights) == len(ref.weights)
    for wr, w in zip(ref.weights, res.weights):
        assert w.shape == wr.shape and w.dtype == wr.dtype
        if tol == 0.0:
            np.testing.assert_array_equal(w, wr)
        else:
            assert np.abs(w - wr).max() <= tol


def assert_same_potentials(ref_eng: snn.SleepEngine, eng: snn.SleepEngine, tol: float) -> None:
    assert len(eng.potentials) == len(ref_eng.potentials)
    for vr, v in zip(ref_eng.potentials, eng.potentials):
        assert v.shape == vr.shape and np.abs(v - vr).max() <= tol


# ------------------------------------------------------------------ registry
def test_every_registered_engine_is_in_the_contract():
    assert sorted(CASES) == snn.available_engines()


def test_unknown_engine_names():
    with pytest.raises(UnknownEngineError, match="unknown sleep engine 'nest'.*available engines: .*fast"):
        snn.get_engine("nest")
    with pytest.raises(ValueError, match="unknown sleep engine 'brian'.*brian2"):
        snn.get_engine("brian")


def test_typed_errors_are_builtin_subclasses():
    """Callers that catch the builtin exceptions keep working."""
    assert issubclass(EngineStateError, RuntimeError)
    assert issubclass(InvalidSpikesError, ValueError) and issubclass(InvalidNetworkError, ValueError)
    assert issubclass(EngineOptionError, ValueError) and issubclass(UnknownEngineError, ValueError)
    assert issubclass(WrongTypeError, TypeError)
    for cls in (EngineStateError, InvalidSpikesError, InvalidNetworkError, EngineOptionError, WrongTypeError):
        assert issubclass(cls, SnnError)


# ------------------------------------------------- spikes equal to the dense reference
EQUALITY = ([pytest.param(c, "float64", id=f"{c.id}-float64", marks=tier(c)) for c in [*CASES.values(), *VARIANTS]]
            + [pytest.param(c, "float32", id=f"{c.id}-float32", marks=tier(c)) for c in CASES.values() if c.float32])


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("case, dtype", EQUALITY)
def test_spikes_and_weights_equal_dense(case, dtype, rule):
    net, spikes = random_network(sizes=case.sizes, rule=rule), random_input(steps=400)
    ref_eng, ref = dense_run(net, spikes, dtype)
    if case.engine == "brian2":
        from snn.brian2.codegen import b2
        target = b2.prefs["codegen.target"]
    eng, res = case_run(case, net, spikes, dtype=dtype)
    if case.engine == "brian2":  # Brian2's global device and preferences are restored after a run
        assert type(b2.get_device()).__name__ == "RuntimeDevice"
        assert b2.prefs["codegen.target"] == target
        assert b2.prefs["codegen.loop_invariant_optimisations"] is True
    assert ref.counts[:, 1:].sum(0).min() > 20, "the test network must actually spike"
    assert res.engine == case.engine and res.layer_names == ref.layer_names and res.dt_ms == ref.dt_ms
    assert res.weights[0].dtype == np.dtype(dtype)
    assert res.spikes is not None and ref.spikes is not None, "spikes are recorded by default"
    assert_same_spikes(ref, res)
    assert_same_weights(ref, res, case.tol(dtype))
    assert max(np.abs(w - w0).max() for w, w0 in zip(res.weights, net.weights)) > 1e-3, \
        "plasticity must have changed the weights"
    for key in ("build_s", "run_s", *case.timing_keys):
        assert key in res.timing
    # state (potentials and weights) persists into the next run
    more = random_input(steps=150, seed=7)
    res_more = eng.run(more)
    ref_more = ref_eng.run(more)
    assert_same_spikes(ref_more, res_more)
    assert_same_weights(ref_more, res_more, case.tol(dtype))
    if case.potentials:
        fast = snn.get_engine("fast", dtype=dtype).build(net.copy())
        fast.run(spikes)
        fast.run(more)
        assert_same_potentials(fast, eng, 0.0 if case.engine == "fast" else case.tol(dtype))


@pytest.mark.parametrize("case", params(c for c in CASES.values() if not c.float32))
def test_float32_is_refused_with_an_option_error(case):
    with pytest.raises(EngineOptionError, match="float64"):
        case.make(dtype="float32")


@pytest.mark.parametrize("case", MAIN)
def test_plain_rule_is_inc_dec_and_reference_rule_scales_by_f(case):
    """One post neuron fires at step 0 from input 0; inputs 1 and 2 are silent."""
    w = np.array([[2.0, 0.5, -0.3]])
    spikes = snn.SpikeRecord.from_dense(np.array([[True, False, False]]))

    def net(rule):
        return snn.SleepNetwork(weights=[w], alpha=[1.0], threshold=[1.0], decay=1.0, inc=0.1, dec=0.01, rule=rule)

    _, plain = case_run(case, net("plain"), spikes)
    np.testing.assert_allclose(plain.weights[0], [[2.1, 0.49, -0.31]])
    _, ref = case_run(case, net("reference"), spikes)
    f = snn.weight_factor(w)
    np.testing.assert_allclose(ref.weights[0], w + np.array([[0.1, -0.01, -0.01]]) * f)
    assert f[0, 0] == 0.0 and f[0, 2] == pytest.approx(2.0)  # positive weights saturate, negative grow


@pytest.mark.parametrize("case", MAIN)
def test_per_layer_plasticity_gain(case):
    """Layer l learns with g_l * inc and g_l * dec: gain 0 freezes it exactly, other gains give the
    dense engine's spikes and weights (the variant ``SleepNetwork.plasticity_gain``)."""
    net, spikes = random_network(), random_input(steps=300)
    net.plasticity_gain = np.array([0.5, 0.0, 2.0])
    ref_eng, ref = dense_run(net, spikes)
    _, res = case_run(case, net, spikes)
    assert ref.counts[:, 1:].sum(0).min() > 20, "the test network must actually spike"
    assert_same_spikes(ref, res)
    assert_same_weights(ref, res, case.tol("float64"))
    np.testing.assert_array_equal(res.weights[1], net.weights[1])  # gain 0: not a single weight moves
    _, full = dense_run(random_network(), spikes)  # gain 1 everywhere: the reference
    assert not np.allclose(full.weights[0], ref.weights[0]) and not np.allclose(full.weights[2], ref.weights[2])


@pytest.mark.parametrize("case", MAIN)
def test_same_step_propagation_through_all_layers(case):
    """An input spike reaches the output within its own step (the reference's schedule)."""
    eye = np.eye(2) * 2.0
    net = snn.SleepNetwork(weights=[eye, eye, eye], alpha=[1.0, 1.0, 1.0], threshold=[1.0, 1.0, 1.0],
                           decay=0.5, inc=0.0, dec=0.0)
    raster = np.zeros((5, 2), dtype=bool)
    raster[1, 0] = raster[3, 1] = True
    _, res = case_run(case, net, snn.SpikeRecord.from_dense(raster))
    np.testing.assert_array_equal(res.counts, [[0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1],
                                               [0, 0, 0, 0]])
    assert [list(r.step(3)) for r in res.spikes] == [[1], [1], [1], [1]]


# ------------------------------------------------------------------ runs in pieces
PIECES = [(0, 1), (1, 3), (3, 120), (120, 120), (120, 121), (121, 300)]


@pytest.mark.parametrize("case", MAIN + params([EngineCase("fast", {"chunk_steps": 7}, weight_tol=1e-12)]))
def test_runs_in_pieces_equal_one_run(case):
    """Potentials and weights persist across run() calls (a zero-step piece included)."""
    net, spikes = random_network(), random_input(steps=300)
    _, whole = case_run(case, net, spikes)
    eng = case.make().build(net.copy())
    results = [eng.run(spikes.slice_steps(a, b)) for a, b in PIECES]
    empty = results[PIECES.index((120, 120))]
    assert empty.steps == 0 and empty.counts.shape == (0, net.n_layers + 1)
    np.testing.assert_array_equal(np.vstack([r.counts for r in results]), whole.counts)
    for l in range(net.n_layers + 1):
        np.testing.assert_array_equal(sum(r.totals[l] for r in results), whole.totals[l])
        assert snn.SpikeRecord.concatenate([r.spikes[l] for r in results]) == whole.spikes[l]
    for w_pieces, w_whole in zip(eng.weights, whole.weights):
        np.testing.assert_array_equal(w_pieces, w_whole)
    # and both equal the dense reference
    ref_eng, ref = dense_run(net, spikes)
    assert_same_spikes(ref, whole)
    assert_same_weights(ref, whole, case.weight_tol)
    if case.potentials:
        fast = snn.get_engine("fast").build(net.copy())
        fast.run(spikes)
        assert_same_potentials(fast, eng, 0.0 if case.engine == "fast" else case.weight_tol)


# ------------------------------------------------------------------ recording
@pytest.mark.parametrize("case", MAIN)
def test_counts_totals_and_records_agree_and_recording_off_keeps_them(case):
    net, spikes = random_network(), random_input(steps=200)
    _, ref = dense_run(net, spikes)
    _, res = case_run(case, net, spikes)
    assert res.counts.shape == (spikes.steps, net.n_layers + 1)
    for l, rec in enumerate(res.spikes):
        assert rec.n_neurons == net.sizes[l] and rec.steps == spikes.steps
        np.testing.assert_array_equal(rec.counts, res.counts[:, l])
        np.testing.assert_array_equal(rec.totals(), res.totals[l])
    assert res.spikes[0] == spikes  # the input layer's record is the input
    rates = res.firing_rates_hz()
    assert rates[0].shape == (net.sizes[0],) and np.all(rates[0] >= 0)
    _, off = case_run(case, net, spikes, record_spikes=False)
    assert off.spikes is None
    assert_same_spikes(ref, off)
    assert_same_weights(res, off, 0.0)
    assert_same_weights(ref, off, case.weight_tol)


# ------------------------------------------------------------------ golden traces
def golden_tier(case: EngineCase, name: str) -> tuple:
    """``slow`` for the simulators and for NEST's native rule on the larger trace (784-400-300-10,
    about 6 CPU-s); the quick tier replays the smaller trace through it."""
    return tier(case) or ((pytest.mark.slow,) if case.engine == "pynn.nest.native" and name == SMALL_GOLDEN else ())


GOLDEN = [pytest.param(c, name, dtype, id=f"{c.id}-{name.removesuffix('.npz')}-{dtype}", marks=golden_tier(c, name))
          for c in CASES.values() for name, dtype in c.golden]


@pytest.mark.parametrize("case, name, dtype", GOLDEN)
def test_golden_trace(golden_dir, case, name, dtype):
    report = check_trace(golden_dir / name, engine=case.engine, dtype=dtype, engine_options=dict(case.options))
    assert report.passed, report.format()
    assert report.counts_equal and report.mismatched_steps == 0 and max(report.max_weight_diff) <= 1e-6


def test_every_engine_replays_a_golden_trace():
    assert all(CASES[name].golden for name in snn.available_engines())


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("case", MAIN)
def test_bad_input_raises_typed_errors(case):
    eng = case.make()
    with pytest.raises(EngineStateError, match="build"):
        eng.run(random_input(steps=3))
    with pytest.raises(WrongTypeError, match="SleepNetwork"):
        eng.build({"weights": []})
    net = random_network()
    net.weights[1] = np.zeros((15, 7))  # layer 1 has 20 outputs
    with pytest.raises(InvalidNetworkError, match="shape mismatch"):
        eng.build(net)
    eng.build(random_network())
    with pytest.raises(InvalidSpikesError, match="input spikes are for 31 inputs but the network has 30"):
        eng.run(random_input(n_inputs=31))
    with pytest.raises(InvalidSpikesError, match="input spikes are for 12 inputs"):
        eng.run(random_input(n_inputs=12))
    with pytest.raises(WrongTypeError, match="InputSpikes"):
        eng.run(np.ones((3, 30), dtype=bool))
    with pytest.raises(EngineOptionError, match="dtype"):
        case.make(dtype="float16")
    # refused input leaves the engine usable
    spikes = random_input(steps=50)
    _, ref = dense_run(random_network(), spikes)
    res = eng.run(spikes)
    assert_same_spikes(ref, res)
    assert_same_weights(ref, res, case.weight_tol)
