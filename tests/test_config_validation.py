"""Config fields and API arguments: checked for type and range before any work,
never coerced. Property-based (hypothesis): any value either gives a typed error
naming the field, or a config whose recorded value equals what was asked."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bridge
from ann import SleepMLP, TrainConfig, train_task
from ann.errors import DataError, InvalidWeightsError, TrainingConfigError
from bridge.errors import ArgumentTypeError, ConfigError, SleepDataError, SleepParamsError
from bridge.experiments import ExperimentConfig
from bridge.params import PRESETS, SleepParams, field_specs

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: values of every JSON/TOML kind, plus NumPy scalars
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.lists(st.integers(-5, 60), max_size=5),
    st.lists(st.floats(-10, 10, allow_nan=False), max_size=4), st.lists(st.booleans(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _same(a, b) -> bool:
    """Recorded value equals the asked one (a tuple records as a list; 1 == 1.0)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is not bool and type(b) is not bool and a == b or a is b


# ---------------------------------------------------------- named items of issue 9
@pytest.mark.parametrize("experiment, field", [
    ({"seeds": "12"}, "experiment.seeds"),
    ({"seeds": [True]}, "experiment.seeds[0]"),
    ({"seeds": [1, 1]}, "experiment.seeds"),
    ({"seeds": [-1]}, "experiment.seeds[0]"),
    ({"sizes": [784, 32.5, 10]}, "experiment.sizes[1]"),
    ({"sizes": "784"}, "experiment.sizes"),
    ({"methods": ["src", "sequential+src"]}, "same method twice"),
    ({"methods": "src"}, "experiment.methods"),
    ({"class_groups": [[0, 1], [1, 2]]}, "experiment.class_groups"),
    ({"class_groups": [[0, 0]]}, "experiment.class_groups[0]"),
    ({"dropout": True}, "experiment.dropout"),
    ({"download": 1}, "experiment.download"),
    ({"updates_per_task": 10.0}, "experiment.updates_per_task"),
    ({"engine": "nope"}, "experiment.engine"),
    ({"data_dirs": {"mnist": 3}}, "experiment.data_dirs.mnist"),
    ({"max_train_per_task": 0}, "experiment.max_train_per_task"),
])
def test_experiment_fields_are_checked_not_coerced(experiment, field):
    with pytest.raises(ConfigError) as exc:
        ExperimentConfig.from_dict({"experiment": experiment})
    assert field in str(exc.value)


