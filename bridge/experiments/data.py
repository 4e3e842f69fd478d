"""The data of a run: class-incremental tasks and their joint test set, and the
seeds that fix every task's data order and every sleep's input."""
from __future__ import annotations

import numpy as np

from ann import Task, class_incremental_tasks, load_dataset

from ..errors import ConfigError
from .config import ExperimentConfig

#: second entry of :func:`task_seed`: what the seed is for
TRAIN_SEED, SLEEP_SEED = 0, 1


def load_tasks(cfg: ExperimentConfig) -> tuple[list[Task], np.ndarray, np.ndarray]:
    """Tasks, and the test set of all their classes ``(x, y)`` (the tasks' test sets
    concatenated in order). Fails before training when data are missing or do not
    fit the network."""
    names = cfg.task_datasets or [cfg.dataset] * len(cfg.class_groups)
    datasets = {}
    for name in dict.fromkeys(names):
        if name == "mnist" and cfg.download:
            from ann.download import download_mnist
            if cfg.data_dir is None:
                raise ConfigError("experiment.download needs experiment.data_dir, the folder to download into")
            download_mnist(cfg.data_dir)
        datasets[name] = load_dataset(name, cfg.data_dir_for(name), cfg.split_seed)
        if datasets[name].n_features != cfg.sizes[0]:
            raise ConfigError(f"experiment.sizes[0] = {cfg.sizes[0]} but {name} has "
                              f"{datasets[name].n_features} features")
    tasks = []
    for name, group in zip(names, cfg.class_groups):
        tasks.extend(class_incremental_tasks(datasets[name], [group], cfg.max_train_per_task))
    return tasks, np.concatenate([t.x_test for t in tasks]), np.concatenate([t.y_test for t in tasks])


def task_seed(seed: int, k: int, purpose: int) -> int:
    """The seed of step ``k`` (0-based task) of a cell with seed ``seed``, for
    ``purpose`` :data:`TRAIN_SEED` (data order, dropout) or :data:`SLEEP_SEED`."""
    return int(np.random.SeedSequence([seed, k, purpose]).generate_state(1)[0])
