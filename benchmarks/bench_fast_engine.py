"""Speed of the fast engine against the literal dense loop of SRC_SPEC.md section 4.

Trains the reference 784-1200-1200-10 network on the first two tasks of the
embedded MNIST subset, converts it with the paper's MNIST hyperparameters, and
sleeps it on the masked mean image (realistic sleep activity). The dense NumPy
loop (``engine="dense"``, the reference's algorithm) and the fast engine run the
same first ``--dense-steps`` steps from the same state; their spikes must be
identical. The fast engine is then timed on ``--steps`` steps. Both run
single-threaded (BLAS limited to one thread). Prints steps/s and the ratio.

    python benchmarks/bench_fast_engine.py [--steps 30000] [--dense-steps 2000] [--beta-scale 1.0]
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
from ann import SleepMLP, TrainConfig, class_incremental_tasks, load_mnist_subset, train_task


def trained_network(beta_scale: float, dtype: str) -> tuple[snn.SleepNetwork, np.ndarray, bridge.SleepParams]:
    tasks = class_incremental_tasks(load_mnist_subset())[:2]
    model = SleepMLP(generator=torch.Generator().manual_seed(0))
    for k, t in enumerate(tasks):
        train_task(model, t.x_train, t.y_train, TrainConfig(epochs=13), seed=k)
    params = bridge.preset("mnist")
    params = params.replace(beta=tuple(b * beta_scale for b in params.beta))
    seen = np.concatenate([t.x_train for t in tasks])
    spec = bridge.build_sleep_network(model, seen, params)
    return spec.network, spec.mean_image, params


def timed_run(name: str, network: snn.SleepNetwork, spikes: snn.InputSpikes, dtype: str) -> tuple[snn.SleepResult, float]:
    engine = snn.get_engine(name, dtype=dtype, record_spikes=True)
    engine.build(network.copy())
    t0 = time.perf_counter()
    result = engine.run(spikes)
    return result, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30000, help="steps timed for the fast engine")
    p.add_argument("--dense-steps", type=int, default=2000, help="steps run by both engines and compared")
    p.add_argument("--beta-scale", type=float, default=1.0, help="scale the thresholds (< 1: busier network)")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    network, mean, params = trained_network(args.beta_scale, args.dtype)
    steps = max(args.steps, args.dense_steps)
    spikes = bridge.make_input_spikes(mean, params, steps, seed=1)
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        timed_run("fast", network, spikes.slice_steps(0, 10), args.dtype)  # compile / load the numba cache
        dense, t_dense = timed_run("dense", network, spikes.slice_steps(0, args.dense_steps), args.dtype)
        fast_short, _ = timed_run("fast", network, spikes.slice_steps(0, args.dense_steps), args.dtype)
        fast, t_fast = timed_run("fast", network, spikes.slice_steps(0, args.steps), args.dtype)
    identical = bool(np.array_equal(dense.counts, fast_short.counts)
                     and all(a == b for a, b in zip(dense.spikes, fast_short.spikes)))
    wdiff = max(float(np.abs(a - b).max()) for a, b in zip(dense.weights, fast_short.weights))
    sps_dense, sps_fast = args.dense_steps / t_dense, args.steps / t_fast
    print(f"network {'-'.join(map(str, network.sizes))}, MNIST hyperparameters, beta x {args.beta_scale}, "
          f"{args.dtype}, single-threaded")
    print(f"mean spikes per step (input, hidden1, hidden2, output): "
          f"{', '.join(f'{c:.3f}' for c in fast.counts.mean(0))}")
    print(f"dense NumPy loop : {args.dense_steps:>7d} steps in {t_dense:8.3f} s = {sps_dense:>10,.0f} steps/s")
    print(f"fast engine      : {args.steps:>7d} steps in {t_fast:8.3f} s = {sps_fast:>10,.0f} steps/s")
    print(f"speed-up         : {sps_fast / sps_dense:,.1f}x")
    print(f"identical spikes on the first {args.dense_steps} steps: {identical}; max weight difference {wdiff:.2e}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
