"""The SRC rule inside NEST: ``snn.nestmodule`` (``src_synapse``) and ``pynn.nest.native``.

Issue 27: the synapse replays the post spikes archived since its last pre spike when
the next one arrives (depression, or potentiation when the previous pre spike arrived
in the step the post neuron fired), then transmits ``alpha * W``; reading a weight
replays what is pending without changing the synapse. Checked here bit for bit against
the dense engine (a literal transcription of SRC_SPEC.md section 4) and on a
hand-made trace; the module is built once and cached under a lock, and a missing
compiler or header is named. The engine contract (``test_engine_contract.py``) runs
``pynn.nest.native`` through every shared check and both golden traces.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import snn.pynn as pe  # first: switches NEST's banner off before anything imports nest

import numpy as np
import pytest

with pe.quiet():
    import nest

import snn
from bridge.cli import main as cli_main
from snn.errors import EngineOptionError, NativeBuildError, ToolNotFoundError
from snn.nestmodule import SYNAPSE_MODEL, install
from snn.nestmodule.build import CACHE_ENV, build_key, build_module, cache_root
from snn.network import hebbian_rows

from .conftest import random_input, random_network

REPO = Path(__file__).resolve().parents[1]


def dense(net: snn.SleepNetwork, *inputs: snn.InputSpikes) -> list[snn.SleepResult]:
    eng = snn.get_engine("dense").build(net.copy())
    return [eng.run(x) for x in inputs]


def assert_equal_results(ref: snn.SleepResult, got: snn.SleepResult, tol: float = 1e-12) -> None:
    np.testing.assert_array_equal(got.counts, ref.counts)
    for a, b in zip(ref.spikes, got.spikes):
        assert a == b
    for a, b in zip(ref.weights, got.weights):
        assert np.abs(a - b).max() <= tol


# ------------------------------------------------------------------ the engine
@pytest.mark.parametrize("rule", ["reference", "plain"])
def test_native_gives_the_dense_engines_spikes_and_weights(rule):
    net = random_network(rule=rule)
    net.plasticity_gain = np.array([1.0, 0.0, 2.5])  # a frozen layer and a faster one
    spikes = random_input(steps=300)
    eng = snn.get_engine("pynn.nest.native").build(net.copy())
    got = eng.run(spikes)
    (ref,) = dense(net, spikes)
    assert ref.counts[:, 1:].sum() > 500  # a busy network: every branch of the rule is used
    assert_equal_results(ref, got)
    assert eng.name == "pynn.nest.native" and got.engine == "pynn.nest.native"
    assert np.array_equal(got.weights[1], net.weights[1])  # gain 0: unchanged


def test_two_nest_threads_give_the_same_sleep():
    """Connections live on their target's thread; each thread replays its own synapses
    and the bulk readout visits every thread."""
    net, spikes = random_network(), random_input(steps=150)
    got = snn.get_engine("pynn.nest.native", threads=2).build(net.copy()).run(spikes)
    (ref,) = dense(net, spikes)
    assert_equal_results(ref, got)


def test_weights_read_mid_sleep_replay_pending_updates_and_change_nothing():
    """A read is a flush of the synapse's view only: reading after 150 steps (through
    the module and through PyNN's Projection.get) gives the dense engine's weights
    of that moment, and the next 150 steps continue as if nothing had been read."""
    net = random_network()
    first, second = random_input(steps=150, seed=3), random_input(steps=150, seed=4)
    eng = snn.get_engine("pynn.nest.native").build(net.copy())
    got1 = eng.run(first)
    through_pynn = eng.simulator_weights()
    got2 = eng.run(second)
    ref1, ref2 = dense(net, first, second)
    assert_equal_results(ref1, got1)
    assert_equal_results(ref2, got2)
    for a, b in zip(ref1.weights, through_pynn):
        assert np.abs(a - b).max() <= 1e-15  # PyNN's 1e-3 scaling and back


def test_spikes_come_from_nest_recorders_as_neo():
    """The native mode records with NEST's spike_recorder (PyNN's get_data builds a Neo
    train per neuron, seconds per run on a large network); the Neo block has the
    layout of every engine's."""
    net, spikes = random_network(), random_input(steps=120)
    eng = snn.get_engine("pynn.nest.native").build(net.copy())
    got = eng.run(spikes)
    block = eng.neo_block
    assert block.annotations["recorded_by"] == "NEST spike_recorder"
    assert block.annotations["plasticity"] == "native"
    from snn.neo_export import spike_records_from_neo

    from_neo = spike_records_from_neo(block)
    for name, record in zip(net.layer_names, got.spikes):
        assert from_neo[name] == record


