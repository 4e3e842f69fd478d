"""Speed of the fast engine on a CNN, against the same network unrolled to dense weights.

Trains the issue's CNN (``ann.SleepCNN()``: conv 16 5x5 - avgpool 2 - conv 32 5x5 - avgpool 2 -
fc 10, bias-free) on the first task of the embedded MNIST subset, converts it (thresholds
calibrated to the MNIST preset's firing rates, ``bridge.calibrate``, unless ``--preset`` names a
preset file with five thresholds) and sleeps it on the masked mean image. Timed, single-threaded,
from the same start:

* ``fast`` on the convolutional network (event-driven convolution, shared kernels);
* ``fast`` on ``network.unrolled()``: every layer as a dense weight matrix (the fast engine's
  dense-weight path; ~34 M weights). Frozen (plasticity gain 0), it must give the same spikes as
  the convolutional network; plastic, its untied copies learn differently, so only speed compares;
* ``dense`` (the NumPy oracle) on the convolutional network, a few steps, checked equal to ``fast``.

Prints steps/s for each, frozen and plastic, for the kernel update ``--kernel-update``.

    python benchmarks/bench_conv_engine.py [--steps 5000] [--unrolled-steps 500] [--dense-steps 100]
        [--kernel-update sum|sequential] [--preset FILE]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import bridge
import snn
from ann import SleepCNN, TrainConfig, class_incremental_tasks, load_mnist_subset, train_task


def trained_network(preset: str | None, kernel_update: str) -> tuple:
    task = class_incremental_tasks(load_mnist_subset(), [(0, 1)])[0]
    model = SleepCNN(generator=torch.Generator().manual_seed(0))
    train_task(model, task.x_train, task.y_train, TrainConfig(epochs=17), seed=0)
    if preset:
        params, how = bridge.params.preset_or_file(preset), f"preset {preset}"
    else:
        cal = bridge.calibrate(model, task.x_train, bridge.preset("mnist"))
        params = cal.params
        how = f"MNIST preset, thresholds calibrated (rates {', '.join(f'{r:.0f}' for r in cal.rates_hz)} Hz)"
    params = params.replace(kernel_update=kernel_update)
    spec = bridge.build_sleep_network(model, task.x_train, params)
    return spec.network, spec.mean_image, params, how


def timed(engine: str, network: snn.SleepNetwork, spikes: snn.InputSpikes) -> tuple[snn.SleepResult, float]:
    eng = snn.get_engine(engine, record_spikes=False).build(network.copy())
    eng.run(spikes.slice_steps(0, min(5, spikes.steps)))  # compile / load the numba cache
    eng = snn.get_engine(engine, record_spikes=False).build(network.copy())
    t0 = time.perf_counter()
    result = eng.run(spikes)
    return result, spikes.steps / (time.perf_counter() - t0)


def frozen(network: snn.SleepNetwork) -> snn.SleepNetwork:
    net = network.copy()
    net.plasticity_gain = np.zeros(net.n_layers)
    return net


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5000, help="steps timed on the convolutional network")
    p.add_argument("--unrolled-steps", type=int, default=500, help="steps timed on the unrolled dense network")
    p.add_argument("--dense-steps", type=int, default=100, help="steps of the dense oracle (checked equal)")
    p.add_argument("--kernel-update", default="sum", choices=snn.KERNEL_UPDATES)
    p.add_argument("--preset", help="a sleep preset file (five thresholds); default: calibrated thresholds")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    network, mean, params, how = trained_network(args.preset, args.kernel_update)
    n = max(args.steps, args.unrolled_steps, args.dense_steps)
    spikes = bridge.make_input_spikes(mean, params, n, seed=1)
    unrolled = network.unrolled()
    print(f"network {' - '.join(f'{name} {size}' for name, size in zip(network.layer_names, network.sizes))}")
    print(f"{how}; kernel update {args.kernel_update}; float64, single-threaded; unrolled: "
          f"{sum(w.size for w in unrolled.weights):,} dense weights vs {sum(w.size for w in network.weights):,}")
    ok = True
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        for mode, net, dense_net in (("frozen", frozen(network), frozen(unrolled)), ("plastic", network, unrolled)):
            conv, sps_conv = timed("fast", net, spikes.slice_steps(0, args.steps))
            flat, sps_flat = timed("fast", dense_net, spikes.slice_steps(0, args.unrolled_steps))
            short = spikes.slice_steps(0, args.dense_steps)
            oracle, sps_oracle = timed("dense", net, short)
            fast_short, _ = timed("fast", net, short)
            same = bool(np.array_equal(oracle.counts, fast_short.counts))
            ok &= same
            k = min(args.steps, args.unrolled_steps)
            same_unrolled = bool(np.array_equal(conv.counts[:k], flat.counts[:k]))
            print(f"\n{mode}: mean spikes per step {', '.join(f'{c:.1f}' for c in conv.counts.mean(0))}")
            print(f"  fast, convolutional   : {args.steps:>6d} steps = {sps_conv:>9,.0f} steps/s")
            print(f"  fast, unrolled dense  : {args.unrolled_steps:>6d} steps = {sps_flat:>9,.0f} steps/s "
                  f"(same spikes as convolutional: {same_unrolled})")
            print(f"  dense oracle, conv    : {args.dense_steps:>6d} steps = {sps_oracle:>9,.0f} steps/s "
                  f"(same spikes as fast: {same})")
            print(f"  convolutional / unrolled: {sps_conv / sps_flat:,.1f}x")
            if mode == "frozen":
                ok &= same_unrolled
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
