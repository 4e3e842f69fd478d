"""Cost of the PyNN engines (NEST and Brian2 through PyNN) next to the fast engine.

Trains the reference 784-1200-1200-10 network briefly on task 1 of the embedded
MNIST subset (``--epochs``), converts it with the paper's MNIST hyperparameters
and sleeps it on the masked mean image for ``--steps`` steps in every mode:

* ``fast`` (plastic) and ``fast`` on a copy with ``inc = dec = 0`` (frozen), the
  references;
* ``pynn.nest`` / ``pynn.brian2`` with ``plasticity="frozen"`` (compared with
  the frozen fast run) and ``plasticity="exact"`` (compared with the plastic fast
  run: spikes must be identical, weights equal to rounding).

Build time (PyNN model, connections, NEST's connection mapping for the exact
mode) is reported apart from run time; "ms/step" is run time / steps, including
PyNN's recording and the conversion to Neo.

    python benchmarks/bench_pynn.py [--steps 500] [--epochs 1] [--beta-scale 1.0] [--modes nest-exact,...]
"""
from __future__ import annotations

import argparse
import sys
import time

import snn.pynn  # noqa: F401  (first: silences NEST's banner before anything imports nest)

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import bridge
import snn
from ann import SleepMLP, TrainConfig, class_incremental_tasks, load_mnist_subset, train_task

MODES = ("nest-frozen", "nest-exact", "nest-native", "brian2-frozen", "brian2-exact")


def trained_network(epochs: int, beta_scale: float) -> tuple[snn.SleepNetwork, np.ndarray, bridge.SleepParams]:
    task = class_incremental_tasks(load_mnist_subset())[0]
    model = SleepMLP(generator=torch.Generator().manual_seed(0))
    train_task(model, task.x_train, task.y_train, TrainConfig(epochs=epochs), seed=0)
    params = bridge.preset("mnist")
    params = params.replace(beta=tuple(b * beta_scale for b in params.beta))
    spec = bridge.build_sleep_network(model, task.x_train, params)
    return spec.network, spec.mean_image, params


def timed(name: str, network: snn.SleepNetwork, spikes: snn.InputSpikes, **options) -> tuple[snn.SleepResult, float, float]:
    engine = snn.get_engine(name, record_spikes=True, **options)
    t0 = time.perf_counter()
    engine.build(network.copy())
    t1 = time.perf_counter()
    result = engine.run(spikes)
    t2 = time.perf_counter()
    return result, t1 - t0, t2 - t1


def compare(a: snn.SleepResult, b: snn.SleepResult) -> tuple[bool, float]:
    same = bool(np.array_equal(a.counts, b.counts) and all(x == y for x, y in zip(a.spikes, b.spikes)))
    wdiff = max(float(np.abs(x - y).max()) for x, y in zip(a.weights, b.weights))
    return same, wdiff


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=500, help="sleep steps per mode")
    p.add_argument("--epochs", type=int, default=1, help="training epochs on task 1")
    p.add_argument("--beta-scale", type=float, default=1.0, help="scale the thresholds (< 1: busier network)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    args = p.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        p.error(f"unknown mode(s) {unknown}; choose from {MODES}")
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    network, mean, params = trained_network(args.epochs, args.beta_scale)
    spikes = bridge.make_input_spikes(mean, params, args.steps, seed=1)
    frozen = network.copy()
    frozen.inc = frozen.dec = 0.0
    print(f"network {'-'.join(map(str, network.sizes))} trained {args.epochs} epoch(s) on task 1 "
          f"({time.perf_counter() - t0:.1f} s), MNIST hyperparameters, beta x {args.beta_scale}, {args.steps} steps, "
          "single-threaded")
    rows = []
    failed = False
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        timed("fast", network, spikes.slice_steps(0, 10))  # numba cache
        ref = {}
        for label, net in (("plastic", network), ("frozen", frozen)):
            res, tb, tr = timed("fast", net, spikes)
            ref[label] = res
            rows.append((f"fast ({label})", tb, tr, res, None, None))
        for mode in modes:
            sim, plasticity = mode.split("-")
            res, tb, tr = timed(f"pynn.{sim}", frozen if plasticity == "frozen" else network, spikes,
                                plasticity=plasticity)
            same, wdiff = compare(res, ref["frozen" if plasticity == "frozen" else "plastic"])
            failed |= not same or wdiff > 1e-9
            rows.append((f"pynn.{sim} ({plasticity})", tb, tr, res, same, wdiff))
    print(f"mean spikes per step, plastic (input, hidden1, hidden2, output): "
          f"{', '.join(f'{c:.2f}' for c in ref['plastic'].counts.mean(0))}; "
          f"frozen: {', '.join(f'{c:.2f}' for c in ref['frozen'].counts.mean(0))}")
    print(f"{'engine (mode)':<24} {'build s':>8} {'run s':>8} {'ms/step':>9}  {'spikes = fast':>13}  {'max |dw|':>9}")
    for name, tb, tr, res, same, wdiff in rows:
        eq = "" if same is None else str(same)
        wd = "" if wdiff is None else f"{wdiff:.1e}"
        print(f"{name:<24} {tb:8.2f} {tr:8.2f} {1e3 * tr / args.steps:9.3f}  {eq:>13}  {wd:>9}")
        extra = {k: v for k, v in res.timing.items() if k in ("simulate_s", "plasticity_s", "recording_s")}
        if extra:
            print(f"{'':<24} " + ", ".join(f"{k} {v:.2f}" for k, v in extra.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
