"""The sleep network as a standalone PyNN model: a data file plus a script.

:func:`write_pynn_model` writes into a folder

* ``network.npz``: the network (NumPy ``.npz``, no pickles): weights
  ``alpha_l * W_l`` in mV, thresholds, ``tau_m``, ``dt``, layer names; with
  ``plasticity="native"`` also ``W_l`` itself and the Hebbian parameters;
* ``input.npz`` (optional): input spikes as ``(step, neuron)`` pairs;
* ``run_pynn.py``: a PyNN script that needs only NumPy and PyNN (not this
  package): standard ``IF_curr_delta`` cells, ``SpikeSourceArray`` input, two
  ``Projection`` objects per layer (excitatory / inhibitory) with a delay of one
  step, ``FromListConnector``; it writes the recorded spikes, shifted back to
  algorithm steps, to an ``.npz``. ``python run_pynn.py --simulator nest``.
* with ``plasticity="native"``: ``nest_module/`` holding the C++ sources of NEST's
  ``src_synapse`` (:mod:`snn.nestmodule`); the script compiles them with the
  system's ``g++`` on its first run (into ``nest_module/build/``), loads the module
  with ``nest.Install`` and connects the layers with PyNN's
  ``native_synapse_type("src_synapse")``: the whole plastic sleep runs inside NEST
  with plain PyNN, and the script writes the slept weights ``W_l`` next to the
  spikes (read through PyNN's ``Projection.get``, which replays the pending
  updates). On NEST only.

On NEST it reproduces the frozen network's spikes exactly (tested against the fast
engine with ``inc = dec = 0``). The pitfalls handled in the script are those of
``docs/pynn.md``: NEST's ``spike_precision="on_grid"`` (``iaf_psc_delta`` accepts
``tau_refrac = 0``), ``V_m`` set to 0 directly (PyNN 0.13's NEST ``IF_curr_delta``
ignores ``initialize(v=...)``), ``tau_m = -dt / ln(decay)`` so the exact leak of one
step is ``decay``, one step of delay per layer (layer ``l`` runs ``l`` steps behind
the input; the script shifts the recorded times back), spike generators off the
precise-time path on NEST, and PyNN's strict ``v > v_thresh`` on other back ends
(the data file holds the threshold nudged one float64 below for them; NEST's
``iaf_psc_delta`` fires on ``V_m >= V_th`` and gets the threshold itself). Other back
ends run the script but order a step differently (e.g. PyNN's Brian2 schedule tests
the threshold before the step's input arrives), so their spikes are close, not equal.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import EngineOptionError, InvalidSpikesError, OutputExistsError, WrongTypeError
from ..nestmodule.build import CXXFLAGS, SOURCES, source_dir
from ..network import W_SCALE, SleepNetwork
from ..spikes import InputSpikes, SpikeRecord
from ..atomic_io import atomic_write

#: value of the ``format`` entry of ``network.npz``
PYNN_FORMAT = "sleep-replay-pynn"
#: layout version of ``network.npz`` / ``input.npz`` / the script's output
PYNN_FORMAT_VERSION = 1
#: tau_m (ms) standing in for an infinite time constant (decay = 1): exp(-dt / 1e30) == 1.0
TAU_M_NO_LEAK_MS = 1e30
SCRIPT_NAME = "run_pynn.py"
NETWORK_NAME = "network.npz"
INPUT_NAME = "input.npz"
#: folder of the NEST module's C++ sources (native plasticity)
MODULE_FOLDER = "nest_module"
#: values of ``write_pynn_model(plasticity=...)``
PLASTICITY = ("frozen", "native")

#: the source of the standalone ``run_pynn.py`` that :func:`write_pynn_model` writes (NumPy and PyNN only)
SCRIPT = r'''#!/usr/bin/env python
"""Standalone PyNN model of an SRC sleep network (written by sleep-replay).

Needs only NumPy and PyNN with a back end (NEST 3 reproduces the sleep network's
spikes exactly; other back ends order a step differently). Usage:

    python run_pynn.py [--simulator nest] [--network network.npz] [--input input.npz]
                       [--steps N] [--out spikes.npz]

