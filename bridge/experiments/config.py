"""What an experiment runs: the :class:`ExperimentConfig` schema and its checks.

Read from a TOML/JSON file with tables ``[experiment]``, ``[train]``,
``[sleep]`` and ``[method_options.<method>]`` (see ``configs/``). The harness
never changes a caller's config: :meth:`ExperimentConfig.resolved` returns the
validated copy a run works on.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import snn
from ann import CLASS_PAIRS, DATASETS, SleepCNN, SleepMLP, TrainConfig
from ann.baselines import LEARNERS
from ann.errors import TrainingConfigError

from ..errors import ConfigError
from ..params import PRESETS, SLEEP_IMAGES, SleepParams, preset, read_config
from ..sleep import check_counts_memory
from ..validation import (check_choice, check_distinct_methods, check_experiment_fields, check_int, check_int_list,
                          check_mapping)
from .methods import MethodSpec, parse_method


#: how ``accuracy_all`` and ``final_accuracy`` pool the tasks' test sets: every test example
#: counts once, or every task counts once (mean of the per-task accuracies; for test sets of
#: unequal size, e.g. the MNIST subset next to full Fashion-MNIST)
ACCURACY_WEIGHTINGS = ("examples", "tasks")
#: ``train.n_classes`` when a config does not set it (:class:`ann.TrainConfig`'s default); a run
#: sets it to ``experiment.sizes[-1]``, any other value that differs from that is refused
_DEFAULT_N_CLASSES = TrainConfig().n_classes
#: fields added after results were published: left out of the fingerprint at their default,
#: so earlier results folders stay valid
_FINGERPRINT_OMITTED_DEFAULTS = {"sleep_image": "seen", "accuracy_weighting": "examples"}
#: methods whose machinery assumes an MLP, and why
MLP_ONLY_METHODS = {"owm": "its projectors act on the inputs of Linear layers only",
                    "icarl": "its features are the last hidden Linear layer's output"}
#: the networks a run can train: the reference MLP, or a bias-free CNN (:class:`ann.SleepCNN`)
MODELS = ("mlp", "cnn")
#: the architecture fields of ``model = "cnn"`` (with their defaults: the issue's CNN,
#: conv 16 5x5 - avgpool 2 - conv 32 5x5 - avgpool 2 - fc); left out of an MLP run's fingerprint
CNN_FIELDS = {"image_shape": [1, 28, 28], "conv_channels": [16, 32], "conv_kernel": 5, "conv_stride": 1,
              "conv_padding": 0, "pool_size": 2}


def _is_int(value: Any) -> bool:
    """An integer, not a bool (``True`` is not a seed or a width)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass
