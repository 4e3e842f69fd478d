"""What a protocol runs: the :class:`ProtocolConfig` schema and its checks.

A protocol config is a TOML/JSON file with the tables

* ``[experiment]``: data, network, seeds, sleep engine (the fields of a run config
  that mean the same here) and the validation split carved from the training data;
* ``[train]``: training on the whole training split (``epochs`` >= 1);
* ``[sleep]``: the sleep (a preset plus fields; it lasts ``steps_first`` steps);
* ``[select]`` (optional): ``candidates``, a list of tables of sleep fields; each
  candidate replaces those fields of ``[sleep]``, and each cell sleeps with the one
  that scores best on its validation split (never the test split);
* exactly one protocol table, ``[robustness]`` or ``[limited_data]``
  (:class:`RobustnessOptions`, :class:`LimitedDataOptions`).

Every field is checked for type and range before any work; errors name the field
(``experiment.seeds``, ``select.candidates[2].inc``, ``robustness.corruptions.blur[0]``).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ann import TrainConfig
from ann.corruptions import Corruption, corruption_list
from ann.errors import CorruptionError

from ..errors import ConfigError, SleepParamsError
from ..experiments.config import CNN_FIELDS, MODELS, ExperimentConfig
from ..params import SleepParams, preset, read_config
from ..validation import (MAX_SEED, check_choice, check_device, check_float, check_int, check_int_list, check_list,
                          check_known_keys, check_mapping, check_optional, check_str, check_train_fields)

#: the protocols, by the name of their config table
PROTOCOLS = ("robustness", "limited_data")
#: data sets of images (the corruptions and the sleep input need 28 x 28 images)
IMAGE_DATASETS = ("mnist-subset", "mnist", "fashion-mnist")
#: robustness: what the validation score of a sleep candidate averages
ROBUSTNESS_OBJECTIVES = ("all", "corrupted", "clean")
#: limited data: the stage whose validation accuracy scores a sleep candidate
LIMITED_OBJECTIVES = ("after_sleep", "after_sleep_finetune")
#: the test conditions of Tadros et al. (ICLR 2020) as issue 26 names them
DEFAULT_CORRUPTIONS = {"gaussian_noise": [0.2, 0.4, 0.6], "salt_pepper": [0.2, 0.4, 0.6], "blur": [2.0, 4.0, 6.0]}
#: A. Bazhenov et al. 2024 (arXiv 2402.10956): percentages of the training set
DEFAULT_PERCENTS = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
_TABLES = ("experiment", "train", "sleep", "select", *PROTOCOLS)


@dataclass
class RobustnessOptions:
    """``[robustness]``: train on clean data (all classes), then compare the network
    (``baseline``), the slept network (``src``) and the network fine-tuned on
    distorted training images (``finetune``) on the test set under each corruption."""

    #: ``{kind: [levels]}``, kinds of :data:`ann.corruptions.CORRUPTIONS`
    corruptions: dict[str, list[float]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_CORRUPTIONS))
    #: epochs of fine-tuning on the training split, every image given a condition drawn
    #: uniformly from clean and every corruption level
    finetune_epochs: int = 1
    #: learning rate of the fine-tuning (``None``: ``train.lr``)
    finetune_lr: float | None = None
    #: what a sleep candidate's validation score averages, one of :data:`ROBUSTNESS_OBJECTIVES`
    objective: str = "all"

    def conditions(self) -> list[Corruption]:
        return corruption_list(self.corruptions, "robustness.corruptions")

    def check(self) -> None:
        try:
            self.conditions()
        except CorruptionError as exc:
            raise ConfigError(str(exc)) from exc
        # levels as floats (lossless: 2 and 2.0 are the same blur, and so the same fingerprint)
        self.corruptions = {k: [float(v) for v in vals] for k, vals in self.corruptions.items()}
        check_int(self.finetune_epochs, "robustness.finetune_epochs", min=1)
        check_optional(check_float, self.finetune_lr, "robustness.finetune_lr", min=0, min_open=True)
        check_choice(self.objective, "robustness.objective", ROBUSTNESS_OBJECTIVES, what="objective")


@dataclass
class LimitedDataOptions:
    """``[limited_data]``: train on a few percent of the training split; accuracy
    before sleep, after sleep and after sleep + fine-tuning on the same examples
    (and, as a control, after the same fine-tuning without sleep)."""

    #: percentages of the whole training set (per class, nested subsets for one seed)
    percents: list[float] = field(default_factory=lambda: list(DEFAULT_PERCENTS))
    #: training runs ``max(train.epochs, ceil(min_updates / batches per epoch))`` epochs
    min_updates: int = 0
    #: epochs of fine-tuning after sleep, at least ``finetune_min_updates`` SGD updates
    finetune_epochs: int = 1
    finetune_min_updates: int = 0
    #: learning rate of the fine-tuning (``None``: ``train.lr``)
    finetune_lr: float | None = None
    #: the stage scoring a sleep candidate on validation, one of :data:`LIMITED_OBJECTIVES`
    objective: str = "after_sleep"

    def check(self) -> None:
        vals = check_list(self.percents, "limited_data.percents",
                          lambda v, n: check_float(v, n, min=0, max=100, min_open=True), min_len=1)
        if len(set(float(v) for v in vals)) != len(vals):
            raise ConfigError(f"limited_data.percents lists a value twice: {vals}")
        self.percents = [float(v) for v in vals]
        for name in ("min_updates", "finetune_min_updates"):
            check_int(getattr(self, name), f"limited_data.{name}", min=0)
        check_int(self.finetune_epochs, "limited_data.finetune_epochs", min=1)
        check_optional(check_float, self.finetune_lr, "limited_data.finetune_lr", min=0, min_open=True)
        check_choice(self.objective, "limited_data.objective", LIMITED_OBJECTIVES, what="objective")


@dataclass
class ProtocolConfig:
    """A validated protocol config (build it with :meth:`from_dict` / :meth:`from_file`)."""

    protocol: str
    options: RobustnessOptions | LimitedDataOptions
    dataset: str = "mnist-subset"
    data_dir: str | None = None
    split_seed: int = 0
    #: ``"mlp"`` (``sizes``) or ``"cnn"`` (:class:`ann.SleepCNN`: the fields below, then the fc ``sizes``)
    model: str = "mlp"
    sizes: list[int] = field(default_factory=lambda: [784, 1200, 1200, 10])
    #: ``model = "cnn"`` only, as in a run config (docs/cnn.md)
    image_shape: list[int] = field(default_factory=lambda: list(CNN_FIELDS["image_shape"]))
    conv_channels: list[int] = field(default_factory=lambda: list(CNN_FIELDS["conv_channels"]))
    conv_kernel: int = CNN_FIELDS["conv_kernel"]
    conv_stride: int = CNN_FIELDS["conv_stride"]
    conv_padding: int = CNN_FIELDS["conv_padding"]
    pool_size: int = CNN_FIELDS["pool_size"]
    init_range: float = 0.01
    dropout: float = 0.25
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    engine: str = "fast"
    dtype: str = "float64"
    device: str = "cpu"
    #: share of every class's training examples held out as the validation split
    validation_fraction: float = 0.1
    #: the split of seed s is drawn from ``SeedSequence([validation_seed, s])``
    validation_seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    sleep: SleepParams = field(default_factory=lambda: preset("mnist"))
    #: sleep candidates (field overrides of ``sleep``); empty: sleep with ``sleep`` itself
    candidates: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------ checks
    def validate(self) -> None:
        """:class:`~bridge.errors.ConfigError` naming the first bad field, before any work."""
        import snn
        from snn.base import DTYPES

        e = "experiment"
        check_choice(self.protocol, "protocol", PROTOCOLS, what="protocol")
        check_choice(self.dataset, f"{e}.dataset", IMAGE_DATASETS, what="dataset")
        check_optional(check_str, self.data_dir, f"{e}.data_dir")
        check_int(self.split_seed, f"{e}.split_seed", min=0, max=MAX_SEED)
        check_choice(self.model, f"{e}.model", MODELS, what="model")
        check_int_list(self.sizes, f"{e}.sizes", min=1, min_len=2)
        if self.sizes[0] != 784:
            raise ConfigError(f"{e}.sizes[0] must be 784 (28 x 28 images), got {self.sizes[0]}")
        if self.model == "cnn" and (not isinstance(self.image_shape, (list, tuple))
                                    or list(self.image_shape) != [1, 28, 28]):
            raise ConfigError(f"{e}.image_shape must be [1, 28, 28] (the data sets' images), got {self.image_shape}")
        if self.sizes[-1] < 10:
            raise ConfigError(f"{e}.sizes[-1] = {self.sizes[-1]} outputs cannot hold the 10 classes")
        check_float(self.init_range, f"{e}.init_range", min=0, min_open=True)
        check_float(self.dropout, f"{e}.dropout", min=0, max=1, max_open=True)
        check_int_list(self.seeds, f"{e}.seeds", min=0, max=MAX_SEED, min_len=1, distinct=True)
        check_choice(self.engine, f"{e}.engine", snn.available_engines(), what="engine")
        check_choice(self.dtype, f"{e}.dtype", tuple(DTYPES), what="dtype")
        check_device(self.device, f"{e}.device")
        check_float(self.validation_fraction, f"{e}.validation_fraction", min=0, max=1, min_open=True, max_open=True)
        check_int(self.validation_seed, f"{e}.validation_seed", min=0, max=MAX_SEED)
        check_train_fields(self.train, "train")
        check_int(self.train.epochs, "train.epochs", min=1)
        if not isinstance(self.sleep, SleepParams):
            raise ConfigError(f"sleep must be a SleepParams, got {type(self.sleep).__name__}")
        self.sleep_layer_kinds()  # the CNN fields (errors name them)
        self.sleep_candidates()  # every candidate is a valid sleep of this network
        expected = RobustnessOptions if self.protocol == "robustness" else LimitedDataOptions
        if not isinstance(self.options, expected):
            raise ConfigError(f"the {self.protocol} protocol needs [{self.protocol}] options")
        self.options.check()

    def sleep_candidates(self) -> list[SleepParams]:
        """The sleeps to choose from on validation: ``[sleep]`` with each candidate's
        fields (or ``[sleep]`` alone). Errors name ``select.candidates[i].<field>``."""
        check_list(self.candidates, "select.candidates", lambda v, n: check_mapping(v, n))
        out = []
        for i, changes in enumerate(self.candidates or [{}]):
            name = f"select.candidates[{i}]"
            if not changes and self.candidates:
                raise ConfigError(f"{name} is empty; give the sleep fields it changes")
            try:
                params = self.sleep.replace(**changes)
                params.validate()
            except SleepParamsError as exc:
                raise ConfigError(f"{name}: {exc}") from exc
            layers = len(self.sleep_layer_kinds())
            what = "experiment.sizes" if self.model == "mlp" else "the CNN (convolution, pooling and fc layers)"
            for key, n in (("beta", len(params.beta)), ("plasticity_gain", len(params.plasticity_gain) or None)):
                if n is not None and n != layers:
                    where = f"{name}.{key}" if key in changes else f"sleep.{key}"
                    raise ConfigError(f"{where} has {n} values for {layers} layers of {what}")
            out.append(params)
        return out

    # ----------------------------------------------------------- derived
    def wake_config(self) -> ExperimentConfig:
        """The network part of this config as a run config (for :func:`bridge.experiments.new_model`
        and the CNN fields' checks, shared with ``sleep-replay run``)."""
        arch = {k: copy.deepcopy(getattr(self, k)) for k in ("model", "sizes", "init_range", "dropout", *CNN_FIELDS)}
        return ExperimentConfig(**arch, train=copy.deepcopy(self.train), sleep=self.sleep)

    def sleep_layer_kinds(self) -> list[str]:
        """Kind of every layer of the sleep network (``"dense"``, ``"conv"``, ``"pool"``); errors name a bad CNN field."""
        check_choice(self.model, "experiment.model", MODELS, what="model")
        return self.wake_config().sleep_layer_kinds()

    @property
    def cell_keys(self) -> list[tuple[float | None, int]]:
        """The cells of a run, ``(percent or None, seed)``, in table order."""
        if isinstance(self.options, LimitedDataOptions):
            return [(float(p), int(s)) for p in self.options.percents for s in self.seeds]
        return [(None, int(s)) for s in self.seeds]

    def to_dict(self) -> dict[str, Any]:
        """The config as the tables of a file (what ``summary.json`` and ``config.json`` hold)."""
        exp = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)
               if f.name not in ("protocol", "options", "train", "sleep", "candidates")
               and not (self.model == "mlp" and f.name in CNN_FIELDS)}  # (at their defaults: checked)
        out = {"protocol": self.protocol, "experiment": exp, "train": dataclasses.asdict(self.train),
               "sleep": self.sleep.to_dict(), "select": {"candidates": copy.deepcopy(self.candidates)},
               self.protocol: dataclasses.asdict(self.options)}
        return json.loads(json.dumps(out))  # tuples as lists, as a file reads back

    def fingerprint(self) -> str:
        """Hash of everything that changes a cell's numbers (not the seeds or percentages run)."""
        d = self.to_dict()
        d["experiment"].pop("seeds")
        d[self.protocol].pop("percents", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def resolved(self) -> "ProtocolConfig":
        """A validated deep copy (``train.n_classes`` = the number of outputs)."""
        self.validate()
        cfg = copy.deepcopy(self)
        cfg.train.n_classes = cfg.sizes[-1]
        return cfg

    # ----------------------------------------------------------- reading
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProtocolConfig":
        """Build from the tables of a config file and check it (see the module docstring)."""
        data = check_mapping(data, "protocol config")
        check_known_keys(data, "config", _TABLES, noun="table")
        names = [p for p in PROTOCOLS if p in data]
        if len(names) != 1:
            raise ConfigError(f"a protocol config needs exactly one of the tables {['[' + p + ']' for p in PROTOCOLS]}, "
                              f"got {['[' + p + ']' for p in names]}")
        name = names[0]
        option_type = RobustnessOptions if name == "robustness" else LimitedDataOptions
        values = check_mapping(data[name], f"[{name}]")
        check_known_keys(values, name, [f.name for f in dataclasses.fields(option_type)])
        exp = check_mapping(data.get("experiment", {}), "[experiment]")
        known = [f.name for f in dataclasses.fields(cls) if f.name not in ("protocol", "options", "train", "sleep",
                                                                         "candidates")]
        check_known_keys(exp, "experiment", known)
        train = check_mapping(data.get("train", {}), "[train]")
        check_known_keys(train, "train", [f.name for f in dataclasses.fields(TrainConfig)])
        sleep = check_mapping(data.get("sleep", {}), "[sleep]")
        sleep.setdefault("preset", "mnist")
        select = check_mapping(data.get("select", {}), "[select]")
        check_known_keys(select, "select", ["candidates"])
        cfg = cls(protocol=name, options=option_type(**values), **exp, train=TrainConfig(**train),
                  sleep=SleepParams.from_dict(sleep), candidates=select.get("candidates", []))
        cfg.validate()
        return cfg

    @classmethod
    def from_file(cls, path: str) -> "ProtocolConfig":
        return cls.from_dict(read_config(path))


def is_protocol_config(data: dict[str, Any]) -> bool:
    """Whether the tables of a config file describe a protocol run (``[robustness]`` or ``[limited_data]``)."""
    return isinstance(data, dict) and any(p in data for p in PROTOCOLS)
