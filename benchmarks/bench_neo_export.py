"""Time of the Neo export of a sleep with every spike recorded.

Trains the reference 784-1200-1200-10 network on the first two tasks of the
embedded MNIST subset, sleeps it for ``--steps`` steps (default 20,000) with
the fast engine and the paper's MNIST hyperparameters, recording every spike,
and prints

* the time of ``SleepResult.to_neo()`` (every neuron of every layer; best of 3),
* the time of a subset export (``--subset`` neurons of one hidden layer),
* the time to write the full Block and the subset to ``.nix`` files.

Run against another checkout (e.g. the code before a change) with
``PYTHONPATH=/path/to/checkout python benchmarks/bench_neo_export.py``.

    python benchmarks/bench_neo_export.py [--steps 20000] [--subset 50]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--subset", type=int, default=50, help="neurons of hidden1 in the subset export")
    p.add_argument("--no-nix", action="store_true", help="skip the .nix writes")
    args = p.parse_args()

    import numpy as np
    import torch

    import bridge
    from ann import SleepMLP, TrainConfig, class_incremental_tasks, load_mnist_subset, train_task
    from snn.neo_export import write_neo

    tasks = class_incremental_tasks(load_mnist_subset())[:2]
    model = SleepMLP((784, 1200, 1200, 10), generator=torch.Generator().manual_seed(0))
    for k, t in enumerate(tasks):
        train_task(model, t.x_train, t.y_train, TrainConfig(epochs=2), seed=k)
    seen = np.concatenate([t.x_train for t in tasks])
    outcome = bridge.sleep(model, seen, bridge.preset("mnist"), steps=args.steps, seed=1, record_spikes=True)
    result = outcome.result
    n_spikes = sum(int(r.indices.size) for r in result.spikes)
    n_neurons = sum(int(r.n_neurons) for r in result.spikes)
    code = os.path.dirname(os.path.dirname(os.path.abspath(bridge.__file__)))
    print(f"sleep of {args.steps} steps, 784-1200-1200-10 (code in {code}): {n_spikes} spikes of {n_neurons} neurons "
          f"(per layer {[int(r.indices.size) for r in result.spikes]})")
    t_full, block = best_of(result.to_neo, 3)
    print(f"  to_neo(), every neuron:           {t_full:.3f} s ({len(block.segments[0].spiketrains)} trains)")
    subset = {"hidden1": list(range(args.subset))}
    t_sub, sub_block = best_of(lambda: result.to_neo(neurons=subset), 3)
    print(f"  to_neo(neurons={{hidden1: {args.subset}}}): {t_sub:.3f} s "
          f"({len(sub_block.segments[0].spiketrains)} trains)")
    if not args.no_nix:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_neo(result.to_neo(), Path(tmp) / "all.nix")
            t_nix = time.perf_counter() - t0
            size = (Path(tmp) / "all.nix").stat().st_size
            print(f"  to_neo() + write .nix, every neuron: {t_nix:.2f} s ({size / 2**20:.1f} MB)")
            t0 = time.perf_counter()
            write_neo(result.to_neo(neurons=subset), Path(tmp) / "subset.nix")
            t_nix_sub = time.perf_counter() - t0
            size = (Path(tmp) / "subset.nix").stat().st_size
            print(f"  to_neo(subset) + write .nix:         {t_nix_sub:.2f} s ({size / 2**20:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