class ExperimentConfig:
    """What to run. Read from a TOML/JSON file with tables ``[experiment]``,
    ``[train]``, ``[sleep]`` and ``[method_options.<method>]`` (see ``configs/``)."""

    dataset: str = "mnist-subset"
    data_dir: str | None = None
    #: data folder per dataset name, for sequences of several data sets
    data_dirs: dict[str, str] = field(default_factory=dict)
    #: for cross-modal sequences: the data set of each task (overrides ``dataset``)
    task_datasets: list[str] | None = None
    #: download MNIST into ``data_dir`` if it is missing (checksums verified)
    download: bool = False
    split_seed: int = 0
    class_groups: list[list[int]] = field(default_factory=lambda: [list(g) for g in CLASS_PAIRS])
    max_train_per_task: int | None = None
    #: the network: ``"mlp"`` (``sizes``) or ``"cnn"`` (the ``conv_*``/``pool_size`` fields, then ``sizes``)
    model: str = "mlp"
    #: layer widths, input first. For ``model = "cnn"``: the input width (``prod(image_shape)``),
    #: then the fully connected layers after the convolutions, the output last (e.g. ``[784, 10]``)
    sizes: list[int] = field(default_factory=lambda: [784, 1200, 1200, 10])
    #: ``model = "cnn"`` only: (channels, height, width) of an input image
    image_shape: list[int] = field(default_factory=lambda: list(CNN_FIELDS["image_shape"]))
    #: ``model = "cnn"`` only: output channels of each convolution (bias-free, ReLU)
    conv_channels: list[int] = field(default_factory=lambda: list(CNN_FIELDS["conv_channels"]))
    #: ``model = "cnn"`` only: kernel side, stride and zero padding of every convolution
    conv_kernel: int = CNN_FIELDS["conv_kernel"]
    conv_stride: int = CNN_FIELDS["conv_stride"]
    conv_padding: int = CNN_FIELDS["conv_padding"]
    #: ``model = "cnn"`` only: ``AvgPool2d(pool_size)`` after each convolution (0 or 1: none)
    pool_size: int = CNN_FIELDS["pool_size"]
    #: initial weights uniform in [-init_range, init_range] (reference 0.01)
    init_range: float = 0.01
    #: hidden-layer dropout (reference 0.25, non-inverted)
    dropout: float = 0.25
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    methods: list[str] = field(default_factory=lambda: ["sequential", "src"])
    engine: str = "fast"
    dtype: str = "float64"
    #: where the wake side trains: "cpu" (default), "cuda" or "cuda:N"; sleep always runs
    #: on the CPU. Part of the fingerprint, so CPU and GPU cells never share a results folder.
    device: str = "cpu"
    #: SGD updates per task; sets the epochs when ``train.epochs`` is 0.
    #: The reference does 2 epochs of 5000 examples in batches of 100 = 100.
    updates_per_task: int = 100
    #: the data behind the sleep input's mean image, one of :data:`SLEEP_IMAGES`; the
    #: normalization always uses every training input seen so far
    sleep_image: str = "seen"
    #: how the overall accuracy pools the tasks' test sets, one of :data:`ACCURACY_WEIGHTINGS`
    accuracy_weighting: str = "examples"
    #: name of the paper row to print next to the results (default from the data set)
    paper_row: str | None = None
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=0))
    sleep: SleepParams = field(default_factory=lambda: preset("mnist"))
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    # ---------------------------------------------------------------- checks
    def method_specs(self) -> list[MethodSpec]:
        return [parse_method(m, self.method_options) for m in self.methods]

    def validate(self) -> None:
        """Raise :class:`~bridge.errors.ConfigError` (a ``ValueError``) naming the
        first bad field, before any training."""
        check_experiment_fields(self, sleep_type=SleepParams)  # every field's type and range (bridge.validation)
        check_choice(self.sleep_image, "experiment.sleep_image", SLEEP_IMAGES, error=ConfigError)
        check_choice(self.model, "experiment.model", MODELS, error=ConfigError)
        check_choice(self.accuracy_weighting, "experiment.accuracy_weighting", ACCURACY_WEIGHTINGS,
                     error=ConfigError)
        for name in self.task_datasets or [self.dataset]:
            if name not in DATASETS:
                raise ConfigError(f"experiment.dataset: unknown dataset {name!r}; choose one of {DATASETS}")
        names = list(dict.fromkeys(self.task_datasets or [self.dataset]))
        if self.data_dir is not None and len([n for n in names if n != "mnist-subset"]) > 1:
            raise ConfigError("experiment.data_dir is ambiguous with several data sets; name each folder in "
                              "experiment.data_dirs = {mnist = '...', fashion-mnist = '...'}")
        unknown_dirs = sorted(set(self.data_dirs) - set(names))
        if unknown_dirs:
            raise ConfigError(f"experiment.data_dirs names data set(s) {unknown_dirs} the run does not use")
        if self.task_datasets is not None and len(self.task_datasets) != len(self.class_groups):
            raise ConfigError(f"experiment.task_datasets has {len(self.task_datasets)} entries for "
                              f"{len(self.class_groups)} class groups")
        if not isinstance(self.methods, (list, tuple)) or not self.methods:
            raise ConfigError(f"experiment.methods must be a non-empty list of method names, got {self.methods!r}")
        specs = self.method_specs()
        check_distinct_methods(specs)  # e.g. src and sequential+src
        labels = [s.label for s in specs]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"experiment.methods lists a method twice: {labels}")
        for s in specs:  # instantiating a learner checks its options
            if self.model != "mlp" and s.base in MLP_ONLY_METHODS:
                raise ConfigError(f"experiment.methods: {s.base} works on model = 'mlp' only "
                                  f"({MLP_ONLY_METHODS[s.base]})")
            LEARNERS[s.base](SleepMLP((2, 2)), TrainConfig(), **s.learner_options)
            if "sleep_preset" in s.options and s.options["sleep_preset"] not in PRESETS:
                raise ConfigError(f"method_options.{s.label}.sleep_preset: unknown preset "
                                  f"{s.options['sleep_preset']!r}; choose one of {sorted(PRESETS)}")
        if (not isinstance(self.seeds, (list, tuple)) or not self.seeds or not all(_is_int(s) for s in self.seeds)
                or len(set(self.seeds)) != len(self.seeds)):
            raise ConfigError(f"experiment.seeds must be distinct integers, got {self.seeds}")
        if self.engine not in snn.available_engines():
            raise ConfigError(f"experiment.engine: unknown engine {self.engine!r}; "
                              f"available: {snn.available_engines()}")
        if self.dtype not in ("float64", "float32"):
            raise ConfigError(f"experiment.dtype must be float64 or float32, got {self.dtype!r}")
        if (not isinstance(self.sizes, (list, tuple)) or len(self.sizes) < 2
                or any(not _is_int(s) or s < 1 for s in self.sizes)):
            raise ConfigError(f"experiment.sizes must list >= 2 positive integer widths, got {self.sizes}")
        kinds = self.sleep_layer_kinds()  # checks the CNN fields
        where = "experiment.sizes" if self.model == "mlp" else "the CNN (convolution, pooling and fc layers)"
        if len(self.sleep.beta) != len(kinds):
            raise ConfigError(f"sleep.beta has {len(self.sleep.beta)} values for {len(kinds)} layers of {where}")
        if len(self.sleep.plasticity_gain) not in (0, len(kinds)):
            raise ConfigError(f"sleep.plasticity_gain has {len(self.sleep.plasticity_gain)} values for "
                              f"{len(kinds)} layers of {where} (give one per layer, or none)")
        if not self.init_range > 0:
            raise ConfigError(f"experiment.init_range must be > 0, got {self.init_range}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"experiment.dropout must be in [0, 1), got {self.dropout}")
        if self.updates_per_task < 1:
            raise ConfigError(f"experiment.updates_per_task must be >= 1, got {self.updates_per_task}")
        if self.train.epochs < 0:
            raise ConfigError(f"train.epochs must be >= 0 (0 = from updates_per_task), got {self.train.epochs}")
        TrainConfig(**{**dataclasses.asdict(self.train), "epochs": max(self.train.epochs, 1)}).validate()
        n_classes = max(max(g) for g in self.class_groups) + 1
        if n_classes > self.sizes[-1]:
            raise ConfigError(f"experiment.sizes[-1] = {self.sizes[-1]} outputs cannot hold {n_classes} classes")
        if self.train.n_classes not in (self.sizes[-1], _DEFAULT_N_CLASSES):
            raise ConfigError(f"train.n_classes = {self.train.n_classes} but the network has experiment.sizes[-1] "
                              f"= {self.sizes[-1]} outputs (one per class); set train.n_classes = "
                              f"{self.sizes[-1]} or leave it out")
        if self.data_dir is not None and all(n == "mnist-subset" for n in names):
            raise ConfigError(f"experiment.data_dir = {self.data_dir!r} is not used: the mnist-subset data set is "
                              "embedded in the package and reads no files; remove data_dir, or choose a "
                              "dataset that reads it (mnist, fashion-mnist, features)")
        longest = max(self.sleep.steps_for_task(k) for k in (1, len(self.class_groups)))
        check_counts_memory(longest, len(kinds),
                            "sleep.steps_first" if longest == self.sleep.steps_first else
                            f"sleep.steps_first + {len(self.class_groups) - 1} x sleep.steps_per_task")

    def resolved(self) -> "ExperimentConfig":
        """A validated deep copy ready to run (``train.n_classes`` set to the
        number of outputs). ``self`` is left unchanged."""
        self.validate()
        cfg = copy.deepcopy(self)
        cfg.train.n_classes = cfg.sizes[-1]
        return cfg

    # --------------------------------------------------------------- derived
    def cnn_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`ann.SleepCNN` for ``model = "cnn"`` (not validated here)."""
        return dict(image_shape=tuple(self.image_shape), channels=tuple(self.conv_channels),
                    kernel_size=self.conv_kernel, stride=self.conv_stride, padding=self.conv_padding,
                    pool_size=self.pool_size, fc_sizes=tuple(self.sizes[1:]))

    def sleep_layer_kinds(self) -> list[str]:
        """Kind of every layer of the sleep network, input side first: ``"dense"`` for an MLP's
        layers; ``"conv"``, ``"pool"`` (a fixed average-pooling layer) then ``"dense"`` for a CNN.
        ``sleep.beta`` and ``sleep.plasticity_gain`` have one value per entry. Raises
        :class:`~bridge.errors.ConfigError` naming a bad CNN field."""
        if self.model == "mlp":
            changed = sorted(k for k, v in CNN_FIELDS.items() if getattr(self, k) != v)
            if changed:
                raise ConfigError(f"experiment.{changed[0]} is set but experiment.model = 'mlp'; the CNN "
                                  "fields need model = 'cnn'")
            return ["dense"] * (len(self.sizes) - 1)
        check_int_list(self.image_shape, "experiment.image_shape", min=1, min_len=3, error=ConfigError)
        if len(self.image_shape) != 3:
            raise ConfigError(f"experiment.image_shape must be [channels, height, width], got {self.image_shape}")
        if math.prod(self.image_shape) != self.sizes[0]:
            raise ConfigError(f"experiment.image_shape {self.image_shape} has {math.prod(self.image_shape)} pixels "
                              f"but experiment.sizes[0] = {self.sizes[0]}")
        check_int_list(self.conv_channels, "experiment.conv_channels", min=1, min_len=1, error=ConfigError)
        for name, low in (("conv_kernel", 1), ("conv_stride", 1), ("conv_padding", 0), ("pool_size", 0)):
            check_int(getattr(self, name), f"experiment.{name}", min=low, error=ConfigError)
        try:  # the model itself checks that every layer keeps output positions
            SleepCNN(**self.cnn_options())
        except TrainingConfigError as exc:
            raise ConfigError(f"experiment (model = 'cnn'): {exc}") from exc
        per_conv = ["conv", "pool"] if self.pool_size > 1 else ["conv"]
        return per_conv * len(self.conv_channels) + ["dense"] * (len(self.sizes) - 1)

    def data_dir_for(self, name: str) -> str | None:
        """The folder (or file) of dataset ``name``: ``data_dirs[name]``, else
        ``data_dir`` when ``name`` is the only data set of the run that reads files."""
        if name in self.data_dirs:
            return self.data_dirs[name]
        readers = [n for n in dict.fromkeys(self.task_datasets or [self.dataset]) if n != "mnist-subset"]
        return self.data_dir if readers == [name] else None

    def epochs_for(self, n_examples: int, n_tasks: int = 1) -> int:
        """Epochs over ``n_examples`` (the data of ``n_tasks`` tasks): ``train.epochs``,
        or as many as ``updates_per_task * n_tasks`` SGD updates need."""
        if self.train.epochs:
            return self.train.epochs
        return math.ceil(self.updates_per_task * n_tasks / math.ceil(n_examples / self.train.batch_size))

    def sleep_params_for(self, spec: MethodSpec) -> SleepParams:
        """The sleep of method ``spec``: ``[sleep]``, or its ``sleep_preset`` with the run's sleep lengths."""
        name = spec.options.get("sleep_preset")
        if name is None:
            return self.sleep
        return preset(name).replace(steps_first=self.sleep.steps_first, steps_per_task=self.sleep.steps_per_task)

    @property
    def row(self) -> str:
        """The paper row the results are compared with."""
        if self.paper_row:
            return self.paper_row
        names = self.task_datasets or [self.dataset]
        names = ["mnist" if n.startswith("mnist") else n for n in dict.fromkeys(names)]
        return "->".join(names)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sleep"] = self.sleep.to_dict()
        return d

    def fingerprint(self) -> str:
        """Hash of everything that changes the results (not the seeds, methods or paper row)."""
        d = self.to_dict()
        for k in ("seeds", "methods", "paper_row"):
            d.pop(k)
        for k, default in _FINGERPRINT_OMITTED_DEFAULTS.items():
            if d[k] == default:
                d.pop(k)
        if d["model"] == "mlp":  # (the CNN fields are at their defaults, checked by validate)
            for k in ("model", *CNN_FIELDS):
                d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]

    # ------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExperimentConfig":
        """Build from the tables of a config file; unknown tables or fields raise
        :class:`~bridge.errors.ConfigError` naming them."""
        data = dict(data)
        unknown_tables = sorted(set(data) - {"experiment", "train", "sleep", "method_options"})
        if unknown_tables:
            raise ConfigError(f"unknown config table(s) {unknown_tables}; "
                              "use [experiment], [train], [sleep], [method_options.NAME]")
        exp = check_mapping(data.get("experiment", {}), "[experiment]")
        known = {f.name for f in dataclasses.fields(cls)} - {"train", "sleep", "method_options"}
        bad = sorted(set(exp) - known)
        if bad:
            raise ConfigError(f"unknown experiment field(s) {bad}; known: {sorted(known)}")
        train = check_mapping(data.get("train", {}), "[train]")
        tknown = {f.name for f in dataclasses.fields(TrainConfig)}
        bad = sorted(set(train) - tknown)
        if bad:
            raise ConfigError(f"unknown train field(s) {bad}; known: {sorted(tknown)}")
        train.setdefault("epochs", 0)
        sleep_values = check_mapping(data.get("sleep", {}), "[sleep]")
        sleep_values.setdefault("preset", "mnist")
        options = data.get("method_options", {})
        if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
            raise ConfigError("method_options must be tables [method_options.NAME]")
        cfg = cls(**exp, train=TrainConfig(**train), sleep=SleepParams.from_dict(sleep_values),
                  method_options={k: dict(v) for k, v in options.items()})
        cfg.validate()
        if "n_classes" in train and cfg.train.n_classes != cfg.sizes[-1]:  # given, not the default
            raise ConfigError(f"train.n_classes = {cfg.train.n_classes} but the network has experiment.sizes[-1] "
                              f"= {cfg.sizes[-1]} outputs (one per class); set train.n_classes = {cfg.sizes[-1]} "
                              "or leave it out")
        return cfg

    @classmethod
    def from_file(cls, path: str) -> "ExperimentConfig":
        return cls.from_dict(read_config(path))
