"""SRC in a user's own training loop: plain nn.Sequential, cross-entropy, SleepReplay after each task.

Networks on the embedded MNIST subset (5 class-incremental tasks of 2 digits):

* ``notebook``: 784-400-400-10 with the MNIST preset (the notebook's loop);
* ``1hidden``: 784-400-10 and ``4hidden``: 784-400-400-400-400-10 with
  calibrated parameters (no preset fits their depth). For ``4hidden`` the
  Hebbian potentiation ``inc`` is also chosen, from a small grid, by the mean
  final accuracy of the loop on a validation split carved from the training
  data (10 % of each task, seed 0); the reference's ``inc`` makes the first
  sleep of the 5-layer network erase its only task on some seeds.

Each runs 3 seeds with and without sleep (the same loop, the same seeds) and
writes ``results/paper/own_loop/<name>.json`` (``--out`` to change). The
``--memory N`` option repeats the notebook network with the bounded-memory
mode (a seeded sample of N examples per task). Calibration uses training data
only; the test split is only read for the reported accuracies.

Usage::

    python benchmarks/bench_own_loop.py            # all networks
    python benchmarks/bench_own_loop.py --nets 1hidden --seeds 0
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import bridge
from ann import Dataset, class_incremental_tasks, load_mnist_subset
from bridge.errors import ModelError
from bridge.tuning.objective import validation_tasks
from bridge.experiments.results_io import write_json

#: the loop's networks; ``init="he"`` for the deep one, which does not learn even the
#: current task (10 % = chance) from PyTorch's default initialisation without biases
NETS: dict[str, dict[str, Any]] = {
    "notebook": dict(sizes=(784, 400, 400, 10), params="mnist", init="default"),
    "1hidden": dict(sizes=(784, 400, 10), params="auto", init="default"),
    "4hidden": dict(sizes=(784, 400, 400, 400, 400, 10), params="auto", init="he",
                    select={"inc": [0.001, 0.0025, 0.005, 0.01, 0.0175, 0.032064]}),
}
#: share of each task's training examples held out to choose ``select`` values, and its seed
VALIDATION_FRACTION, VALIDATION_SEED = 0.1, 0
EPOCHS = 2
BATCH = 100
#: optimizer of the loop: "sgd" (lr 0.1, momentum 0.5, the reference's) or "adam" (lr 1e-3)
OPTIMIZERS = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5), "adam": lambda p: torch.optim.Adam(p, lr=1e-3)}


def make_model(sizes: tuple[int, ...], seed: int, init: str = "default") -> nn.Sequential:
    """A plain bias-free ReLU ``nn.Sequential``: PyTorch's default initialisation or
    ``init="he"`` (Kaiming-uniform for ReLU, which keeps deep stacks trainable)."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out, bias=False))
        if init == "he":
            nn.init.kaiming_uniform_(layers[-1].weight, nonlinearity="relu")
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def train_one_task(model: nn.Module, opt: torch.optim.Optimizer, x: np.ndarray, y: np.ndarray, seed: int) -> None:
    """``EPOCHS`` epochs of mini-batch cross-entropy on one task."""
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(EPOCHS):
        for idx in torch.randperm(len(xt), generator=gen).split(BATCH):
            opt.zero_grad()
            F.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean() * 100)