def test_engine_options_and_thresholds_are_checked_before_work():
    with pytest.raises(EngineOptionError, match="simulator='nest'"):
        snn.get_engine("pynn.brian2", plasticity="native")
    with pytest.raises(EngineOptionError, match="compiler= only applies"):
        snn.get_engine("pynn.nest", compiler="g++")
    net = random_network()
    net.threshold = np.array([1.0, 0.0, 0.6])
    for name, options in (("pynn.nest.native", {}), ("pynn.nest", {"plasticity": "frozen"})):
        with pytest.raises(EngineOptionError, match="thresholds > 0"):
            snn.get_engine(name, **options).build(net)


# ------------------------------------------------------------------ the synapse itself
def _micro_kernel():
    """One parrot (pre) onto one iaf_psc_delta (post) through src_synapse; the post
    neuron is made to fire by a strong driver. Returns (pre generator, driver, connection)."""
    nest.ResetKernel()
    nest.resolution = 1.0
    nest.verbosity = nest.VerbosityLevel.ERROR
    install(nest)
    pre_gen, drive = nest.Create("spike_generator"), nest.Create("spike_generator")
    pre = nest.Create("parrot_neuron")
    post = nest.Create("iaf_psc_delta", params={"V_th": 1.0, "V_reset": 0.0, "E_L": 0.0, "V_m": 0.0,
                                                 "tau_m": 1e30, "t_ref": 0.0, "C_m": 1.0})
    nest.Connect(pre_gen, pre, syn_spec={"delay": 1.0})
    nest.Connect(drive, post, syn_spec={"weight": 5.0, "delay": 1.0})
    nest.Connect(pre, post, syn_spec={"synapse_model": SYNAPSE_MODEL, "weight": -0.004, "alpha": 1e-3,
                                      "inc": 0.03, "dec": 0.003, "delay": 1.0})
    return pre_gen, drive, nest.GetConnections(pre, post), post


def test_lazy_replay_on_a_hand_made_trace():
    """NEST stamps a spike of the step ending at t with t. The pre spikes (parrot stamps
    3, 4, 8) arrive at the post neuron one step later; the post neuron fires at 5, 6, 7
    (driven). Post 5 coincides with the pre spike stamped 4, which arrived in that very
    step: potentiation; 6 and 7 see no pre spike: depression. Nothing changes the
    stored weight before the pre spike stamped 8 arrives, but every read replays what
    is pending."""
    pre_gen, drive, conn, post = _micro_kernel()
    rec = nest.Create("spike_recorder")
    nest.Connect(post, rec)
    pre_gen.spike_times = [2.0, 3.0, 7.0]  # parrot stamps 3, 4, 8
    drive.spike_times = [4.0, 5.0, 6.0]    # post stamps 5, 6, 7
    w0 = np.array([[-0.004]])

    def replay(w, post_stamps, pre_stamps=(3.0, 4.0, 8.0)):
        for T in post_stamps:
            w = hebbian_rows(w, np.array([T - 1.0 in pre_stamps]), 0.03, 0.003)
        return float(w[0, 0])

    nest.Simulate(6.0)  # post 5 and 6 happened, pending
    assert list(rec.events["times"]) == [5.0, 6.0]
    assert conn.get("weight") == replay(w0, [5.0, 6.0])
    nest.Simulate(6.0)
    assert list(rec.events["times"]) == [5.0, 6.0, 7.0]
    expected = replay(w0, [5.0, 6.0, 7.0])
    assert conn.get("weight") == expected
    potentiated = hebbian_rows(w0, np.array([True]), 0.03, 0.003)[0, 0]
    assert replay(w0, [5.0]) == potentiated > w0[0, 0] > replay(w0, [6.0])


def test_delays_other_than_one_step_are_refused():
    nest.ResetKernel()
    nest.resolution = 1.0
    install(nest)
    a, b = nest.Create("parrot_neuron"), nest.Create("iaf_psc_delta")
    with pytest.raises(nest.NESTError, match="exactly one simulation step"):
        nest.Connect(a, b, syn_spec={"synapse_model": SYNAPSE_MODEL, "delay": 2.0})


def test_setting_the_weight_drops_the_pending_post_spikes():
    pre_gen, drive, conn, post = _micro_kernel()
    drive.spike_times = [2.0, 4.0]  # post fires twice, no pre spike: two depressions pending
    nest.Simulate(8.0)
    pending = conn.get("weight")
    assert pending < -0.004
    conn.set(weight=-0.004)
    assert conn.get("weight") == -0.004  # the two post spikes are not replayed any more
    pre_gen.spike_times = [9.0]
    nest.Simulate(5.0)
    assert conn.get("weight") == -0.004  # nor when the next pre spike comes


