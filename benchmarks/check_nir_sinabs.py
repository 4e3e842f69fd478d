"""A second NIR importer next to snnTorch: Sinabs (SynSense, PyTorch), run in an environment of its own.

Sinabs 3.1.3 cannot join the project's environment: its metadata pins ``nir<=1.0.4``
(this package's export needs ``nir>=1.0.6``) and requires SynSense's ``samna``. Its
importer (``sinabs.nir``) runs with nir 1.0.8 and without samna, so it is installed
without its dependency list into a throwaway virtual environment (torch first):

    python benchmarks/check_nir_sinabs.py export OUT        # project .venv: graph, input, reference
    python3.11 -m venv /tmp/sinabsenv
    /tmp/sinabsenv/bin/pip install torch==2.13.0
    /tmp/sinabsenv/bin/pip install --no-deps sinabs==3.1.3
    /tmp/sinabsenv/bin/pip install pbr "numpy<2.3" nirtorch matplotlib nir==1.0.8
    /tmp/sinabsenv/bin/python benchmarks/check_nir_sinabs.py run OUT   # imports numpy, nir, torch, sinabs

``export`` writes the frozen 30-20-15-5 test network (``tests/conftest.py``) as a NIR
graph for Sinabs (``synapse="affine"``: Sinabs reads ``Affine``, not ``Linear``; ``dt``
= 1 step and ``leak="exp"``: Sinabs's ``LIFSqueeze`` decays by ``exp(-1 / tau)`` per
step with ``tau`` in steps; float32: Sinabs casts the weights to float32), 300 steps of
input and the fast engine's float32 spikes. ``run`` imports the graph with
``sinabs.from_nir`` and compares layer by layer, twice: as imported (Sinabs's
defaults: ``MultiSpike``, several spikes per step when ``v >= k * threshold``, and
``MembraneSubtract``, reset by subtracting the threshold per spike), and with the
imported layers switched to ``SingleSpike`` and ``MembraneReset`` (reset to 0: the
sleep network's neuron), which is the same network as the sleep engine's.
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
    write_nir(out / "net.nir", net, dt=1.0, leak="exp", synapse="affine", threshold_precision="float32",
              overwrite=True)
    ref = snn.get_engine("fast", dtype="float32").build(net).run(spikes)
    np.savez(out / "data.npz", x=spikes.to_dense(), decay=net.decay,
             **{f"ref{l}": r.to_dense() for l, r in enumerate(ref.spikes)})
    print(f"wrote {out}: spikes per layer {[int(r.indices.size) for r in ref.spikes]}")


def _layers(model, n_layers: int) -> list[tuple]:
    """(Affine as nn.Linear, LIF as LIFSqueeze) per layer, found by the graph's node names."""
    modules = dict(model.named_modules())
    found = []
    for l in range(1, n_layers + 1):
        fc = next(m for name, m in modules.items() if name.split(".")[-1] == f"fc{l}")
        lif = next(m for name, m in modules.items() if name.split(".")[-1] == f"lif{l}")
        found.append((fc, lif))
    return found


def _compare(label: str, layers: list[tuple], x, data) -> tuple[int, np.ndarray]:
    import torch

    print(f"{label}:")
    print("layer  sinabs  sleep engine  differing events  first differing step  spikes > 1 per step")
    h, total = x, 0
    with torch.no_grad():
        for l, (fc, lif) in enumerate(layers, start=1):
            lif.reset_states()
            h = lif(fc(h))
            got = h.numpy()
            ref = data[f"ref{l}"].astype(np.float32)
            diff = got != ref
            first = int(diff.any(1).argmax()) if diff.any() else None
            total += int(diff.sum())
            print(f"{l:>5} {int(got.sum()):>7} {int(ref.sum()):>13} {int(diff.sum()):>17} {str(first):>21}  "
                  f"{int((got > 1).sum()):>19}")
    return total, got


def run(out: Path) -> None:
    import nir
    import torch
    import sinabs
    from sinabs.activation import MembraneReset, SingleSpike

    torch.set_num_threads(1)
    data = np.load(out / "data.npz")
    graph = nir.read(out / "net.nir")
    n_layers = sum(1 for name in graph.nodes if name.startswith("lif"))
    x = torch.from_numpy(data["x"].astype(np.float32))  # (steps, inputs): batch 1, time folded into batch
    model = sinabs.from_nir(graph, batch_size=1)
    layers = _layers(model, n_layers)
    alphas = [float(lif.alpha_mem_calculated.detach().reshape(-1)[0]) for _, lif in layers]
    print(f"sinabs {sinabs.__version__}, nir {nir.__version__}, torch {torch.__version__}; "
          f"alpha_mem {alphas[0]!r} vs float32(decay) {float(np.float32(data['decay']))!r}")
    with torch.no_grad():
        whole = model(x)  # the graph as Sinabs runs it (nirtorch's executor): its output layer
    if isinstance(whole, tuple):  # nirtorch 2 returns (output, state)
        whole = whole[0]
    as_imported, last = _compare("as imported (MultiSpike, MembraneSubtract)", layers, x, data)
    print(f"  the imported graph's own output equals the last layer above: "
          f"{bool(np.array_equal(whole.numpy(), last))}")
    for _, lif in layers:
        lif.spike_fn, lif.reset_fn = SingleSpike, MembraneReset()
    reset0, _ = _compare("SingleSpike, MembraneReset (reset to 0, as the sleep network)", layers, x, data)
    print(f"differing events: {as_imported} as imported, {reset0} with reset to 0")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=("export", "run"))
    p.add_argument("out", type=Path, help="folder for the graph, input and reference spikes")
    args = p.parse_args(argv)
    (export if args.step == "export" else run)(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