def run(sizes: tuple[int, ...], seed: int, replay: bridge.SleepReplay | None, optimizer: str = "sgd",
        init: str = "default", validation: bool = False) -> dict[str, Any]:
    """One seed of the loop; sleeps after each task when ``replay`` is given.
    Accuracy on the test split, or with ``validation`` on the held-out training examples
    (the rest trains)."""
    data = load_mnist_subset()
    tasks = class_incremental_tasks(data)
    if validation:
        tasks = list(validation_tasks(tasks, VALIDATION_FRACTION, VALIDATION_SEED).tasks)
        data = Dataset(data.name, data.x_train, data.y_train, np.concatenate([t.x_test for t in tasks]),
                       np.concatenate([t.y_test for t in tasks]))
    model = make_model(sizes, seed, init)
    opt = OPTIMIZERS[optimizer](model.parameters())
    rec: dict[str, Any] = {"accuracy_all": [], "accuracy_before_sleep": [], "spikes_per_step": [], "sleep_s": []}
    t0 = time.perf_counter()
    for k, task in enumerate(tasks):
        train_one_task(model, opt, task.x_train, task.y_train, seed=1000 * seed + k)
        if replay is not None:
            rec["accuracy_before_sleep"].append(accuracy(model, data.x_test, data.y_test))
            report = replay(model, task.x_train)
            rec["spikes_per_step"].append(report.spikes_per_step)
            rec["sleep_s"].append(report.wall_time_s)
            if report.calibration is not None:
                c = report.calibration
                rec["calibration"] = dict(beta=list(c.params.beta), rates_hz=c.rates_hz, targets_hz=c.targets_hz,
                                          converged=c.converged, runs=c.runs, wall_time_s=c.wall_time_s)
        rec["accuracy_all"].append(accuracy(model, data.x_test, data.y_test))
    rec["final_accuracy"] = rec["accuracy_all"][-1]
    rec["wall_time_s"] = time.perf_counter() - t0
    return rec


def base_params(net: dict[str, Any]) -> bridge.SleepParams:
    """The parameters a net starts from: its preset, or the MNIST preset for ``"auto"``
    (whose thresholds calibration then replaces)."""
    return bridge.preset("mnist" if net["params"] == "auto" else net["params"])


def select_on_validation(net: dict[str, Any], seeds: list[int], optimizer: str) -> dict[str, Any]:
    """For each value of each ``net["select"]`` field, the loop's mean final accuracy
    on the validation split over ``seeds``; returns the table and the best values."""
    table: dict[str, dict[str, Any]] = {}
    best: dict[str, Any] = {}
    for field_name, values in net["select"].items():
        rows = {}
        for value in values:
            finals = []
            for seed in seeds:
                params = base_params(net).replace(**{field_name: value})
                replay = bridge.SleepReplay(params, seed=seed, calibrate=net["params"] == "auto")
                try:
                    finals.append(run(net["sizes"], seed, replay, optimizer, net["init"], validation=True)
                                  ["final_accuracy"])
                except ModelError as exc:  # training after a too-strong sleep diverged: worst score
                    logging.warning("validation: %s = %s, seed %d failed: %s", field_name, value, seed, exc)
                    finals.append(float("nan"))
            mean = float(np.mean(finals)) if np.all(np.isfinite(finals)) else None
            rows[str(value)] = {"per_seed": [f if np.isfinite(f) else None for f in finals], "mean": mean}
            logging.info("validation: %s = %s -> %s (mean %.1f %%)", field_name, value, finals, np.mean(finals))
        table[field_name] = rows
        best[field_name] = max(values, key=lambda v: -np.inf if rows[str(v)]["mean"] is None else rows[str(v)]["mean"])
    return {"fraction": VALIDATION_FRACTION, "seed": VALIDATION_SEED, "seeds": seeds, "table": table, "chosen": best}


def bench(name: str, seeds: list[int], memory: int | None = None, optimizer: str = "sgd") -> dict[str, Any]:
    net = NETS[name]
    out: dict[str, Any] = {"net": name, "sizes": list(net["sizes"]), "params": net["params"], "memory": memory,
                           "loop": dict(loss="cross-entropy", optimizer=optimizer, init=net["init"],
                                        epochs_per_task=EPOCHS, batch_size=BATCH),
                           "seeds": seeds, "sequential": {}, "src": {}}
    params: Any = net["params"]
    if net.get("select"):
        out["selected_on_validation"] = sel = select_on_validation(net, seeds, optimizer)
        params = base_params(net).replace(**sel["chosen"])
    for seed in seeds:
        out["sequential"][str(seed)] = run(net["sizes"], seed, None, optimizer, net["init"])
        replay = bridge.SleepReplay(params, seed=seed, memory=memory, calibrate=net["params"] == "auto")
        out["src"][str(seed)] = run(net["sizes"], seed, replay, optimizer, net["init"])
        logging.info("%s seed %d: sequential %.1f %%, SRC %.1f %%", name, seed,
                     out["sequential"][str(seed)]["final_accuracy"], out["src"][str(seed)]["final_accuracy"])
    for method in ("sequential", "src"):
        finals = [out[method][str(s)]["final_accuracy"] for s in seeds]
        out[f"{method}_final_mean"] = float(np.mean(finals))
        out[f"{method}_final_sd"] = float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0
    out["gain_points_per_seed"] = [out["src"][str(s)]["final_accuracy"] - out["sequential"][str(s)]["final_accuracy"]
                                   for s in seeds]
    return out