network.npz: format, format_version, dt_ms, tau_m_ms, sizes (L+1,), layer_names,
    threshold (L,) for '>=' (NEST), threshold_strict (L,) for '>' (other back ends),
    weights_<l> (n_l, n_(l-1)) alpha-scaled weights in mV, l = 1..L, (post, pre);
    plasticity "frozen" or "native"; native: alpha (L,), src_weights_<l> (the SRC
    weights W_l), inc (L,), dec (L,), w_scale (f(w)'s scale; inf: f = 1).
input.npz: n_steps, n_neurons, steps (k,), neurons (k,): input spike k fires at step steps[k].
spikes.npz (output): n_steps, sizes, layer_names, and per layer l = 0..L
    (input first) layer<l>_steps, layer<l>_neurons: the spikes at algorithm steps;
    native: weights_<l> (l = 1..L), the slept weights W_l (post, pre).

Native plasticity (NEST only): the SRC rule runs inside NEST in the synapse model
src_synapse of the extension module in nest_module/ (C++), compiled with the C++
compiler (CXX or g++; needs the Boost headers and ltdl.h: apt-get install g++
libboost-dev libltdl-dev) on the first run.

The model: one Population of IF_curr_delta per layer (v_rest = v_reset = 0 mV,
tau_refrac = 0, tau_m = -dt / ln(decay)), weights in mV, one step of delay per
Projection; so layer l handles algorithm step t in simulator step t + l (+ a constant
per back end; t + 2 l on Brian2, see --layer-latency), and the recorded times are shifted
back here.
"""
import argparse
import os
import sys
import warnings

import numpy as np

os.environ.setdefault("PYNEST_QUIET", "1")   # NEST's banner
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=UserWarning, module=r"(nest|pyNN)\b")

FORMAT = "sleep-replay-pynn"
FORMAT_VERSION = 1
CXXFLAGS = __CXXFLAGS__


def build_nest_module(folder, nest):
    """folder/build/srcmodule.so, compiled from folder/srcmodule.cpp if not there yet."""
    import shutil
    import subprocess

    out = os.path.join(folder, "build", "srcmodule.so")
    if os.path.exists(out):
        return out
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    if cxx is None:
        sys.exit("native plasticity compiles NEST's src_synapse: install a C++ compiler (apt-get install g++)")
    nest_dir = os.path.dirname(os.path.abspath(nest.__file__))
    kernel = [f for f in os.listdir(nest_dir) if f.startswith("nestkernel_api") and f.endswith(".so")]
    # PyPI's NEST wheel uses the old C++ string ABI (manylinux)
    old_abi = bool(kernel) and b"_ZN4nest13ModuleManager7installERKSs" in open(os.path.join(nest_dir, kernel[0]),
                                                                                   "rb").read()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    obj = out[:-3] + ".o"
    for cmd in ([cxx, *CXXFLAGS, f"-D_GLIBCXX_USE_CXX11_ABI={0 if old_abi else 1}",
                 "-I", os.path.join(nest_dir, "include", "nest"), "-c", os.path.join(folder, "srcmodule.cpp"),
                 "-o", obj], [cxx, "-shared", obj, "-o", out + ".tmp"]):
        print("compiling NEST's src_synapse:", " ".join(cmd), flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"compiling failed (Boost headers and ltdl.h: apt-get install libboost-dev libltdl-dev):\n"
                     f"{proc.stderr[-3000:]}")
    os.replace(out + ".tmp", out)
    return out


def load(path, kind):
    data = np.load(path, allow_pickle=False)
    if "format" not in data.files or str(data["format"]) != FORMAT:
        sys.exit(f"{path} is not a {FORMAT} {kind} file")
    if int(data["format_version"]) != FORMAT_VERSION:
        sys.exit(f"{path} has format_version {int(data['format_version'])}; this script reads {FORMAT_VERSION}")
    return data


def nest_pairs(prj):
    """The NEST connections of a PyNN projection and their (post, pre) indices (fetched
    anew: NEST reorders connections when a simulation starts)."""
    import nest

    connections = nest.GetConnections(prj.pre.node_collection, prj.post.node_collection,
                                      synapse_model=prj.nest_synapse_model, synapse_label=prj.nest_synapse_label)
    ends = connections.get(["source", "target"])
    return connections, prj.post.id_to_index(ends["target"]), prj.pre.id_to_index(ends["source"])


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--simulator", default="nest", help="PyNN back end: nest, brian2, neuron, ...")
    p.add_argument("--network", default=os.path.join(here, "network.npz"))
    p.add_argument("--input", default=os.path.join(here, "input.npz"))
    p.add_argument("--steps", type=int, default=None, help="steps to run (default: all input steps)")
    p.add_argument("--out", default="spikes.npz")
    p.add_argument("--layer-latency", type=int, default=None,
                   help="simulator steps from a layer's spike to the next layer's test of it (default: "
                        "1 on NEST; 2 on Brian2, whose PyNN schedule tests the threshold before delivery)")
    args = p.parse_args(argv)

    import importlib
    sim = importlib.import_module(f"pyNN.{args.simulator}")
    from pyNN.parameters import Sequence

    net = load(args.network, "network")
    inp = load(args.input, "input")
    dt = float(net["dt_ms"])
    sizes = [int(n) for n in net["sizes"]]
    names = [str(s) for s in net["layer_names"]]
    L = len(sizes) - 1
    n_steps = int(inp["n_steps"]) if args.steps is None else args.steps
    if int(inp["n_neurons"]) != sizes[0]:
        sys.exit(f"input is for {int(inp['n_neurons'])} neurons, the network has {sizes[0]} inputs")
    nest_like = args.simulator == "nest"
    native = "plasticity" in net.files and str(net["plasticity"]) == "native"
    if native and not nest_like:
        sys.exit("this network's plasticity runs inside NEST (src_synapse): use --simulator nest")
    # NEST stamps a spike of step k with (k + 1) dt, the others with k dt
    stamp = 1 if nest_like else 0
    latency = args.layer_latency or (2 if args.simulator == "brian2" else 1)
    extra = {"spike_precision": "on_grid"} if nest_like else {}   # iaf_psc_delta: tau_refrac = 0 allowed
    sim.setup(timestep=dt, min_delay=dt, max_delay=10 * dt, **extra)
    if native:
        import nest

        module = build_nest_module(os.path.join(here, "nest_module"), nest)
        nest.Install(module[:-3])   # after setup(), which resets NEST's kernel

    # input: algorithm step g fires in simulator step 1 + g
    steps, neurons = np.asarray(inp["steps"]), np.asarray(inp["neurons"])
    keep = steps < n_steps
    steps, neurons = steps[keep], neurons[keep]
    times = [(np.sort(steps[neurons == i]) + 1 + stamp) * dt for i in range(sizes[0])]
    source = sim.Population(sizes[0], sim.SpikeSourceArray(spike_times=[Sequence([]) for _ in times]),
                            label=names[0])
    if nest_like and hasattr(source, "node_collection_source"):
        # PyNN's spike generators use precise_times=True: a time a rounding error above a
        # grid point would fire one step late; without it NEST rounds to the grid (NEST
        # accepts the option only before spike times are set)
        source.node_collection_source.set(precise_times=False)
    source.set(spike_times=[Sequence(t) for t in times])
    pops = [source]
    projections = []
    threshold = net["threshold"] if nest_like else net["threshold_strict"]   # NEST: V_m >= V_th; PyNN: v > v_thresh
    for l in range(1, L + 1):
        cell = sim.IF_curr_delta(tau_m=float(net["tau_m_ms"]), v_rest=0.0, v_reset=0.0,
                                 v_thresh=float(threshold[l - 1]), tau_refrac=0.0, cm=1.0, i_offset=0.0)
        pop = sim.Population(sizes[l], cell, initial_values={"v": 0.0}, label=names[l])
        if nest_like:
            # PyNN 0.13 cannot set V_m of IF_curr_delta on NEST (initialize only logs a
            # warning and V_m would start at NEST's -70 mV)
            pop.node_collection.set(V_m=0.0)
        w = np.asarray(net[f"weights_{l}"], dtype=np.float64)          # (post, pre), mV
        # native: src_synapse holds W itself and transmits alpha * W (mV)
        values = np.asarray(net[f"src_weights_{l}"], dtype=np.float64) if native else w
        prjs = []
        # frozen: zero weights are left out; native: they are kept (plasticity moves them)
        for receptor, mask in (("excitatory", w >= 0 if native else w > 0), ("inhibitory", w < 0)):
            post, pre = np.nonzero(mask)
            if pre.size == 0:
                continue
            order = np.lexsort((post, pre))
            pre, post = pre[order], post[order]
            conns = np.column_stack([pre, post, values[post, pre], np.full(pre.size, dt)])
            synapse = sim.StaticSynapse() if not native else sim.native_synapse_type("src_synapse")(
                alpha=float(net["alpha"][l - 1]), inc=float(net["inc"][l - 1]), dec=float(net["dec"][l - 1]),
                w_scale=float(net["w_scale"]))
            prj = sim.Projection(pops[-1], pop, sim.FromListConnector(conns, column_names=["weight", "delay"]),
                                 synapse, receptor_type=receptor, label=f"{names[l - 1]}->{names[l]} {receptor}")
            if native:
                # PyNN 0.13 multiplies a native synapse's weights by 1e-3 (its nA -> pA scaling) when
                # connecting and reading; W goes in and out bit for bit through the NEST connections
                connections, post_i, pre_j = nest_pairs(prj)
                connections.set(weight=values[post_i, pre_j].tolist())
            prjs.append(prj)
        pops.append(pop)
        projections.append(prjs)
    for pop in pops:
        pop.record("spikes")
    # extra steps let the deepest layer finish the last input step
    sim.run((n_steps + latency * L + 2) * dt)

    out = {"format": FORMAT, "format_version": FORMAT_VERSION, "n_steps": n_steps,
           "sizes": np.asarray(sizes), "layer_names": np.asarray(names)}
    for l, pop in enumerate(pops):
        all_steps, all_neurons = [], []
        for st in pop.get_data("spikes").segments[0].spiketrains:
            i = int(st.annotations["source_index"])
            g = np.rint(np.asarray(st.magnitude, dtype=np.float64) / dt).astype(np.int64) - (1 + latency * l + stamp)
            g = g[(g >= 0) & (g < n_steps)]
            all_steps.append(g)
            all_neurons.append(np.full(g.size, i, dtype=np.int64))
        s = np.concatenate(all_steps) if all_steps else np.zeros(0, np.int64)
        n = np.concatenate(all_neurons) if all_neurons else np.zeros(0, np.int64)
        order = np.lexsort((n, s))
        out[f"layer{l}_steps"], out[f"layer{l}_neurons"] = s[order], n[order]
        print(f"{names[l]}: {s.size} spikes")
    if native:
        for l, prjs in enumerate(projections, start=1):
            w = np.zeros((sizes[l], sizes[l - 1]))
            for prj in prjs:
                # reading a src_synapse's weight replays its pending updates (the flush)
                connections, post_i, pre_j = nest_pairs(prj)
                w[post_i, pre_j] = np.asarray(connections.get("weight"), dtype=np.float64)
            out[f"weights_{l}"] = w
    sim.end()
    np.savez(args.out, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def _savez(path: Path, arrays: dict, overwrite: bool) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    return atomic_write(path, write, overwrite=overwrite)


def network_arrays(network: SleepNetwork, plasticity: str = "frozen") -> dict[str, np.ndarray]:
    """The arrays of ``network.npz`` (layout: the script's docstring, :data:`SCRIPT`);
    ``plasticity="native"`` adds ``W_l`` and the Hebbian parameters per layer."""
    tau = network.tau_m_ms if math.isfinite(network.tau_m_ms) else TAU_M_NO_LEAK_MS
    arrays = {
        "format": np.asarray(PYNN_FORMAT), "format_version": np.asarray(PYNN_FORMAT_VERSION),
        "dt_ms": np.asarray(float(network.dt_ms)), "tau_m_ms": np.asarray(float(tau)),
        "decay": np.asarray(float(network.decay)), "sizes": np.asarray(network.sizes, dtype=np.int64),
        "layer_names": np.asarray(network.layer_names), "threshold": network.threshold.astype(np.float64),
        "threshold_strict": np.nextafter(network.threshold.astype(np.float64), -np.inf),
        "alpha": network.alpha.astype(np.float64), "plasticity": np.asarray(plasticity),
    }
    for l, w in enumerate(network.weights, start=1):
        arrays[f"weights_{l}"] = network.alpha[l - 1] * np.asarray(w, dtype=np.float64)
    if plasticity == "native":
        amplitudes = np.array([network.amplitudes(l) for l in range(network.n_layers)], dtype=np.float64)
        arrays.update({f"src_weights_{l}": np.asarray(w, dtype=np.float64) for l, w in enumerate(network.weights, 1)})
        arrays.update({"inc": amplitudes[:, 0], "dec": amplitudes[:, 1],
                       "w_scale": np.asarray(math.inf if network.rule == "plain" else W_SCALE)})
    return arrays


def input_arrays(spikes: SpikeRecord) -> dict[str, np.ndarray]:
    """The arrays of ``input.npz``."""
    return {"format": np.asarray(PYNN_FORMAT), "format_version": np.asarray(PYNN_FORMAT_VERSION),
            "n_steps": np.asarray(spikes.steps), "n_neurons": np.asarray(spikes.n_neurons),
            "steps": spikes.steps_of_spikes.astype(np.int64), "neurons": spikes.indices.astype(np.int64)}


def write_pynn_model(folder: str | os.PathLike, network: SleepNetwork, input_spikes: InputSpikes | None = None,
                     *, plasticity: str = "frozen", overwrite: bool = False) -> dict[str, Path]:
    """Write ``network.npz``, ``run_pynn.py`` and (if given) ``input.npz`` into
    ``folder`` (created if needed).

    plasticity: ``"frozen"`` (default: the current weights, no plasticity; any
        PyNN back end) or ``"native"`` (NEST only: the SRC rule inside NEST, in the
        synapse model ``src_synapse``, whose C++ sources go to ``nest_module/``; the
        script compiles them on its first run and writes the slept weights).

    Returns the paths written, by name. Raises
    :class:`~snn.errors.OutputExistsError` if one of the files exists and not
    ``overwrite`` (nothing is written then).
    """
    if not isinstance(network, SleepNetwork):
        raise WrongTypeError(f"write_pynn_model() needs a SleepNetwork, got {type(network).__name__}")
    if plasticity not in PLASTICITY:
        raise EngineOptionError(f"plasticity must be one of {PLASTICITY}, got {plasticity!r}")
    network.validate()
    network.require_dense("write_pynn_model()")
    if input_spikes is not None:
        if not isinstance(input_spikes, SpikeRecord):
            raise WrongTypeError(f"input_spikes must be InputSpikes, got {type(input_spikes).__name__}")
        if input_spikes.n_neurons != network.sizes[0]:
            raise InvalidSpikesError(f"input spikes are for {input_spikes.n_neurons} inputs, the network has "
                                 f"{network.sizes[0]}")
    folder = Path(folder)
    names = [NETWORK_NAME, SCRIPT_NAME] + ([INPUT_NAME] if input_spikes is not None else [])
    names += [f"{MODULE_FOLDER}/{n}" for n in SOURCES] if plasticity == "native" else []
    existing = [n for n in names if (folder / n).exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{folder} already holds {existing}; pass overwrite=True to replace them")
    out = {"network": _savez(folder / NETWORK_NAME, network_arrays(network, plasticity), True)}
    script = SCRIPT.replace("__CXXFLAGS__", repr(list(CXXFLAGS)))
    out["script"] = atomic_write(folder / SCRIPT_NAME, lambda tmp: tmp.write_text(script), overwrite=True)
    if input_spikes is not None:
        out["input"] = _savez(folder / INPUT_NAME, input_arrays(input_spikes), True)
    if plasticity == "native":
        (folder / MODULE_FOLDER).mkdir(exist_ok=True)
        for name in SOURCES:
            text = (source_dir() / name).read_text()
            out[name] = atomic_write(folder / MODULE_FOLDER / name, lambda tmp, t=text: tmp.write_text(t),
                                     overwrite=True)
    return out


def read_pynn_weights(path: str | os.PathLike) -> list[np.ndarray]:
    """The slept weights ``W_l`` (``(n_l, n_{l-1})``) the script wrote (``--out``) for a
    network exported with ``plasticity="native"``."""
    data = np.load(path, allow_pickle=False)
    L = len(data["sizes"]) - 1
    missing = [l for l in range(1, L + 1) if f"weights_{l}" not in data.files]
    if missing:
        raise InvalidSpikesError(f"{path} holds no weights (the network was exported with plasticity='frozen')")
    return [np.asarray(data[f"weights_{l}"], dtype=np.float64) for l in range(1, L + 1)]


def read_pynn_spikes(path: str | os.PathLike) -> list[SpikeRecord]:
    """The spikes the script wrote (``--out``), one :class:`~snn.spikes.SpikeRecord`
    per layer, input first."""
    data = np.load(path, allow_pickle=False)
    n_steps = int(data["n_steps"])
    sizes = [int(n) for n in data["sizes"]]
    return [SpikeRecord.from_events(n, n_steps, data[f"layer{l}_steps"], data[f"layer{l}_neurons"])
            for l, n in enumerate(sizes)]


__all__ = ["PLASTICITY", "PYNN_FORMAT", "PYNN_FORMAT_VERSION", "SCRIPT", "input_arrays", "network_arrays",
           "read_pynn_spikes", "read_pynn_weights", "write_pynn_model"]
