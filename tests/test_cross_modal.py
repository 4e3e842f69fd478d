"""The reference's cross-modal protocol: sleep on the first task's mean image
(``experiment.sleep_image``), accuracy as the mean over tasks
(``experiment.accuracy_weighting``), and the shipped configs that use them."""
import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

import bridge
from ann import SleepMLP
from bridge.errors import ConfigError, SleepDataError
from bridge.experiments import ExperimentConfig, load_tasks, run_cell
from bridge.experiments.data import SLEEP_SEED, task_seed
from bridge.experiments.loop import evaluate
from bridge.tuning import TuneConfig

ROOT = Path(__file__).resolve().parents[1]


def tiny(**experiment):
    """Two tasks of unequal test size (200 and 300 test images) on a small net."""
    exp = {"sizes": [784, 64, 48, 10], "seeds": [0], "class_groups": [[0, 1], [2, 3, 4]], "init_range": 0.1,
           "methods": ["src"], **experiment}
    return ExperimentConfig.from_dict({"experiment": exp,
                                       "sleep": {"preset": "mnist", "steps_first": 300, "steps_per_task": 100}})


def trained_model(seed=0):
    torch.manual_seed(seed)
    model = SleepMLP((784, 64, 48, 10))
    for p in model.parameters():
        torch.nn.init.uniform_(p, 0.0, 0.05)
    return model


def test_sleep_image_x_changes_only_the_mean_image():
    tasks, _, _ = load_tasks(tiny())
    first, second = tasks[0].x_train, tasks[1].x_train
    seen = np.concatenate([first, second])
    model, params = trained_model(), bridge.preset("mnist")
    spec = bridge.build_sleep_network(model, seen, params, image_x=first)
    ref = bridge.build_sleep_network(model, seen, params)
    np.testing.assert_array_equal(spec.mean_image, first.mean(0, dtype=np.float64))
    np.testing.assert_array_equal(spec.norm_constants, ref.norm_constants)  # normalization: all data seen
    assert not np.array_equal(spec.mean_image, ref.mean_image)
    # image_x = seen_x is the default sleep, bit for bit
    a = bridge.sleep(model, seen, params, steps=200, seed=3)
    b = bridge.sleep(model, seen, params, image_x=seen, steps=200, seed=3)
    c = bridge.sleep(model, seen, params, image_x=first, steps=200, seed=3)
    for wa, wb in zip(a.result.weights, b.result.weights):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.result.weights, c.result.weights))


def test_bad_image_x_names_the_argument():
    model = trained_model()
    seen = np.full((4, 784), 0.5)
    with pytest.raises(SleepDataError, match="image_x"):
        bridge.sleep(model, seen, steps=10, image_x=np.full((4, 784), 2.0))  # outside [0, 1]
    with pytest.raises(SleepDataError, match="image_x"):
        bridge.sleep(model, seen, steps=10, image_x=np.zeros((4, 10)))


def test_run_cell_sleeps_on_the_first_tasks_image(tmp_path):
    """The sleep after task 2 of a ``sleep_image = "first_task"`` cell is exactly
    ``bridge.sleep`` on everything seen with the first task's inputs as ``image_x``."""
    cfg = tiny(sleep_image="first_task")
    rec = run_cell(cfg, "src", 0, model_dir=tmp_path)
    tasks, _, _ = load_tasks(cfg)
    before = trained_model()
    before.load_state_dict(torch.load(tmp_path / "task2_before_sleep.pt"))
    after = torch.load(tmp_path / "task2_after_sleep.pt")
    seen = np.concatenate([t.x_train for t in tasks])
    replay = bridge.sleep(before, seen, cfg.sleep, image_x=tasks[0].x_train, steps=cfg.sleep.steps_for_task(2),
                          seed=task_seed(0, 1, SLEEP_SEED))
    got = replay.model.state_dict()
    assert set(got) == set(after)
    for key in after:
        torch.testing.assert_close(got[key], after[key], rtol=0, atol=0)
    other = run_cell(tiny(), "src", 0)  # the default sleeps on both tasks' image: another network
    assert other["accuracy_matrix"] != rec["accuracy_matrix"]
    assert other["accuracy_matrix_before_sleep"][0] == rec["accuracy_matrix_before_sleep"][0]


