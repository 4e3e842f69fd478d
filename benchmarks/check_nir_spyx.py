"""A second NIR importer next to snnTorch: Spyx (JAX), run in an environment of its own.

Spyx cannot join the project's environment without growing it by JAX and Flax
(several hundred MB); it does not touch torch or numpy, so it runs beside it in a
separate virtual environment. Two steps, the first in the project's environment,
the second in Spyx's:

    python benchmarks/check_nir_spyx.py export OUT          # project .venv: graph, input, reference
    python3.11 -m venv /tmp/spyxenv
    /tmp/spyxenv/bin/pip install spyx==1.0.0 "numpy<2.3" nir==1.0.8
    /tmp/spyxenv/bin/python benchmarks/check_nir_spyx.py run OUT   # imports only numpy, nir, jax, spyx

``export`` writes the frozen 30-20-15-5 test network (``tests/conftest.py``) as a NIR
graph for Spyx's discretisation (``dt`` = 1 ms, forward Euler, float32: Spyx turns
``tau`` into ``beta = 1 - dt / tau``), 300 steps of input and the fast engine's float32
spikes. ``run`` imports the graph with ``spyx.nir.from_nir`` and compares layer by
layer. Spyx's ``LIF`` tests the threshold on the potential of the previous step and
resets by subtracting the threshold (``V <- beta V + x - s * threshold``), where the
sleep network resets to 0; the script shifts layer ``l`` by ``l - 1`` steps for the
first difference and shows that every spike before the first reset is equal, so what
differs is the reset, not the mapping.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def export(out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import snn
    from snn.export.nir import write_nir
    from tests.conftest import random_input, random_network

    out.mkdir(parents=True, exist_ok=True)
    net = random_network()
    net.inc = net.dec = 0.0
    spikes = random_input(steps=300)
    write_nir(out / "net.nir", net, dt=1e-3, leak="euler", threshold_precision="float32", overwrite=True)
    ref = snn.get_engine("fast", dtype="float32").build(net).run(spikes)
    np.savez(out / "data.npz", x=spikes.to_dense(), **{f"ref{l}": r.to_dense() for l, r in enumerate(ref.spikes)})
    print(f"wrote {out}: spikes per layer {[int(r.indices.size) for r in ref.spikes]}")


def run(out: Path) -> None:
    import jax
    import nir
    import spyx.nir

    data = np.load(out / "data.npz")
    graph = nir.read(out / "net.nir")
    x = data["x"].astype(np.float32)[:, None, :]  # (steps, batch 1, inputs)
    _, (_, states) = spyx.nir.from_nir(graph, x, dt=1e-3, return_all_states=True)
    potentials = [np.asarray(v)[:, 0, :] for v in jax.tree_util.tree_leaves(states)]
    steps = x.shape[0]
    print("layer   spyx  sleep engine  differing events  first differing step  equal before the first reset")
    first_reset = steps
    for l, v in enumerate(potentials, start=1):
        th = float(np.asarray(graph.nodes[f"lif{l}"].v_threshold)[0])
        # Spyx fires on the potential after the previous step: layer l runs l - 1 steps behind
        got = (v > th)[l - 1:]
        ref = data[f"ref{l}"].astype(bool)[: steps - (l - 1)]
        diff = got ^ ref
        first_diff = int(diff.any(1).argmax()) if diff.any() else None
        fired = np.flatnonzero(ref.any(1))
        first_reset = min(first_reset, int(fired[0]) if fired.size else steps)
        same_before = bool(np.array_equal(got[: first_reset + 1], ref[: first_reset + 1]))
        print(f"{l:>5} {int(got.sum()):>6} {int(ref.sum()):>13} {int(diff.sum()):>17} {str(first_diff):>21}  "
              f"{same_before} (steps 0-{first_reset})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=("export", "run"))
    p.add_argument("out", type=Path, help="folder for the graph, input and reference spikes")
    args = p.parse_args(argv)
    (export if args.step == "export" else run)(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
