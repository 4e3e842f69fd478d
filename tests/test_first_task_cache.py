"""Reusing the first task's wake training across runs that differ only in sleep
(bridge.experiments.FirstTaskCache; the tuner's trials): records bit for bit
those of training from scratch, keyed so that nothing else is reused."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bridge.experiments import ExperimentConfig, FirstTaskCache, load_tasks, run_cell
from bridge.tuning import trial_value, validation_tasks

CONFIG = {
    "experiment": {"class_groups": [[0, 1], [2, 3], [4, 5]], "max_train_per_task": 120, "sizes": [784, 24, 16, 10],
                   "init_range": 0.1, "methods": ["src", "rehearsal+src", "icarl+src(memory=20)"], "seeds": [0],
                   "updates_per_task": 6},
    "sleep": {"preset": "mnist", "steps_first": 60, "steps_per_task": 20},
}


@pytest.fixture(scope="module")
def setup():
    cfg = ExperimentConfig.from_dict(CONFIG)
    return cfg, load_tasks(cfg.resolved())


def without_times(rec):
    return {k: v for k, v in rec.items() if k != "wall_time_s"}


@pytest.mark.parametrize("method", CONFIG["experiment"]["methods"])
def test_cached_first_task_gives_the_same_record(setup, method):
    cfg, data = setup
    scratch = run_cell(cfg, method, 0, data=data)
    cache = FirstTaskCache()
    filled = run_cell(cfg, method, 0, data=data, first_task_cache=cache)
    assert (cache.misses, cache.hits, len(cache)) == (1, 0, 1)
    reused = run_cell(cfg, method, 0, data=data, first_task_cache=cache)
    assert cache.hits == 1
    assert without_times(filled) == without_times(scratch) == without_times(reused)
    # another sleep starts from the same trained learner and matches its own run from scratch
    other = dataclasses.replace(cfg, sleep=cfg.sleep.replace(inc=0.2, steps_first=90))
    assert without_times(run_cell(other, method, 0, data=data, first_task_cache=cache)) == \
        without_times(run_cell(other, method, 0, data=data))
    assert cache.hits == 2 and len(cache) == 1


def test_the_key_separates_what_shapes_the_first_task(setup):
    cfg, data = setup
    tasks, x, y = data
    cache = FirstTaskCache()
    run_cell(cfg, "src", 0, data=data, first_task_cache=cache)
    run_cell(cfg, "src", 1, data=data, first_task_cache=cache)                      # another seed
    run_cell(dataclasses.replace(cfg, dropout=0.1), "src", 0, data=data, first_task_cache=cache)  # wake config
    run_cell(cfg, "rehearsal+src", 0, data=data, first_task_cache=cache)            # another learner
    changed = [dataclasses.replace(tasks[0], x_train=np.ascontiguousarray(tasks[0].x_train[::-1]))] + tasks[1:]
    run_cell(cfg, "src", 0, data=(changed, x, y), first_task_cache=cache)            # other data
    assert cache.hits == 0 and cache.misses == 5
    run_cell(dataclasses.replace(cfg, sleep_image="first_task", accuracy_weighting="tasks"), "src", 0, data=data,
             first_task_cache=cache)                                                # acts after training
    assert cache.hits == 1


def test_cache_is_bounded():
    with pytest.raises(ValueError, match="max_entries"):
        FirstTaskCache(0)


def test_trial_value_reuses_the_first_task(setup):
    cfg, data = setup
    val = validation_tasks(data[0], 0.25, seed=0)
    changes = {"inc": 0.05}
    fresh = trial_value(cfg, "src", changes, [0, 1], val, reuse_first_task=False)
    first = trial_value(cfg, "src", changes, [0, 1], val)
    again = trial_value(cfg, "src", changes, [0, 1], val)
    assert fresh["per_seed"] == first["per_seed"] == again["per_seed"]
