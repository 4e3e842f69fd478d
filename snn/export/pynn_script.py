"""The frozen sleep network as a standalone PyNN model: a data file plus a script.

:func:`write_pynn_model` writes into a folder

* ``network.npz``: the frozen network (NumPy ``.npz``, no pickles): weights
  ``alpha_l * W_l`` in mV, thresholds, ``tau_m``, ``dt``, layer names;
* ``input.npz`` (optional): input spikes as ``(step, neuron)`` pairs;
* ``run_pynn.py``: a PyNN script that needs only NumPy and PyNN (not this
  package): standard ``IF_curr_delta`` cells, ``SpikeSourceArray`` input, two
  ``Projection`` objects per layer (excitatory / inhibitory) with a delay of one
  step, ``FromListConnector``; it writes the recorded spikes, shifted back to
  algorithm steps, to an ``.npz``. ``python run_pynn.py --simulator nest``.

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

from ..errors import InvalidSpikesError, OutputExistsError, OutputPathError, WrongTypeError
from ..network import SleepNetwork
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

SCRIPT = r'''#!/usr/bin/env python
"""Standalone PyNN model of a frozen SRC sleep network (written by sleep-replay).

Needs only NumPy and PyNN with a back end (NEST 3 reproduces the sleep network's
spikes exactly; other back ends order a step differently). Usage:

    python run_pynn.py [--simulator nest] [--network network.npz] [--input input.npz]
                       [--steps N] [--out spikes.npz]

network.npz: format, format_version, dt_ms, tau_m_ms, sizes (L+1,), layer_names,
    threshold (L,) for '>=' (NEST), threshold_strict (L,) for '>' (other back ends),
    weights_<l> (n_l, n_(l-1)) alpha-scaled weights in mV, l = 1..L, (post, pre).
input.npz: n_steps, n_neurons, steps (k,), neurons (k,): input spike k fires at step steps[k].
spikes.npz (output): n_steps, sizes, layer_names, and per layer l = 0..L
    (input first) layer<l>_steps, layer<l>_neurons: the spikes at algorithm steps.

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


def load(path, kind):
    data = np.load(path, allow_pickle=False)
    if "format" not in data.files or str(data["format"]) != FORMAT:
        sys.exit(f"{path} is not a {FORMAT} {kind} file")
    if int(data["format_version"]) != FORMAT_VERSION:
        sys.exit(f"{path} has format_version {int(data['format_version'])}; this script reads {FORMAT_VERSION}")
    return data


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
    try:
        sim = importlib.import_module(f"pyNN.{args.simulator}")
    except ImportError as exc:
        p.error(f"--simulator {args.simulator}: cannot import pyNN.{args.simulator} ({exc}); PyNN back ends "
                "include nest, brian2 and neuron (each needs its simulator installed)")
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
    # NEST stamps a spike of step k with (k + 1) dt, the others with k dt
    stamp = 1 if nest_like else 0
    latency = args.layer_latency or (2 if args.simulator == "brian2" else 1)
    extra = {"spike_precision": "on_grid"} if nest_like else {}   # iaf_psc_delta: tau_refrac = 0 allowed
    sim.setup(timestep=dt, min_delay=dt, max_delay=10 * dt, **extra)

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
        for receptor, mask in (("excitatory", w > 0), ("inhibitory", w < 0)):
            post, pre = np.nonzero(mask)
            if pre.size == 0:
                continue
            order = np.lexsort((post, pre))
            pre, post = pre[order], post[order]
            conns = np.column_stack([pre, post, w[post, pre], np.full(pre.size, dt)])
            sim.Projection(pops[-1], pop, sim.FromListConnector(conns, column_names=["weight", "delay"]),
                           sim.StaticSynapse(), receptor_type=receptor, label=f"{names[l - 1]}->{names[l]} {receptor}")
        pops.append(pop)
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