def test_accuracy_weighting():
    per_example = run_cell(tiny(methods=["sequential"]), "sequential", 0)
    per_task = run_cell(tiny(methods=["sequential"], accuracy_weighting="tasks"), "sequential", 0)
    assert per_task["accuracy_matrix"] == per_example["accuracy_matrix"]
    last = per_task["accuracy_matrix"][-1]
    assert per_task["final_accuracy"] == pytest.approx(np.mean(last))
    assert per_example["final_accuracy"] == pytest.approx((200 * last[0] + 300 * last[1]) / 500)
    assert per_task["final_accuracy"] != pytest.approx(per_example["final_accuracy"])
    with pytest.raises(ValueError, match="weighting"):
        evaluate(lambda x: np.zeros(len(x), int), [], np.zeros((0, 1)), np.zeros(0), "classes")


@pytest.mark.parametrize("field,value", [("sleep_image", "last_task"), ("sleep_image", 1),
                                         ("accuracy_weighting", "classes"), ("accuracy_weighting", None)])
def test_bad_protocol_fields_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"experiment.{field}"):
        tiny(**{field: value})


def test_new_fields_at_their_defaults_keep_earlier_fingerprints():
    """Studies written before the fields existed still resume: the search
    fingerprints of the committed studies are those of their configs today."""
    for name in ("tune_subset", "tune_subset_refine"):
        stored = tomllib.loads((ROOT / "results/paper/search" / name / "preset.toml").read_text())
        stored = next(v for v in stored.values() if isinstance(v, dict) and "search_fingerprint" in v)
        assert TuneConfig.from_file(ROOT / "configs/search" / f"{name}.toml").fingerprint() == stored["search_fingerprint"]
    cfg = tiny()
    assert dataclasses.replace(cfg, sleep_image="first_task").fingerprint() != cfg.fingerprint()
    assert dataclasses.replace(cfg, accuracy_weighting="tasks").fingerprint() != cfg.fingerprint()


@pytest.mark.parametrize("name", ["mnist_to_fashion_reference", "fashion_to_mnist_reference"])
def test_reference_cross_modal_configs(name):
    cfg = ExperimentConfig.from_file(ROOT / "configs/tables" / f"{name}.toml")
    assert cfg.sleep_image == "first_task" and cfg.accuracy_weighting == "tasks"
    assert cfg.max_train_per_task is None and cfg.sleep.steps_first == 255 and cfg.sleep.steps_per_task == 0
    # 2 epochs of the 60000 Fashion-MNIST images = the reference's 1200 updates per task
    assert cfg.epochs_for(60000) == 2


def test_sleep_replay_first_task_image():
    """In a user's own loop: ``SleepReplay(image="first_task")`` sleeps task 2 on the
    first task's image, i.e. ``bridge.sleep(..., image_x=task-1 data)``."""
    tasks, _, _ = load_tasks(tiny())
    params = bridge.preset("mnist").replace(steps_first=150, steps_per_task=50)
    replay = bridge.SleepReplay(params, image="first_task", seed=5)
    model = trained_model()
    replay(model, tasks[0].x_train)
    before = [p.detach().clone() for p in model.parameters()]
    replay(model, tasks[1].x_train)
    want = trained_model()
    with torch.no_grad():
        for p, b in zip(want.parameters(), before):
            p.copy_(b)
    seen = np.concatenate([tasks[0].x_train, tasks[1].x_train])
    ref = bridge.sleep(want, seen, params, image_x=tasks[0].x_train, steps=200, seed=replay.sleep_seed(2))
    for got, exp in zip(model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(got, exp, rtol=0, atol=0)
    with pytest.raises(TypeError, match="image"):
        bridge.SleepReplay(params, image="last_task")