class ReplayPlugin:
    """The experiment harness's after-task hook done by :class:`bridge.SleepReplay`,
    with the harness's sleep seeds (so ``memory=None`` must reproduce ``results/demo``)."""

    def __init__(self, replay: bridge.SleepReplay, seed: int) -> None:
        from bridge.experiments.data import SLEEP_SEED, task_seed
        replay.sleep_seed = lambda k: task_seed(seed, k - 1, SLEEP_SEED)  # type: ignore[method-assign]
        self.replay = replay

    def before_training(self, state: Any) -> None:
        pass

    def after_task(self, state: Any) -> None:
        report = self.replay(state.learner.model, state.seen[-1])
        state.learner.set_model(report.outcome.model)
        state.record.setdefault("n_examples", []).append(report.n_examples)

    def after_training(self, state: Any) -> None:
        pass


def demo_memory(sizes: list[int | None], seeds: list[int], config: str = "configs/demo.toml") -> dict[str, Any]:
    """The demo (``configs/demo.toml``: reference network, squared error, MNIST preset)
    with SleepReplay keeping all data (``None``) or a seeded sample of N examples per task."""
    from bridge.experiments.config import ExperimentConfig
    from bridge.experiments.data import load_tasks
    from bridge.experiments.learners import build_learner
    from bridge.experiments.loop import run_cell_loop
    from bridge.experiments.methods import parse_method

    cfg = ExperimentConfig.from_file(config)
    tasks, x_test, y_test = load_tasks(cfg)
    spec = parse_method("src")
    out: dict[str, Any] = {"config": config, "seeds": list(seeds), "runs": {}}
    for memory in sizes:
        finals = []
        for seed in seeds:
            replay = bridge.SleepReplay(cfg.sleep_params_for(spec), engine=cfg.engine, dtype=cfg.dtype, seed=seed,
                                        memory=memory)
            rec = run_cell_loop(build_learner(cfg, spec, seed), tasks, x_test, y_test, seed, cfg.epochs_for,
                                [ReplayPlugin(replay, seed)])
            finals.append(rec["final_accuracy"])
            out["runs"].setdefault(str(memory), {})[str(seed)] = rec
            logging.info("demo memory=%s seed %d: %.1f %%", memory, seed, rec["final_accuracy"])
        out["runs"][str(memory)]["final_mean"] = float(np.mean(finals))
        out["runs"][str(memory)]["final_sd"] = float(np.std(finals, ddof=1))
        print(f"demo, memory={memory}: final accuracy per seed {np.round(finals, 2).tolist()}, "
              f"mean {np.mean(finals):.2f} +- {np.std(finals, ddof=1):.2f} %")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--memory", type=int, default=None, help="bounded-memory mode: examples kept per task")
    ap.add_argument("--demo-memory", nargs="+", default=None, metavar="N",
                    help="instead: the demo with SleepReplay keeping all data ('all') or N examples per task")
    ap.add_argument("--optimizer", default="sgd", choices=sorted(OPTIMIZERS))
    ap.add_argument("--out", type=Path, default=Path("results/paper/own_loop"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.demo_memory:
        sizes = [None if m == "all" else int(m) for m in args.demo_memory]
        name = "demo_memory_" + "_".join(args.demo_memory) + ".json"
        write_json(args.out / name, demo_memory(sizes, args.seeds))
        return
    for name in args.nets:
        res = bench(name, args.seeds, args.memory, args.optimizer)
        suffix = f"_memory{args.memory}" if args.memory else ""
        write_json(args.out / f"{name}{suffix}.json", res)
        print(f"{name}{suffix}: sequential {res['sequential_final_mean']:.1f} +- {res['sequential_final_sd']:.1f} %, "
              f"SRC {res['src_final_mean']:.1f} +- {res['src_final_sd']:.1f} %, "
              f"gain per seed {np.round(res['gain_points_per_seed'], 1).tolist()}")


if __name__ == "__main__":
    main()
