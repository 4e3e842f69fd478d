"""A whole class-incremental SRC run with the SRC rule inside NEST, against the fast engine.

Runs the Fashion-MNIST protocol of ``configs/tables/fashion_mnist.toml`` (5 tasks of
5000 examples, 2 epochs, 784-1200-1200-10, the paper's Fashion-MNIST sleep preset:
15000 + (k - 1) 5000 sleep steps after task k) for method ``src`` and one seed, once
with the fast engine and once with ``pynn.nest.native`` (issue 27), and compares the
accuracy matrices, which must be equal to the last digit: the native sleep gives the
fast engine's spikes and its weights to rounding (float64).

    python benchmarks/bench_native_experiment.py [--seed 0] [--config configs/tables/fashion_mnist.toml]
                                                 [--out results/bench_native_experiment]

Needs the full Fashion-MNIST (``make fashion-mnist``). Prints both accuracy rows, the
final accuracy and the wall time of each run; exits 1 if they differ.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import snn.pynn  # noqa: F401  (first: silences NEST's banner before anything imports nest)

from bridge.params import read_config
from bridge.experiments import ExperimentConfig, run_experiment

ENGINES = ("fast", "pynn.nest.native")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/tables/fashion_mnist.toml")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/bench_native_experiment"))
    args = p.parse_args(argv)
    data = read_config(args.config)
    data["experiment"] = {**data["experiment"], "methods": ["src"], "seeds": [args.seed]}
    rows = {}
    for engine in ENGINES:
        data["experiment"]["engine"] = engine
        cfg = ExperimentConfig.from_dict(data)
        t0 = time.perf_counter()
        summary = run_experiment(cfg, args.out / engine.replace(".", "_"), fresh=True, progress=False,
                                 save_models=False)
        src = summary["methods"]["src"]
        rows[engine] = {"accuracy_matrix": src["accuracy_matrix_mean"], "final": src["final_accuracy"],
                        "wall_s": time.perf_counter() - t0}
        print(f"{engine:<18} final accuracy {src['final_accuracy']}  ({rows[engine]['wall_s']:.0f} s)", flush=True)
    fast, native = (rows[e] for e in ENGINES)
    same = fast["accuracy_matrix"] == native["accuracy_matrix"]
    print("accuracy over tasks (%, all classes seen so far, after each task's sleep):")
    for engine in ENGINES:
        print(f"  {engine:<18} " + json.dumps(rows[engine]["accuracy_matrix"]))
    print(f"accuracy matrices equal: {same}")
    (args.out / "comparison.json").write_text(json.dumps({"config": args.config, "seed": args.seed, **rows,
                                                          "equal": same}, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
