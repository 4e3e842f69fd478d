"""Sleep of a trained CNN on the brian2 engine (tied kernels) against the fast engine, and how far
the untied rule (each position its own copy of the kernel) is from the tied one.

Trains ``ann.SleepCNN(channels=--channels)`` briefly on task 1 of the embedded MNIST subset,
converts it through the bridge (MNIST preset, ``beta`` per layer), and sleeps it for
``--steps`` steps, every layer learning (``kernel_update`` ``--mode``):

* brian2 (``--codegen``, the convolutions unrolled into synapses tied to one shared kernel,
  :mod:`snn.brian2.conv`) vs the fast engine: spikes per layer, differing (step, neuron) events,
  max |kernel difference|;
* untied vs tied, both on the fast engine: ``network.unrolled()`` (every window position owns
  its copy of the kernel and learns with the per-synapse rule; what Brian2 or PyNN would do
  without the tie) vs the network itself: spikes per layer, and per convolution the max over
  kernel entries of |mean over the copies - tied kernel entry| and of |tied change|.

    python benchmarks/bench_brian2_conv.py [--steps 200] [--channels 4 8] [--codegen numpy]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import ann
import bridge
import snn
from bridge.nir_check import compare_records
from bridge.sleep_input import make_input_spikes


def copies_mean(layer: snn.Conv2d, unrolled: np.ndarray) -> np.ndarray:
    """Mean over the window positions of each kernel entry's copies in an unrolled ``(n_out, n_in)`` matrix."""
    pre, widx = layer.receptive_field
    rows = np.broadcast_to(np.arange(layer.n_out).reshape(-1, 1), pre.shape)
    ok = pre >= 0
    n = np.bincount(widx[ok], minlength=int(np.prod(layer.weight_shape)))
    s = np.bincount(widx[ok], weights=unrolled[rows[ok], pre[ok]], minlength=n.size)
    return (s / np.maximum(n, 1)).reshape(layer.weight_shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--channels", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--beta", type=float, nargs="+", default=[2.0, 1.0, 2.0, 1.0, 2.0])
    ap.add_argument("--mode", default="sum", choices=["sum", "sequential"])
    ap.add_argument("--codegen", default="numpy")
    ap.add_argument("--skip-brian2", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tasks = ann.class_incremental_tasks(ann.load_mnist_subset(), [(0, 1)])
    model = ann.SleepCNN(channels=tuple(args.channels), generator=torch.Generator().manual_seed(0))
    ann.train_task(model, tasks[0].x_train, tasks[0].y_train, ann.TrainConfig(epochs=args.epochs), seed=0)
    params = bridge.preset("mnist").replace(beta=tuple(args.beta), kernel_update=args.mode)
    spec = bridge.build_sleep_network(model, tasks[0].x_train, params)
    net = spec.network
    spikes = make_input_spikes(spec.mean_image, params, args.steps, seed=3)
    print(f"SleepCNN channels {args.channels}, sizes {net.sizes}, {args.steps} steps, kernel_update {args.mode!r}, "
          f"gains {net.plasticity_gain.tolist()}")
    t0 = time.perf_counter()
    fast = snn.get_engine("fast").build(net.copy()).run(spikes)
    print(f"fast: {time.perf_counter() - t0:.1f} s")
    if not args.skip_brian2:
        t0 = time.perf_counter()
        b2 = snn.get_engine("brian2", codegen=args.codegen).build(net.copy()).run(spikes)
        print(f"\nbrian2 ({args.codegen}, tied kernels): {time.perf_counter() - t0:.1f} s (build + run)")
        print(f"{'layer':>8} {'fast spikes':>12} {'brian2 spikes':>14} {'differing events':>17} {'max |dw|':>10}")
        dws = [0.0] + [float(np.abs(a - b).max()) for a, b in zip(fast.weights, b2.weights)]
        for a, dw in zip(compare_records(fast.spikes, b2.spikes, net.layer_names), dws):
            print(f"{a.layer:>8} {a.n_a:>12} {a.n_b:>14} {a.n_diff:>17} {dw:>10.2e}")
    t0 = time.perf_counter()
    untied = snn.get_engine("fast").build(net.unrolled()).run(spikes)
    print(f"\nuntied (fast engine on network.unrolled(), plastic): {time.perf_counter() - t0:.1f} s")
    print(f"{'layer':>8} {'tied spikes':>12} {'untied spikes':>14} {'differing events':>17}")
    for a in compare_records(fast.spikes, untied.spikes, net.layer_names):
        print(f"{a.layer:>8} {a.n_a:>12} {a.n_b:>14} {a.n_diff:>17}")
    for l, layer in enumerate(net.layers):
        if layer.kind == "conv":
            mean = copies_mean(layer, untied.weights[l])
            spread = float(np.abs(mean - fast.weights[l]).max())
            change = float(np.abs(fast.weights[l] - net.weights[l]).max())
            print(f"{net.layer_names[l + 1]}: max |untied copies' mean - tied kernel| = {spread:.3e}; "
                  f"max |tied change| = {change:.3e}; max |kernel| = {float(np.abs(net.weights[l]).max()):.3e}")


if __name__ == "__main__":
    main()
