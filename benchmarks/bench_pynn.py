"""Cost of the PyNN engines (NEST and Brian2 through PyNN) next to the fast engine.

Trains the reference 784-1200-1200-10 network briefly on task 1 of the embedded
MNIST subset (``--epochs``), converts it with the paper's MNIST hyperparameters
and sleeps it on the masked mean image for ``--steps`` steps in every mode:

* ``fast`` (plastic) and ``fast`` on a copy with ``inc = dec = 0`` (frozen, only
  with a frozen mode), the references;
* ``pynn.nest`` / ``pynn.brian2`` with ``plasticity="frozen"`` (compared with
  the frozen fast run) and ``plasticity="exact"`` (compared with the plastic fast
  run: spikes must be identical, weights equal to rounding);
* ``pynn.nest.native`` (``nest-native``): the SRC rule inside NEST (``src_synapse``),
  compared with the plastic fast run like the exact mode. With both ``nest-exact``
  and ``nest-native`` the script prints the native mode's speed-up over the stepwise
  exact mode (steps/s of the run, and of build + run).

The realistic sleep of issue 27: ``--steps 15000`` (the first sleep of the
reference schedule) ``--modes nest-exact,nest-native``.

Build time (PyNN model, connections, NEST's connection mapping for the exact
mode) is reported apart from run time; "ms/step" is run time / steps, including
PyNN's recording and the conversion to Neo.

``--clock wall`` (default) times in wall-clock seconds (``time.perf_counter``);
``--clock cpu`` in CPU seconds of this process (``time.process_time``: every
thread, NEST's included), which a loaded machine does not inflate: build, run,
ms/step and steps/s are then CPU figures ("steps per CPU-second"), and the run's
wall time is printed beside them. For a profile of one mode, e.g. the native one:
``perf record -e cpu-clock -F 499 python benchmarks/bench_pynn.py --steps 5000
--modes nest-native --clock cpu``.

    python benchmarks/bench_pynn.py [--steps 500] [--epochs 1] [--beta-scale 1.0] [--modes nest-exact,...]
                                    [--clock wall|cpu] [--threads 1]
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


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def timed(name: str, network: snn.SleepNetwork, spikes: snn.InputSpikes, clock: str = "wall",
          **options) -> tuple[snn.SleepResult, float, float, float]:
    """Build and run engine ``name``: ``(result, build s, run s, run wall s)`` with
    build and run in the seconds of ``clock`` (``CLOCKS``)."""
    tick = CLOCKS[clock]
    engine = snn.get_engine(name, record_spikes=True, **options)
    t0 = tick()
    engine.build(network.copy())
    t1, w1 = tick(), time.perf_counter()
    result = engine.run(spikes)
    t2, w2 = tick(), time.perf_counter()
    return result, t1 - t0, t2 - t1, w2 - w1


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
    p.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                   help="wall: wall-clock seconds; cpu: CPU seconds of this process (steps per CPU-second)")
    p.add_argument("--threads", type=int, default=1, help="NEST threads of the nest-* modes (engine threads=)")
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
          f"NEST threads {args.threads}, times in {'CPU' if args.clock == 'cpu' else 'wall-clock'} seconds")
    rows = []
    failed = False
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        timed("fast", network, spikes.slice_steps(0, 10))  # numba cache
        ref = {}
        refs = (("plastic", network), ("frozen", frozen)) if any(m.endswith("-frozen") for m in modes) else \
            (("plastic", network),)
        for label, net in refs:
            res, tb, tr, wr = timed("fast", net, spikes, args.clock)
            ref[label] = res
            rows.append((f"fast ({label})", tb, tr, wr, res, None, None))
        for mode in modes:
            sim, plasticity = mode.split("-")
            name, opts = (f"pynn.{sim}.native", {}) if plasticity == "native" else (f"pynn.{sim}",
                                                                                  {"plasticity": plasticity})
            if sim == "nest":
                opts["threads"] = args.threads
            res, tb, tr, wr = timed(name, frozen if plasticity == "frozen" else network, spikes, args.clock, **opts)
            same, wdiff = compare(res, ref["frozen" if plasticity == "frozen" else "plastic"])
            failed |= not same or wdiff > 1e-9
            rows.append((f"pynn.{sim} ({plasticity})", tb, tr, wr, res, same, wdiff))
    print("mean spikes per step (input, hidden1, hidden2, output), " + "; ".join(
        f"{label}: {', '.join(f'{c:.2f}' for c in res.counts.mean(0))}" for label, res in ref.items()))
    for label, res in ref.items():
        # every pair of adjacent layers is connected: a spike of layer l reaches every neuron of layer l + 1
        events = float(res.counts[:, :-1].mean(0) @ np.asarray(network.sizes[1:], dtype=np.float64))
        print(f"synapse events per step ({label}): {events:.0f}")
    cpu = args.clock == "cpu"
    unit = "CPU-s" if cpu else "s"
    print(f"{'engine (mode)':<24} {'build ' + unit:>11} {'run ' + unit:>9} {'ms/step':>9} "
          f"{'steps/' + unit:>11}{'  run wall s' if cpu else ''}  {'spikes = fast':>13}  {'max |dw|':>9}")
    for name, tb, tr, wr, res, same, wdiff in rows:
        eq = "" if same is None else str(same)
        wd = "" if wdiff is None else f"{wdiff:.1e}"
        wall = f"  {wr:11.2f}" if cpu else ""
        print(f"{name:<24} {tb:11.2f} {tr:9.2f} {1e3 * tr / args.steps:9.3f} {args.steps / tr:11.0f}{wall}  {eq:>13}  "
              f"{wd:>9}")
        extra = {k: v for k, v in res.timing.items() if k in ("simulate_s", "plasticity_s", "recording_s")}
        if extra:
            print(f"{'':<24} wall: " + ", ".join(f"{k} {v:.2f}" for k, v in extra.items()))
    by_name = {r[0]: r for r in rows}
    exact, native = by_name.get("pynn.nest (exact)"), by_name.get("pynn.nest (native)")
    if exact and native:
        print(f"native vs stepwise exact on NEST ({args.clock} clock): {exact[2] / native[2]:.1f}x the steps/{unit} "
              f"of the run ({args.steps / native[2]:.0f} vs {args.steps / exact[2]:.0f} steps/{unit}; the native run "
              f"includes reading the slept weights, {native[4].timing.get('plasticity_s', 0.0):.2f} s wall); "
              f"build + run {(exact[1] + exact[2]) / (native[1] + native[2]):.1f}x"
              + (f"; wall-clock run {exact[3] / native[3]:.1f}x" if cpu else ""))
    plastic_events = float(ref["plastic"].counts[:, :-1].mean(0) @ np.asarray(network.sizes[1:], dtype=np.float64))
    for name, _, tr, *_ in rows:
        if name.startswith("pynn.nest (") and "frozen" not in name and plastic_events > 0:
            print(f"{name}: {1e9 * tr / (args.steps * plastic_events):.0f} ns ({unit[:-2] or 'wall'}) of the run per "
                  f"synapse event ({plastic_events:.0f} events per step)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
