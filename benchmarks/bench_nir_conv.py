"""NIR export of a trained CNN checked in snnTorch: its spikes vs the frozen fast engine.

Trains ``ann.SleepCNN`` (default: conv 16 5x5 - avgpool 2 - conv 32 5x5 - avgpool 2 - fc 10)
briefly on task 1 of the embedded MNIST subset (``--epochs``), converts it through the
bridge with the MNIST preset (``beta`` per layer: ``--beta``), writes the frozen network as
a NIR file for snnTorch (``write_nir(..., target="snntorch")``: Conv2d, a channel-map Conv2d
per pooling layer, Flatten, Linear, LIF), reads it back, imports it with
``snntorch.import_from_nir`` and runs it for ``--steps`` steps on the sleep input. Prints,
per layer, the spikes of the fast engine (float32, snnTorch's precision) and the number
of (step, neuron) events in one record only; then the same with ``pool="avgpool"``.

    python benchmarks/bench_nir_conv.py [--steps 300] [--epochs 2] [--channels 16 32]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ann
import bridge
import snn
from bridge.nir_check import compare_records, run_snntorch
from bridge.sleep_input import make_input_spikes
from snn.export.nir import read_nir, write_nir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--channels", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--beta", type=float, nargs="+", default=[2.0, 1.0, 2.0, 1.0, 2.0])
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tasks = ann.class_incremental_tasks(ann.load_mnist_subset(), [(0, 1)])
    model = ann.SleepCNN(channels=tuple(args.channels), generator=torch.Generator().manual_seed(0))
    ann.train_task(model, tasks[0].x_train, tasks[0].y_train, ann.TrainConfig(epochs=args.epochs), seed=0)
    params = bridge.preset("mnist").replace(beta=tuple(args.beta))
    spec = bridge.build_sleep_network(model, tasks[0].x_train, params)
    net = spec.network.copy()
    net.plasticity_gain = np.zeros(net.n_layers)
    spikes = make_input_spikes(spec.mean_image, params, args.steps, seed=args.seed)
    ref = snn.get_engine("fast", dtype="float32").build(net).run(spikes).spikes
    print(f"SleepCNN channels {args.channels}, {args.epochs} epochs; layers {net.layer_names[1:]}, "
          f"sizes {net.sizes}; {args.steps} steps")
    for pool in ("conv", "avgpool"):
        with tempfile.TemporaryDirectory() as tmp:
            graph = read_nir(write_nir(Path(tmp) / "cnn.nir", net, target="snntorch", pool=pool))
        t0 = time.perf_counter()
        got = run_snntorch(graph, spikes)
        wall = time.perf_counter() - t0
        print(f"\npool={pool!r}: snnTorch {wall:.1f} s ({args.steps / wall:.1f} steps/s)")
        print(f"{'layer':>8} {'engine spikes':>14} {'snnTorch spikes':>16} {'differing events':>17}")
        for a in compare_records(ref, got, net.layer_names):
            print(f"{a.layer:>8} {a.n_a:>14} {a.n_b:>16} {a.n_diff:>17}")


if __name__ == "__main__":
    main()