@pytest.mark.parametrize("train, field", [
    ({"epochs": 1.5}, "train.epochs"), ({"batch_size": True}, "train.batch_size"), ({"lr": "0.1"}, "train.lr"),
    ({"momentum": 1.0}, "train.momentum"), ({"loss": "l1"}, "train.loss"),
])
def test_train_fields_are_checked(train, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        ExperimentConfig.from_dict({"train": train})


def test_cross_modal_groups_may_reuse_labels_of_another_data_set():
    cfg = ExperimentConfig.from_dict({"experiment": {"task_datasets": ["mnist-subset", "fashion-mnist"],
                                                     "class_groups": [[0, 1], [0, 1]],
                                                     "data_dirs": {"fashion-mnist": "/nowhere"}}})
    assert cfg.class_groups == [[0, 1], [0, 1]]
    with pytest.raises(ConfigError, match="class 1 of mnist-subset"):
        ExperimentConfig.from_dict({"experiment": {"task_datasets": ["mnist-subset", "mnist-subset"],
                                                   "class_groups": [[0, 1], [1, 2]]}})


def test_tables_must_be_tables():
    for table in ("experiment", "train", "sleep"):
        with pytest.raises(ConfigError, match=rf"\[{table}\] must be a table"):
            ExperimentConfig.from_dict({table: [1, 2]})


@pytest.mark.parametrize("values, field", [
    ({"mask_size": 10.7}, "sleep.mask_size"), ({"steps_first": 2000.5}, "sleep.steps_first"),
    ({"steps_first": True}, "sleep.steps_first"), ({"inc": "0.1"}, "sleep.inc"), ({"beta": "123"}, "sleep.beta"),
    ({"beta": [1, "a", 2]}, "sleep.beta[1]"), ({"decay": 0}, "sleep.decay"), ({"rule": "hebb"}, "sleep.rule"),
    ({"preset": "imagenet"}, "sleep.preset"), ({"max_rate_hz": math.inf}, "sleep.max_rate_hz"),
    ({"nonsense": 1}, "nonsense"),
])
def test_sleep_fields_are_checked_not_coerced(values, field):
    with pytest.raises(SleepParamsError) as exc:
        SleepParams.from_dict(values)
    assert field in str(exc.value)


# ------------------------------------------------------------- files
def test_sleep_params_from_a_whole_file_toml_and_json(tmp_path):
    (tmp_path / "p.toml").write_text("preset = 'fashion-mnist'\ninc = 0.5\nsteps_first = 12\n")
    p = SleepParams.from_file(tmp_path / "p.toml")
    assert (p.inc, p.steps_first, p.dec) == (0.5, 12, PRESETS["fashion-mnist"]["dec"])
    (tmp_path / "p.json").write_text(json.dumps({"decay": 0.9, "beta": [1, 2, 3]}))
    p = SleepParams.from_file(tmp_path / "p.json")
    assert p.decay == 0.9 and p.beta == (1.0, 2.0, 3.0)
    (tmp_path / "t.toml").write_text("[experiment]\nseeds = [0]\n[sleep]\ndec = 0.25\n")
    assert SleepParams.from_file(tmp_path / "t.toml").dec == 0.25
    (tmp_path / "x.toml").write_text("[experiment]\nseeds = [0]\n")  # no sleep parameters: not silently defaults
    with pytest.raises(SleepParamsError, match="experiment"):
        SleepParams.from_file(tmp_path / "x.toml")


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        SleepParams.from_file(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        ExperimentConfig.from_file(str(tmp_path / "missing.toml"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ExperimentConfig.from_file(str(tmp_path / "bad.json"))


# ------------------------------------------------------------ API arguments
def _small_model():
    return SleepMLP((16, 8, 4), generator=torch.Generator().manual_seed(0))


def test_sleep_refuses_a_dict_as_params():
    x = np.random.default_rng(0).random((10, 16))
    with pytest.raises(ArgumentTypeError, match="params must be a SleepParams"):
        bridge.sleep(_small_model(), x, {"inc": 0.1}, steps=5)
    with pytest.raises(ArgumentTypeError, match="params"):
        bridge.build_sleep_network(_small_model(), x, {})


def test_sleep_refuses_float_windows_and_reads_bfloat16_data():
    x = np.random.default_rng(0).random((10, 16))
    params = SleepParams(beta=(1.0, 1.0), mask_size=1)
    with pytest.raises(SleepDataError, match="windows must hold integer"):
        bridge.sleep(_small_model(), x, params, steps=5, windows=np.full((5, 2), 0.5))
    slept = bridge.sleep(_small_model(), torch.tensor(x, dtype=torch.bfloat16), params, steps=5)
    ref = bridge.sleep(_small_model(), torch.tensor(x, dtype=torch.bfloat16).float(), params, steps=5)
    for a, b in zip(slept.result.weights, ref.result.weights):
        np.testing.assert_array_equal(a, b)


def test_train_task_reads_bfloat16_and_refuses_float_labels():
    x = torch.rand(20, 16, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    y = np.arange(20) % 4
    cfg = TrainConfig(epochs=1, batch_size=5, n_classes=4)
    assert len(train_task(_small_model(), x, y, cfg)) == 1
    with pytest.raises(DataError, match="labels y must be integers"):
        train_task(_small_model(), x, y.astype(float), cfg)
    with pytest.raises(TrainingConfigError, match="epochs"):
        train_task(_small_model(), x, y, TrainConfig(epochs=1.5))


@pytest.mark.parametrize("weights, message", [
    ([np.zeros((8, 16)), np.zeros((4, 9))], "weights[1] has 9 inputs but weights[0] has 8 outputs"),
    ([np.zeros(16)], "weights[0] must be a non-empty 2-D"),
    ([], "non-empty list"),
    (np.zeros((4, 4)), "non-empty list"),
    ([np.array([["a"]])], "weights[0] must be real numbers"),
    ([np.full((2, 2), np.nan)], "NaN"),
])
def test_from_weights_names_the_bad_layer(weights, message):
    with pytest.raises(InvalidWeightsError) as exc:
        SleepMLP.from_weights(weights)
    assert message in str(exc.value)


# ------------------------------------------------------ property-based tests
_SLEEP_FIELDS = [f.name for f in field_specs()]


@SETTINGS
@given(name=st.sampled_from(_SLEEP_FIELDS), value=ANY_VALUE)
def test_any_sleep_field_value_is_an_error_naming_it_or_recorded_as_asked(name, value):
    try:
        params = SleepParams.from_dict({name: value})
    except SleepParamsError as exc:
        assert f"sleep.{name}" in str(exc)
        return
    assert _same(getattr(params, name), value)
    # to_dict records it too, except a variant field at its reference default (fingerprints stay the same)
    assert _same(params.to_dict().get(name, []), value)


_EXPERIMENT_VALUES = {
    "dataset": st.one_of(st.sampled_from(["mnist-subset", "mnist", "imagenet"]), ANY_VALUE),
    "seeds": st.one_of(st.lists(st.integers(-3, 2 ** 64), max_size=4), ANY_VALUE),
    "sizes": st.one_of(st.lists(st.integers(-1, 1000), min_size=4, max_size=4).map(lambda s: [784, *s[1:3], 10]),
                       ANY_VALUE),
    "class_groups": st.one_of(st.lists(st.lists(st.integers(-1, 9), max_size=3), max_size=4), ANY_VALUE),
    "methods": st.one_of(st.lists(st.sampled_from(["src", "sequential", "sequential+src", "ewc", "owm+src"]),
                                  max_size=3), ANY_VALUE),
    "init_range": ANY_VALUE, "dropout": ANY_VALUE, "download": ANY_VALUE, "split_seed": ANY_VALUE,
    "max_train_per_task": ANY_VALUE, "engine": st.one_of(st.sampled_from(["fast", "dense", "nope"]), ANY_VALUE),
    "dtype": st.one_of(st.sampled_from(["float32", "float64", "float16"]), ANY_VALUE),
    "updates_per_task": ANY_VALUE, "paper_row": ANY_VALUE, "data_dir": ANY_VALUE,
}


@SETTINGS
@given(data=st.data(), name=st.sampled_from(sorted(_EXPERIMENT_VALUES)))
def test_any_experiment_field_value_is_an_error_naming_it_or_recorded_as_asked(data, name):
    value = data.draw(_EXPERIMENT_VALUES[name])
    try:
        cfg = ExperimentConfig.from_dict({"experiment": {name: value}})
    except ConfigError as exc:
        assert f"experiment.{name}" in str(exc), str(exc)
        return
    assert _same(cfg.to_dict()[name], value)


_TRAIN_VALUES = {"epochs": ANY_VALUE, "batch_size": ANY_VALUE, "lr": ANY_VALUE, "momentum": ANY_VALUE,
                 "loss": st.one_of(st.sampled_from(["mse", "ce", "l1"]), ANY_VALUE)}


@SETTINGS
@given(data=st.data(), name=st.sampled_from(sorted(_TRAIN_VALUES)))
def test_any_train_field_value_is_an_error_naming_it_or_recorded_as_asked(data, name):
    value = data.draw(_TRAIN_VALUES[name])
    try:
        cfg = ExperimentConfig.from_dict({"train": {name: value}})
    except ConfigError as exc:
        assert f"train.{name}" in str(exc), str(exc)
        return
    assert _same(cfg.to_dict()["train"][name], value)


@SETTINGS
@given(flag=st.sampled_from([f for f in field_specs() if not f.metadata["choices"]]),
       values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10 ** 6)),
                       min_size=1, max_size=3))
def test_cli_sleep_flags_either_fail_naming_the_field_or_are_recorded(flag, values):
    from bridge.cli import build_parser, config_data_from_args

    is_tuple = flag.name == "beta"
    values = values if is_tuple else values[:1]
    argv = ["run", f"--{flag.name.replace('_', '-')}", *map(str, values)]
    if flag.name != "beta":
        argv += ["--beta", "1", "1", "1"]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: not an int/float (exit 2)
        assert exc.code == 2
        return
    asked = getattr(args, f"sleep_{flag.name}")
    try:
        cfg = ExperimentConfig.from_dict(config_data_from_args(args))
    except ConfigError as exc:
        assert f"sleep.{flag.name}" in str(exc) or (is_tuple and "sleep.beta" in str(exc)), str(exc)
        return
    assert _same(cfg.to_dict()["sleep"][flag.name], asked)


@SETTINGS
@given(shapes=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=4))
def test_from_weights_either_names_the_layer_or_holds_the_weights(shapes):
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=s).astype(np.float32) for s in shapes]
    try:
        model = SleepMLP.from_weights(weights, dropout=0.0)
    except InvalidWeightsError as exc:
        assert "weights[" in str(exc)
        return
    for lin, w in zip(model.linears, weights):
        np.testing.assert_array_equal(lin.weight.detach().numpy(), w)