# ------------------------------------------------------------------ building and caching
def fake_compiler(tmp_path: Path, body: str) -> Path:
    """An executable standing in for g++ (``--version`` answers; other calls run ``body``)."""
    path = tmp_path / "fake-g++"
    path.write_text(f"#!{sys.executable}\nimport sys, time, pathlib\nargs = sys.argv[1:]\n"
                    "if args == ['--version']:\n    print('fake-g++ 1.0'); sys.exit(0)\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def test_missing_compiler_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(ToolNotFoundError, match=r"C\+\+ compiler.*apt-get install g\+\+"):
        build_module(nest, compiler=str(tmp_path / "no-such-g++"))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-g++"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no g++ anywhere
    with pytest.raises(ToolNotFoundError, match="apt-get install g"):
        snn.get_engine("pynn.nest.native").build(random_network())


def test_missing_headers_are_named_and_other_failures_show_the_compiler(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    no_boost = fake_compiler(tmp_path, """
        sys.stderr.write('dictionary.h:39:10: fatal error: boost/type_index.hpp: No such file or directory\\n')
        sys.exit(1)
    """)
    with pytest.raises(ToolNotFoundError, match="boost/type_index.hpp.*apt-get install libboost-dev"):
        build_module(nest, compiler=str(no_boost))
    broken = fake_compiler(tmp_path, """
        sys.stderr.write('src_synapse.h:1:1: error: something else\\n')
        sys.exit(3)
    """)
    with pytest.raises(NativeBuildError, match="(?s)compiling.*exit 3.*something else"):
        build_module(nest, compiler=str(broken))
    assert not list((tmp_path / "cache").rglob("*.so"))  # nothing half-built is cached


def test_two_processes_build_once_and_share_the_module(tmp_path):
    log = tmp_path / "calls.log"
    slow = fake_compiler(tmp_path, f"""
        with open({str(log)!r}, 'a') as fh:
            fh.write(' '.join(args) + '\\n')
        time.sleep(2.0)
        pathlib.Path(args[args.index('-o') + 1]).write_bytes(b'module')
    """)
    code = ("import snn.pynn, nest; from snn.nestmodule.build import build_module; "
            f"print(build_module(nest, compiler={str(slow)!r}))")
    env = {**os.environ, CACHE_ENV: str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    paths = {o[0].strip().splitlines()[-1] for o in outs}
    assert len(paths) == 1
    calls = log.read_text().splitlines()
    assert sum("-c" in c.split() for c in calls) == 1 and sum("-shared" in c.split() for c in calls) == 1
    info = json.loads((Path(paths.pop()).parent / "build-info.json").read_text())
    assert info["compiler"] == str(slow) and info["compiler_version"] == "fake-g++ 1.0"


def test_cache_key_follows_nest_version_and_flags(tmp_path, monkeypatch):
    assert build_key("3.10.0", ["-O2"]) == build_key("3.10.0", ["-O2"])
    assert build_key("3.10.0", ["-O2"]) != build_key("3.11.0", ["-O2"])
    assert build_key("3.10.0", ["-O2"]) != build_key("3.10.0", ["-O3"])
    assert build_key("3.10.0", []).startswith("nest3.10.0-")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert cache_root() == tmp_path / "nest-module"


@pytest.mark.slow
def test_fresh_cache_builds_the_module_and_runs_the_sleep(tmp_path):
    """What `make test` does on a fresh machine: compile with the real g++ into an empty
    cache, load the module into NEST and sleep (in a subprocess: a second copy of the
    module cannot join this process's NEST)."""
    code = textwrap.dedent("""
        import numpy as np, snn.pynn, snn, sys
        sys.path.insert(0, '.')
        from tests.conftest import random_input, random_network
        net, spikes = random_network(), random_input(steps=100)
        got = snn.get_engine('pynn.nest.native').build(net.copy()).run(spikes)
        ref = snn.get_engine('dense').build(net.copy()).run(spikes)
        assert np.array_equal(got.counts, ref.counts)
        assert max(np.abs(a - b).max() for a, b in zip(got.weights, ref.weights)) <= 1e-12
        print('ok')
    """)
    env = {**os.environ, CACHE_ENV: str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
    assert "building NEST's src_synapse module once" in proc.stderr
    built = list((tmp_path / "cache" / "nest-module").glob("*/srcmodule.so"))
    assert len(built) == 1


@pytest.mark.slow
def test_conformance_command_passes_a_golden_trace(golden_dir, capsys):
    """The command with this engine on the smaller golden network (784-300-200-10): that the engine
    passes both traces is test_engine_contract.py::test_golden_trace[pynn.nest.native-*]."""
    trace = golden_dir / "mnist_5tasks_hot.npz"
    assert cli_main(["conformance", str(trace), "--engine", "pynn.nest.native"]) == 0
    assert "PASS" in capsys.readouterr().out