def network_arrays(network: SleepNetwork) -> dict[str, np.ndarray]:
    """The arrays of ``network.npz`` (layout: the script's docstring, :data:`SCRIPT`)."""
    tau = network.tau_m_ms if math.isfinite(network.tau_m_ms) else TAU_M_NO_LEAK_MS
    arrays = {
        "format": np.asarray(PYNN_FORMAT), "format_version": np.asarray(PYNN_FORMAT_VERSION),
        "dt_ms": np.asarray(float(network.dt_ms)), "tau_m_ms": np.asarray(float(tau)),
        "decay": np.asarray(float(network.decay)), "sizes": np.asarray(network.sizes, dtype=np.int64),
        "layer_names": np.asarray(network.layer_names), "threshold": network.threshold.astype(np.float64),
        "threshold_strict": np.nextafter(network.threshold.astype(np.float64), -np.inf),
        "alpha": network.alpha.astype(np.float64),
    }
    for l, w in enumerate(network.weights, start=1):
        arrays[f"weights_{l}"] = network.alpha[l - 1] * np.asarray(w, dtype=np.float64)
    return arrays


def input_arrays(spikes: SpikeRecord) -> dict[str, np.ndarray]:
    """The arrays of ``input.npz``."""
    return {"format": np.asarray(PYNN_FORMAT), "format_version": np.asarray(PYNN_FORMAT_VERSION),
            "n_steps": np.asarray(spikes.steps), "n_neurons": np.asarray(spikes.n_neurons),
            "steps": spikes.steps_of_spikes.astype(np.int64), "neurons": spikes.indices.astype(np.int64)}


def write_pynn_model(folder: str | os.PathLike, network: SleepNetwork, input_spikes: InputSpikes | None = None,
                     *, overwrite: bool = False) -> dict[str, Path]:
    """Write ``network.npz``, ``run_pynn.py`` and (if given) ``input.npz`` into
    ``folder`` (created if needed). The network is frozen: the current weights are
    written, the Hebbian plasticity is not (PyNN's standard plasticity cannot
    express the SRC rule; see ``docs/pynn.md``).

    Returns the paths written, by name. Raises
    :class:`~snn.errors.OutputExistsError` if one of the files exists and not
    ``overwrite`` (nothing is written then).
    """
    if not isinstance(network, SleepNetwork):
        raise WrongTypeError(f"write_pynn_model() needs a SleepNetwork, got {type(network).__name__}")
    network.validate()
    if input_spikes is not None:
        if not isinstance(input_spikes, SpikeRecord):
            raise WrongTypeError(f"input_spikes must be InputSpikes, got {type(input_spikes).__name__}")
        if input_spikes.n_neurons != network.sizes[0]:
            raise InvalidSpikesError(f"input spikes are for {input_spikes.n_neurons} inputs, the network has "
                                 f"{network.sizes[0]}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{folder} is a file; write_pynn_model() writes several files into a folder: "
                              "name a folder (it is created if needed)")
    names = [NETWORK_NAME, SCRIPT_NAME] + ([INPUT_NAME] if input_spikes is not None else [])
    existing = [n for n in names if (folder / n).exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{folder} already holds {existing}; pass overwrite=True to replace them")
    out = {"network": _savez(folder / NETWORK_NAME, network_arrays(network), True)}
    out["script"] = atomic_write(folder / SCRIPT_NAME, lambda tmp: tmp.write_text(SCRIPT), overwrite=True)
    if input_spikes is not None:
        out["input"] = _savez(folder / INPUT_NAME, input_arrays(input_spikes), True)
    return out


def read_pynn_spikes(path: str | os.PathLike) -> list[SpikeRecord]:
    """The spikes the script wrote (``--out``), one :class:`~snn.spikes.SpikeRecord`
    per layer, input first."""
    data = np.load(path, allow_pickle=False)
    n_steps = int(data["n_steps"])
    sizes = [int(n) for n in data["sizes"]]
    return [SpikeRecord.from_events(n, n_steps, data[f"layer{l}_steps"], data[f"layer{l}_neurons"])
            for l, n in enumerate(sizes)]


__all__ = ["PYNN_FORMAT", "PYNN_FORMAT_VERSION", "SCRIPT", "input_arrays", "network_arrays", "read_pynn_spikes",
           "write_pynn_model"]