@SETTINGS
@given(sizes=st.one_of(ANY_VALUE, st.lists(st.integers(-2, 50), max_size=4)), dropout=ANY_VALUE)
def test_sleep_mlp_arguments_either_fail_typed_or_build(sizes, dropout):
    try:
        model = SleepMLP(sizes, dropout=dropout)
    except TrainingConfigError as exc:
        assert "sizes" in str(exc) or "dropout" in str(exc)
        return
    assert model.sizes == list(sizes) and model.dropout == dropout


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.one_of(st.integers(-3, 30), st.floats(-1, 30), st.booleans(), st.text(max_size=2), st.none()),
       window_kind=st.sampled_from(["none", "int", "float", "short", "out_of_range"]))
def test_sleep_arguments_either_fail_typed_naming_them_or_run_as_asked(steps, window_kind):
    """``steps``/``windows`` of any type: a typed error naming the argument, or a
    sleep of exactly the asked length."""
    from bridge.errors import BridgeError
    from snn.errors import SnnError

    x = np.random.default_rng(0).random((10, 16))
    params = SleepParams(beta=(1.0, 1.0), mask_size=1, steps_first=6)  # steps=None: steps_first
    n = steps if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0 else 4
    windows = {"none": None, "int": np.zeros((n, 2), dtype=np.int64), "float": np.full((n, 2), 0.5),
               "short": np.zeros((n + 1, 2), dtype=np.int64), "out_of_range": np.full((n, 2), 7)}[window_kind]
    try:
        outcome = bridge.sleep(_small_model(), x, params, steps=steps, engine="dense", windows=windows)
    except (BridgeError, SnnError) as exc:
        assert "steps" in str(exc) or "window" in str(exc), str(exc)
        return
    # (0, 2) origins "out of range" are no origins at all: a sleep of 0 steps with them is valid
    assert window_kind in ("none", "int") or (window_kind == "out_of_range" and n == 0)
    assert outcome.result.counts.shape[0] == (params.steps_first if steps is None else steps)
