"""NIR export checked in a NIR simulator: snnTorch's spikes vs the frozen fast engine.

Trains the reference 784-1200-1200-10 network briefly on task 1 of the embedded
MNIST subset (``--epochs``), converts it with the paper's MNIST hyperparameters
(``bridge.build_sleep_network``), freezes it (``inc = dec = 0``), writes it as a NIR
file (``snn.export.nir.write_nir``, ``dt = 1e-4`` s for snnTorch), reads the file
back, imports it with ``snntorch.import_from_nir`` and runs it for ``--steps`` steps
on the sleep input of the masked mean image. Compared, layer by layer:

* snnTorch float32 (its default; threshold compensated for float32) vs the fast
  engine in float64 (the sleep default) and in float32;
* snnTorch float64 (weights reloaded in double precision; threshold compensated for
  float64) vs the fast engine in float64.

Also checks that the NIR file reads back into the same network (``from_nir``) and,
with ``--pynn-steps N``, runs the standalone PyNN model (``snn.export.pynn_script``)
on NEST for ``N`` steps and compares it too.

    python benchmarks/bench_nir.py [--steps 2000] [--epochs 1] [--beta-scale 1.0] [--out DIR] [--pynn-steps 0]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import bridge
import snn
from ann import SleepMLP, TrainConfig, class_incremental_tasks, load_mnist_subset, train_task
from bridge.nir_check import compare_records, run_snntorch
from snn.export.nir import SNNTORCH_DT, from_nir, read_nir, write_nir
from snn.export.pynn_script import read_pynn_spikes, write_pynn_model


def trained_network(epochs: int, beta_scale: float) -> tuple[snn.SleepNetwork, np.ndarray, bridge.SleepParams]:
    task = class_incremental_tasks(load_mnist_subset())[0]
    model = SleepMLP(generator=torch.Generator().manual_seed(0))
    train_task(model, task.x_train, task.y_train, TrainConfig(epochs=epochs), seed=0)
    params = bridge.preset("mnist")
    params = params.replace(beta=tuple(b * beta_scale for b in params.beta))
    spec = bridge.build_sleep_network(model, task.x_train, params)
    return spec.network, spec.mean_image, params


def report(title: str, ref: list[snn.SpikeRecord], other: list[snn.SpikeRecord], names: list[str]) -> bool:
    rows = compare_records(ref, other, names)
    print(f"\n{title}")
    print(f"  {'layer':<10} {'equal':>6} {'spikes ref':>11} {'spikes other':>12} {'events differing':>17} "
          f"{'first diff step':>16} {'rate corr':>10}")
    for r in rows:
        first = "" if r.first_diff_step is None else str(r.first_diff_step)
        print(f"  {r.layer:<10} {str(r.equal):>6} {r.n_a:>11} {r.n_b:>12} {r.n_diff:>17} {first:>16} "
              f"{r.rate_corr:>10.6f}")
    return all(r.equal for r in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=2000, help="sleep steps (>= 1000 for the acceptance check)")
    p.add_argument("--epochs", type=int, default=1, help="training epochs on task 1")
    p.add_argument("--beta-scale", type=float, default=1.0, help="scale the thresholds (< 1: busier network)")
    p.add_argument("--out", type=Path, default=None, help="keep the NIR files here (default: a temporary folder)")
    p.add_argument("--pynn-steps", type=int, default=0,
                   help="also run the standalone PyNN script (snn.export.pynn_script) on NEST for this many steps")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    network, mean, params = trained_network(args.epochs, args.beta_scale)
    frozen = network.copy()
    frozen.inc = frozen.dec = 0.0
    spikes = bridge.make_input_spikes(mean, params, args.steps, seed=1)
    print(f"network {'-'.join(map(str, network.sizes))} trained {args.epochs} epoch(s) on task 1 "
          f"({time.perf_counter() - t0:.1f} s), MNIST hyperparameters, beta x {args.beta_scale}, "
          f"{args.steps} steps, frozen (inc = dec = 0), single-threaded")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_nir_"))
    with threadpool_limits(limits=1):
        runs = {}
        for dtype in ("float64", "float32"):
            t = time.perf_counter()
            runs[dtype] = snn.get_engine("fast", dtype=dtype).build(frozen.copy()).run(spikes)
            print(f"fast engine {dtype}: {time.perf_counter() - t:.2f} s; mean spikes per step "
                  f"{', '.join(f'{c:.2f}' for c in runs[dtype].counts.mean(0))}")
        ok = True
        for prec, tdtype in (("float32", torch.float32), ("float64", torch.float64)):
            path = out / f"sleep_{prec}.nir"
            t = time.perf_counter()
            write_nir(path, frozen, dt=SNNTORCH_DT, threshold_precision=prec, overwrite=True)
            graph = read_nir(path)
            t_io = time.perf_counter() - t
            back = from_nir(graph)
            same = (back.sizes == frozen.sizes and np.array_equal(back.threshold, frozen.threshold)
                    and np.array_equal(back.alpha, frozen.alpha) and back.decay == frozen.decay)
            wdiff = max(float(np.abs(a - b).max()) for a, b in zip(back.weights, frozen.weights))
            print(f"\nNIR file {path.name}: {path.stat().st_size / 1e6:.1f} MB, write + read {t_io:.2f} s; "
                  f"read back: same shape/thresholds/alpha/decay {same}, max |dW| {wdiff:.1e}")
            t = time.perf_counter()
            nir_spikes = run_snntorch(graph, spikes, dtype=tdtype)
            t_run = time.perf_counter() - t
            print(f"snnTorch {prec}: {t_run:.2f} s ({1e3 * t_run / args.steps:.2f} ms/step)")
            names = frozen.layer_names
            ok &= report(f"snnTorch {prec} vs fast float64", runs["float64"].spikes, nir_spikes, names)
            if prec == "float32":
                report("snnTorch float32 vs fast float32", runs["float32"].spikes, nir_spikes, names)
        if args.pynn_steps > 0:
            n = min(args.pynn_steps, args.steps)
            paths = write_pynn_model(out / "pynn", frozen, spikes.slice_steps(0, n), overwrite=True)
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, str(paths["script"]), "--simulator", "nest",
                                   "--out", str(out / "pynn" / "spikes.npz")], capture_output=True, text=True)
            t_run = time.perf_counter() - t
            if proc.returncode:
                print(proc.stderr[-3000:])
                return 1
            ref = [r.slice_steps(0, n) for r in runs["float64"].spikes]
            print(f"\nstandalone PyNN script on NEST, {n} steps: {t_run:.1f} s (whole script: build, run, write)")
            ok &= report("PyNN script (NEST) vs fast float64", ref, read_pynn_spikes(out / "pynn" / "spikes.npz"),
                         frozen.layer_names)
    print("\nall runs equal to the fast engine (float64):", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
