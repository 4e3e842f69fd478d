"""Peak memory of a long sleep of the reference 784-1200-1200-10 network.

Trains the network briefly on the first task of the embedded MNIST subset (so
sleep activity is realistic), then sleeps it for ``--steps`` steps (default
1,000,000) with the fast engine and the paper's MNIST hyperparameters, without
recording individual spikes. The sleep runs in a fresh child process, which
prints:

* ``peak_rss_mb``: the process's peak resident memory (``VmHWM``) over the sleep,
  everything included (Python, torch, the network, the input);
* ``sleep_rss_increase_mb``: that peak minus the resident memory just before the
  sleep call (the part that grows with the sleep length);
* ``tracemalloc_peak_mb``: the peak of NumPy/Python allocations during the call.

Run against another checkout (e.g. the code before a change) with
``PYTHONPATH=/path/to/checkout python benchmarks/bench_sleep_memory.py``.

    python benchmarks/bench_sleep_memory.py [--steps 1000000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(steps: int) -> dict:
    import tracemalloc

    import numpy as np
    import torch

    import bridge
    from ann import SleepMLP, TrainConfig, class_incremental_tasks, load_mnist_subset, train_task

    task = class_incremental_tasks(load_mnist_subset())[0]
    model = SleepMLP((784, 1200, 1200, 10), generator=torch.Generator().manual_seed(0))
    train_task(model, task.x_train, task.y_train, TrainConfig(epochs=2), seed=0)
    params = bridge.preset("mnist")
    # warm up the compiled kernel so its compilation is not counted
    bridge.sleep(model, task.x_train, params, steps=10, seed=1)
    try:  # reset the peak-RSS counter (Linux: writing 5 to clear_refs resets VmHWM)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    rss0 = _rss_mb("VmRSS")
    tracemalloc.start()
    t0 = time.perf_counter()
    outcome = bridge.sleep(model, task.x_train, params, steps=steps, seed=1)
    wall = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _rss_mb("VmHWM")
    return {
        "steps": steps,
        "code": os.path.dirname(os.path.dirname(os.path.abspath(bridge.__file__))),
        "wall_s": round(wall, 1),
        "rss_before_sleep_mb": round(rss0, 1),
        "peak_rss_mb": round(peak, 1),
        "sleep_rss_increase_mb": round(peak - rss0, 1),
        "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
        "mean_spikes_per_step": np.round(outcome.result.counts.mean(0), 4).tolist(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.steps)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, __file__, "--child", "--steps", str(args.steps)], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        print(f"child failed with exit code {proc.returncode} (MemoryError or killed?)")
        return 1
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"sleep of {res['steps']} steps, 784-1200-1200-10, fast engine: {res['wall_s']} s (code in {res['code']})")
    print(f"  peak RSS of the process: {res['peak_rss_mb']} MB "
          f"(before the sleep call {res['rss_before_sleep_mb']} MB, increase {res['sleep_rss_increase_mb']} MB)")
    print(f"  tracemalloc peak during the call: {res['tracemalloc_peak_mb']} MB")
    print(f"  mean spikes per step (input, hidden..., output): {res['mean_spikes_per_step']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
