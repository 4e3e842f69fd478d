"""Sleep hyperparameters (SRC_SPEC.md sections 3-5) and the paper's presets.

One source of truth: :data:`PRESETS` holds the paper's numbers once (the
``mnist`` row is also the default of :class:`SleepParams`); every field of
:class:`SleepParams` carries its unit, help text, choices and validator as
dataclass field metadata (as Brian2's preferences and PyNN's
``default_parameters`` + ``units``). The command line builds its sleep flags from
that metadata (:func:`field_specs`), and config files are checked by the same
validators.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snn.network import KERNEL_UPDATES, WEIGHT_RULES

from .errors import ArgumentTypeError, ConfigError, ConfigFileError, SleepParamsError
from .validation import check_choice, check_float, check_float_tuple, check_int, check_known_keys, check_mapping

#: sleep input generators (see :mod:`bridge.sleep_input`)
INPUT_MODES = ("masked_mean", "poisson")
#: Hebbian weight rules: the engines' own list
RULES = WEIGHT_RULES
#: what the sleep input's mean image is made of: every training input seen so far (the
#: reference, SRC_SPEC.md section 3) or the first task's only (the reference's cross-modal runs,
#: which sleep on the MNIST mean image); used by ``SleepReplay(image=...)`` and
#: ``experiment.sleep_image``
SLEEP_IMAGES = ("seen", "first_task")

#: SRC_SPEC.md section 5, selected by the paper's genetic algorithm; ``mnist`` is
#: also the default of every field it names. ``patches`` is the toy task's.
PRESETS: dict[str, dict[str, Any]] = {
    "mnist": dict(max_rate_hz=239.515363, inc=0.032064, dec=0.003344,
                  beta=(14.548273, 44.560317, 38.046326), alpha_scale=55.882454),
    "fashion-mnist": dict(max_rate_hz=181.047258, inc=0.041001, dec=0.003344,
                          beta=(40.446884, 27.596929, 33.109393), alpha_scale=31.592987),
    "mnist-rehearsal": dict(max_rate_hz=21.0, inc=0.1, dec=0.000001,
                            beta=(22.259158, 0.318765, 0.0), alpha_scale=0.1),
    "cross-modal": dict(max_rate_hz=227.437205, inc=0.050052, dec=0.005592,
                        beta=(4.700579, 7.750487, 7.055086), alpha_scale=9.284002),
    "cifar10": dict(max_rate_hz=453.020604, inc=0.078129, dec=0.003005,
                    beta=(8.070491, 0.907842, 1.728840), alpha_scale=4.131109,
                    input_mode="poisson", steps_per_task=0),
    "patches": dict(max_rate_hz=64.0, inc=0.0035, dec=0.0002, beta=(0.95 * 1.1,), alpha_scale=4.25,
                    input_mode="poisson", steps_first=30000, steps_per_task=0),
}
_DEFAULT = PRESETS["mnist"]


# ------------------------------------------------------------- validators
def _positive(v: Any, name: str) -> Any:
    return check_float(v, name, min=0, min_open=True, error=SleepParamsError)


def _nonnegative(v: Any, name: str) -> Any:
    return check_float(v, name, min=0, error=SleepParamsError)


def _decay(v: Any, name: str) -> Any:
    return check_float(v, name, min=0, min_open=True, max=1, error=SleepParamsError)


def _count(v: Any, name: str) -> int:
    return check_int(v, name, min=0, error=SleepParamsError)


def _beta(v: Any, name: str) -> tuple[float, ...]:
    return check_float_tuple(v, name, min=0, min_len=1, error=SleepParamsError)


def _gains(v: Any, name: str) -> tuple[float, ...]:
    return check_float_tuple(v, name, min=0, min_len=0, error=SleepParamsError)


def _choice(choices: tuple[str, ...]) -> Callable[[Any, str], str]:
    return lambda v, name: check_choice(v, name, choices, error=SleepParamsError)


def _param(default: Any, unit: str, help: str, check: Callable[[Any, str], Any], *,
           choices: tuple[str, ...] | None = None, aliases: tuple[str, ...] = (), default_text: str = "") -> Any:
    """A :class:`SleepParams` field with its unit, help text, choices, validator,
    extra command-line spellings (``aliases``, without the leading ``--``) and, for a
    default that needs words (``default_text``), how help texts state it."""
    return field(default=default, metadata={"unit": unit, "help": help, "check": check, "choices": choices,
                                            "aliases": aliases, "default_text": default_text})


@dataclass
class SleepParams:
    """Hyperparameters of one SRC sleep phase (defaults: the paper's MNIST preset).

    Every field's unit, help text, choices and validator are in its metadata
    (``dataclasses.fields(SleepParams)[i].metadata``); :func:`field_specs` lists
    them. A pixel of intensity x spikes with probability
    ``min(1, 2 * dt_s * max_rate_hz * x)`` per step; layer l fires when
    ``v_l >= threshold * beta_l``; sleep after task k runs
    ``steps_first + (k - 1) * steps_per_task`` steps.
    """

    max_rate_hz: float = _param(_DEFAULT["max_rate_hz"], "Hz", "input firing rate of a pixel of intensity 0.5",
                                _positive, aliases=("max-rate",))
    inc: float = _param(_DEFAULT["inc"], "1", "Hebbian potentiation amplitude", _nonnegative)
    dec: float = _param(_DEFAULT["dec"], "1", "Hebbian depression amplitude", _nonnegative)
    beta: tuple[float, ...] = _param(_DEFAULT["beta"], "1", "threshold scale per layer, one value per layer of the "
                                     "sleep network (a CNN's pooling layers included)", _beta)
    alpha_scale: float = _param(_DEFAULT["alpha_scale"], "1",
                                "multiplies the data-based normalization constants alpha_l", _nonnegative)
    decay: float = _param(0.999, "1/step", "multiplicative membrane leak per step, in (0, 1] "
                                           "(tau_m = -dt / ln(decay))", _decay)
    threshold: float = _param(1.0, "1", "base firing threshold", _positive)
    dt_s: float = _param(0.001, "s", "simulation step", _positive)
    input_mode: str = _param("masked_mean", "", "sleep input: a random (mask_size+1)^2 window of the mean "
                                                "image each step, or the whole mean image", _choice(INPUT_MODES),
                             choices=INPUT_MODES)
    mask_size: int = _param(10, "pixels", "input window side minus one (10 -> 11 x 11 pixels)", _count)
    rule: str = _param("reference", "", "Hebbian rule: the reference's weight-dependent factor or plain inc/dec",
                       _choice(RULES), choices=RULES)
    steps_first: int = _param(15000, "steps", "sleep steps after task 1", _count)
    steps_per_task: int = _param(5000, "steps", "extra sleep steps per later task", _count)
    plasticity_gain: tuple[float, ...] = _param(
        (), "1", "variant (not the paper's): gain g_l >= 0 of the Hebbian rule per weight layer, which then "
                 "learns with g_l * inc and g_l * dec; 0 freezes a layer (a CNN's pooling layers: always 0); empty: 1 "
                 "for every layer (the reference; 0 for pooling layers)", _gains,
        default_text="empty = 1 for every layer (0 for pooling layers)")
    kernel_update: str = _param(
        KERNEL_UPDATES[0], "", "CNNs: how a convolution's shared kernel gathers one step's updates: summed over the "
                               "post spikes and applied once, or one post spike after the other (docs/cnn.md)",
        _choice(KERNEL_UPDATES), choices=KERNEL_UPDATES)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field with its validator; :class:`SleepParamsError` names
        the first bad field (``sleep.<name>``). ``beta`` becomes a tuple of floats."""
        for f in dataclasses.fields(self):
            value = f.metadata["check"](getattr(self, f.name), f"sleep.{f.name}")
            if f.name in _TUPLE_FIELDS:
                object.__setattr__(self, f.name, value)

    # -------------------------------------------------------------- helpers
    def steps_for_task(self, k: int) -> int:
        """Number of sleep steps after task ``k`` (1-based)."""
        k = check_int(k, "task number", min=1, error=SleepParamsError)
        return self.steps_first + (k - 1) * self.steps_per_task

    @property
    def layer_gains(self) -> tuple[float, ...]:
        """``plasticity_gain`` with the reference's empty value spelled out: gain 1 for each of
        the ``len(beta)`` layers (an MLP's; see :meth:`gains_for` for a CNN)."""
        return self.plasticity_gain or (1.0,) * len(self.beta)

    def gains_for(self, kinds: Sequence[str]) -> tuple[float, ...]:
        """The per-layer gains of a network whose layers have these ``kinds`` (``"dense"``,
        ``"conv"``, ``"pool"``): ``plasticity_gain``, or when it is empty gain 1 for every layer
        but 0 for pooling layers (fixed weights). Raises :class:`SleepParamsError` for a length
        that does not fit or a gain other than 0 given to a pooling layer."""
        if not self.plasticity_gain:
            return tuple(0.0 if k == "pool" else 1.0 for k in kinds)
        if len(self.plasticity_gain) != len(kinds):
            raise SleepParamsError(f"sleep.plasticity_gain has {len(self.plasticity_gain)} values but the model has "
                                   f"{len(kinds)} layers; give one gain per layer, or none for the reference")
        for l, (g, k) in enumerate(zip(self.plasticity_gain, kinds)):
            if k == "pool" and g != 0:
                raise SleepParamsError(f"sleep.plasticity_gain[{l}] = {g:g} is for a pooling layer, whose weights are "
                                       "fixed; give 0")
        return self.plasticity_gain

    @property
    def rescale(self) -> float:
        """``1 / (dt * max_rate)`` of the reference's spike test."""
        return 1.0 / (self.dt_s * self.max_rate_hz)

    def replace(self, **changes: Any) -> "SleepParams":
        check_known_keys(changes, "sleep", _FIELD_NAMES, noun="parameter", error=SleepParamsError)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain values (tuples as lists). Fields added after results were
        published are left out at their default (:data:`_OMITTED_AT_DEFAULT`), so the
        fingerprints of earlier configs, and the preset files they wrote, stay the same."""
        d = dataclasses.asdict(self)
        for name in _TUPLE_FIELDS:
            d[name] = list(d[name])
        for name, default in _OMITTED_AT_DEFAULT.items():
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "SleepParams":
        """Build from a mapping; a ``preset`` key starts from that preset, the
        other keys override single fields. Unknown keys raise
        :class:`SleepParamsError` naming them."""
        values = check_mapping(values, "sleep", error=SleepParamsError)
        base = preset_or_file(values.pop("preset")) if "preset" in values else cls()
        check_known_keys(values, "sleep", _FIELD_NAMES, noun="parameter", error=SleepParamsError)
        return dataclasses.replace(base, **values)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "SleepParams":
        """Read a TOML or JSON file: its ``[sleep]`` table if it has one, else the
        whole file as a table of parameters (keys: the fields, and ``preset``)."""
        data = read_config(path)
        if "sleep" in data:
            return cls.from_dict(check_mapping(data["sleep"], f"{path}: [sleep]", error=SleepParamsError))
        return cls.from_dict(data)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(SleepParams))
#: fields whose value is a tuple of floats
_TUPLE_FIELDS = ("beta", "plasticity_gain")
#: variant fields added after results were published: ``to_dict`` leaves them out at this default
_OMITTED_AT_DEFAULT: dict[str, Any] = {"plasticity_gain": [], "kernel_update": KERNEL_UPDATES[0]}


def field_specs() -> list[dataclasses.Field]:
    """The fields of :class:`SleepParams` with their metadata (``unit``, ``help``,
    ``choices``, ``check``, ``aliases``), in declaration order."""
    return list(dataclasses.fields(SleepParams))


def as_sleep_params(params: Any, name: str = "params") -> SleepParams:
    """``params`` if it is a :class:`SleepParams` (validated), else
    :class:`~bridge.errors.ArgumentTypeError` naming the argument; ``None`` gives the defaults."""
    if params is None:
        return SleepParams()
    if not isinstance(params, SleepParams):
        hint = " (use SleepParams.from_dict(...) for a mapping)" if isinstance(params, Mapping) else ""
        raise ArgumentTypeError(f"{name} must be a SleepParams, got {type(params).__name__}{hint}")
    params.validate()
    return params


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``.toml`` or ``.json`` config file; clear errors for bad files."""
    path = Path(path)
    if path.is_dir():
        raise ConfigFileError(f"cannot read config file {path}: it is a directory, expected a .toml or .json file")
    try:
        text = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigFileError(f"cannot read config file {path}: no such file") from exc
    except OSError as exc:
        raise ConfigFileError(f"cannot read config file {path}: {exc.strerror}") from exc
    kind = "JSON" if path.suffix == ".json" else "TOML"
    try:
        data = json.loads(text) if kind == "JSON" else tomllib.loads(text.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table/object at top level")
    return data


def preset_or_file(name: str) -> SleepParams:
    """A preset by name (:func:`preset`), or a preset file (a ``.toml``/``.json``
    path, e.g. written by ``sleep-replay tune``; relative to the current folder)."""
    if isinstance(name, str) and name.endswith((".toml", ".json")):
        try:
            return SleepParams.from_file(name)
        except ConfigError as exc:
            raise SleepParamsError(f"sleep.preset = {name!r}: {exc}") from exc
    return preset(name)


def preset(name: str) -> SleepParams:
    """The paper's hyperparameters for ``name`` (see :data:`PRESETS`)."""
    check_choice(name, "sleep.preset", sorted(PRESETS), what="sleep preset", error=SleepParamsError)
    return SleepParams(**PRESETS[name])
