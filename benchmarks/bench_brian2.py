"""Speed of the Brian2 engine (runtime Cython and cpp_standalone) next to the fast engine.

Trains the reference 784-1200-1200-10 network on the first two tasks of the
embedded MNIST subset, converts it with the paper's MNIST hyperparameters and
sleeps it on the masked mean image (realistic sleep activity). Every engine
gets the same input spikes from the same state; their spike counts and
weights must agree. Reported separately:

* simulation proper, in steps/s: Brian2's own measurement of its time-step
  loop (``timing["sim_s"]``), the fast engine's ``run`` after a warm-up call;
* build cost, cold (empty cache: every code object is generated and compiled)
  and warm (compiled code reused: runtime from the Cython cache, standalone a
  new sleep on the same network shape, where ``make`` recompiles main.cpp and
  objects.cpp only).

    python benchmarks/bench_brian2.py [--steps 15000] [--beta-scale 1.0] [--skip-cold] [--numpy]

The cold builds use a temporary cache directory; the warm ones the project
cache (``.cache/brian2`` or ``$SLEEP_REPLAY_BRIAN2_CACHE``) unless ``--skip-cold``.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import bridge
import snn
from ann import SleepMLP, TrainConfig, class_incremental_tasks, load_mnist_subset, train_task
from snn.brian2 import default_cache_dir


def trained_network(beta_scale: float, epochs: int) -> tuple[snn.SleepNetwork, np.ndarray, bridge.SleepParams]:
    tasks = class_incremental_tasks(load_mnist_subset())[:2]
    model = SleepMLP(generator=torch.Generator().manual_seed(0))
    for k, t in enumerate(tasks):
        train_task(model, t.x_train, t.y_train, TrainConfig(epochs=epochs), seed=k)
    params = bridge.preset("mnist")
    params = params.replace(beta=tuple(b * beta_scale for b in params.beta))
    seen = np.concatenate([t.x_train for t in tasks])
    spec = bridge.build_sleep_network(model, seen, params)
    return spec.network, spec.mean_image, params


def same(a: snn.SleepResult, b: snn.SleepResult) -> tuple[bool, float]:
    wdiff = max(float(np.abs(x - y).max()) for x, y in zip(a.weights, b.weights))
    return bool(np.array_equal(a.counts, b.counts)), wdiff


def bench_brian2(codegen: str, network: snn.SleepNetwork, spikes: snn.InputSpikes, other: snn.InputSpikes,
                 cold_dir: Path | None) -> dict:
    """Cold build in ``cold_dir`` (if given), then a warm build, the timed run, and a warm rerun."""
    out: dict = {}
    if cold_dir is not None:
        t0 = time.perf_counter()
        eng = snn.get_engine("brian2", codegen=codegen, cache_dir=cold_dir, record_spikes=False)
        eng.build(network.copy())
        res = eng.run(other)
        out["cold_build_s"] = (time.perf_counter() - t0) - res.timing["sim_s"]
    eng = snn.get_engine("brian2", codegen=codegen, record_spikes=False)
    t0 = time.perf_counter()
    eng.build(network.copy())
    if codegen == "cpp_standalone":
        eng.run(other.slice_steps(0, 10))  # make sure the project of this shape exists (cold if new)
        eng.build(network.copy())
        t0 = time.perf_counter()
    res = eng.run(spikes)
    total = time.perf_counter() - t0
    out["warm_build_s"] = total - res.timing["sim_s"]
    out["sim_s"] = res.timing["sim_s"]
    out["timing"] = res.timing
    out["result"] = res
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=15000, help="sleep steps timed (reference: 15000 after task 1)")
    p.add_argument("--epochs", type=int, default=13, help="training epochs per task (13 = 100 SGD updates)")
    p.add_argument("--beta-scale", type=float, default=1.0, help="scale the thresholds (< 1: busier network)")
    p.add_argument("--skip-cold", action="store_true", help="do not measure cold builds (saves ~2 min)")
    p.add_argument("--numpy", action="store_true", help="also time Brian2's NumPy code generation")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    network, mean, params = trained_network(args.beta_scale, args.epochs)
    spikes = bridge.make_input_spikes(mean, params, args.steps, seed=1)
    other = bridge.make_input_spikes(mean, params, 200, seed=2)
    print(f"network {'-'.join(map(str, network.sizes))}, {args.steps} steps, beta x {args.beta_scale}; "
          f"cache {default_cache_dir()}")

    fast = snn.get_engine("fast", record_spikes=False)
    fast.build(network.copy())
    fast.run(other.slice_steps(0, 10))  # load the compiled kernel
    fast.build(network.copy())
    ref = fast.run(spikes)
    fast_s = ref.timing["run_s"]
    print("mean spikes per step (input, hidden1, hidden2, output): "
          + ", ".join(f"{c:.2f}" for c in ref.counts.mean(0)))

    rows = [("fast (numba)", args.steps / fast_s, None, None, "reference")]
    codegens = ["cython"] + (["numpy"] if args.numpy else []) + ["cpp_standalone"]
    with tempfile.TemporaryDirectory(prefix="bench_brian2_") as tmp:
        for codegen in codegens:
            cold_dir = None if args.skip_cold or codegen == "numpy" else Path(tmp) / codegen
            r = bench_brian2(codegen, network, spikes, other, cold_dir)
            equal, wdiff = same(ref, r["result"])
            rows.append((f"brian2 {codegen}", args.steps / r["sim_s"], r.get("cold_build_s"), r["warm_build_s"],
                         f"counts equal {equal}, max |dw| {wdiff:.1e}"))
            extra = {k: round(v, 3) for k, v in r["timing"].items()}
            print(f"  brian2 {codegen} timing: {extra}")
    print()
    print(f"{'engine':<24} {'sim steps/s':>12} {'build cold s':>13} {'build warm s':>13}  vs fast")
    for name, rate, cold, warm, note in rows:
        fmt = lambda x: f"{x:13.2f}" if x is not None else f"{'-':>13}"  # noqa: E731
        print(f"{name:<24} {rate:12,.0f} {fmt(cold)} {fmt(warm)}  {note}")
    ok = all("counts equal True" in r[4] or r[4] == "reference" for r in rows)
    target = all(r[1] >= 800 for r in rows[1:])
    print(f"\nsame spikes as the fast engine: {ok}; Brian2 >= 800 steps/s: {target}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
