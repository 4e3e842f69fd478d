"""Type and range checks for config fields and API arguments, one function per kind.

Every check returns the value (normalised only where no information is lost:
a tuple of floats for a list of numbers) or raises a typed error whose message
names the field, e.g. ``experiment.seeds``, and says what is allowed. Nothing is
coerced: a string is never a list, ``True`` is never the integer 1, ``2.5`` is
never the integer 2, ``"12"`` is never a number.

The default error is :class:`bridge.errors.ConfigError` (a ``ValueError``); a
value of the wrong *type* given through the Python API can ask for
:class:`bridge.errors.ArgumentTypeError` (a ``TypeError``) with ``error=``.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError

ErrorType = type[Exception]


# ------------------------------------------------------------------ kinds
def is_int(value: Any) -> bool:
    """True for Python/NumPy integers, False for bools (``True`` is not a count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """True for Python/NumPy integers and floats, False for bools and strings."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    return " and ".join(parts)


def _check_range(value: float, name: str, kind: str, lo: float | None, hi: float | None,
                 lo_open: bool, hi_open: bool, error: ErrorType) -> None:
    bad_lo = lo is not None and (value <= lo if lo_open else value < lo)
    bad_hi = hi is not None and (value >= hi if hi_open else value > hi)
    if bad_lo or bad_hi:
        raise error(f"{name} must be {kind} {_range_text(lo, hi, lo_open, hi_open)}, got {value!r}")


# ---------------------------------------------------------------- scalars
def check_int(value: Any, name: str, *, min: int | None = None, max: int | None = None,
              error: ErrorType = ConfigError) -> int:
    """An integer (not a bool, not a float such as 2.0 or 2.5) in ``[min, max]``."""
    if not is_int(value):
        raise error(f"{name} must be an integer, got {_describe(value)}")
    _check_range(int(value), name, "an integer", min, max, False, False, error)
    return int(value)


def check_float(value: Any, name: str, *, min: float | None = None, max: float | None = None,
                min_open: bool = False, max_open: bool = False, error: ErrorType = ConfigError) -> Any:
    """A finite real number (int or float, not a bool or string) in the range;
    ``min_open``/``max_open`` exclude the bound. Returned unchanged."""
    if not is_real(value):
        raise error(f"{name} must be a number, got {_describe(value)}")
    if not math.isfinite(value):
        raise error(f"{name} must be a finite number, got {value!r}")
    _check_range(value, name, "a number", min, max, min_open, max_open, error)
    return value


def check_bool(value: Any, name: str, *, error: ErrorType = ConfigError) -> bool:
    """``True`` or ``False`` (not 0/1, not ``"true"``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise error(f"{name} must be true or false, got {_describe(value)}")
    return bool(value)


def check_str(value: Any, name: str, *, nonempty: bool = True, error: ErrorType = ConfigError) -> str:
    """A string (non-empty unless ``nonempty=False``)."""
    if not isinstance(value, str):
        raise error(f"{name} must be a string, got {_describe(value)}")
    if nonempty and not value.strip():
        raise error(f"{name} must be a non-empty string")
    return value


def check_choice(value: Any, name: str, choices: Iterable[str], *, what: str = "value",
                 error: ErrorType = ConfigError) -> str:
    """One of ``choices`` (strings); ``what`` names the kind in the message ("unknown engine 'x'")."""
    choices = tuple(choices)
    if not isinstance(value, str):
        raise error(f"{name} must be one of {', '.join(map(repr, choices))}, got {_describe(value)}")
    if value not in choices:
        raise error(f"{name}: unknown {what} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


def check_optional(check: Callable[..., Any], value: Any, name: str, **kw: Any) -> Any:
    """``None``, or a value passing ``check(value, name, **kw)``."""
    return None if value is None else check(value, name, **kw)


# ------------------------------------------------------------ containers
def check_list(value: Any, name: str, item: Callable[[Any, str], Any], *, min_len: int = 0,
               distinct: bool = False, error: ErrorType = ConfigError) -> list[Any]:
    """A list/tuple (not a string, not a mapping) whose items pass ``item(v, f"{name}[i]")``."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise error(f"{name} must be a list, got {_describe(value)}")
    out = [item(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if len(out) < min_len:
        raise error(f"{name} must list at least {min_len} value(s), got {len(out)}")
    if distinct:
        seen: set[Any] = set()
        for v in out:
            if v in seen:
                raise error(f"{name} lists {v!r} twice; values must be distinct")
            seen.add(v)
    return out


def check_int_list(value: Any, name: str, *, min: int | None = None, max: int | None = None,
                   min_len: int = 1, distinct: bool = False, error: ErrorType = ConfigError) -> list[int]:
    """A list of integers in ``[min, max]``, at least ``min_len`` long."""
    return check_list(value, name, lambda v, n: check_int(v, n, min=min, max=max, error=error),
                      min_len=min_len, distinct=distinct, error=error)


def check_float_tuple(value: Any, name: str, *, min: float | None = None, min_len: int = 1,
                      error: ErrorType = ConfigError) -> tuple[float, ...]:
    """A list of finite numbers ``>= min``, returned as a tuple of floats."""
    vals = check_list(value, name, lambda v, n: check_float(v, n, min=min, error=error), min_len=min_len,
                      error=error)
    return tuple(float(v) for v in vals)


def check_mapping(value: Any, name: str, *, error: ErrorType = ConfigError) -> dict[str, Any]:
    """A table / dict with string keys (a copy)."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise error(f"{name} must be a table (mapping of names to values), got {_describe(value)}")
    return dict(value)


def check_known_keys(values: Mapping[str, Any], name: str, known: Iterable[str], *, noun: str = "field",
                     error: ErrorType = ConfigError) -> None:
    """Refuse keys of ``values`` that are not in ``known``, naming them
    ("unknown experiment field(s) ['seedz']")."""
    known = sorted(known)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise error(f"unknown {name} {noun}(s) {unknown}; known: {known}")


def check_class_groups(value: Any, name: str = "experiment.class_groups", *,
                       datasets: Sequence[str] | None = None, error: ErrorType = ConfigError) -> list[list[int]]:
    """Non-empty groups of distinct class labels >= 0; no class of one data set in
    two groups (a class counted twice would enter the test set twice).
    ``datasets``: the data set of each group (cross-modal sequences may reuse labels)."""
    groups = check_list(value, name, lambda g, n: check_int_list(g, n, min=0, min_len=1, distinct=True,
                                                                  error=error), min_len=1, error=error)
    if datasets is None or len(datasets) != len(groups):
        datasets = [""] * len(groups)
    owner: dict[tuple[str, int], int] = {}
    for i, (group, data) in enumerate(zip(groups, datasets)):
        for c in group:
            if (data, c) in owner:
                raise error(f"{name}: class {c}{f' of {data}' if data else ''} is in group {owner[data, c]} "
                            f"and group {i}; groups must not overlap")
            owner[data, c] = i
    return groups


# ------------------------------------------------------ experiment schema
def method_identity(spec: Any) -> tuple[str, bool, str]:
    """What a parsed method runs: learner, sleep or not, options. ``src`` and
    ``sequential+src`` have the same identity."""
    import json

    return spec.base, bool(spec.sleep), json.dumps(spec.options, sort_keys=True, default=repr)


def check_distinct_methods(specs: Sequence[Any], name: str = "experiment.methods", *,
                           error: ErrorType = ConfigError) -> None:
    """Refuse two labels that run the same method (e.g. ``src`` and ``sequential+src``)."""
    seen: dict[tuple[str, bool, str], str] = {}
    for spec in specs:
        key = method_identity(spec)
        if key in seen:
            raise error(f"{name} lists the same method twice: {seen[key]!r} and {spec.label!r}")
        seen[key] = spec.label


def check_train_fields(train: Any, name: str = "train", *, error: ErrorType = ConfigError) -> None:
    """Types and ranges of an :class:`ann.TrainConfig` as a config gives it
    (``epochs = 0`` means: from ``experiment.updates_per_task``)."""
    from ann.training import LOSSES

    check_int(train.epochs, f"{name}.epochs", min=0, error=error)
    check_int(train.batch_size, f"{name}.batch_size", min=1, error=error)
    check_float(train.lr, f"{name}.lr", min=0, min_open=True, error=error)
    check_float(train.momentum, f"{name}.momentum", min=0, max=1, max_open=True, error=error)
    check_choice(train.loss, f"{name}.loss", LOSSES, what="loss", error=error)
    check_int(train.n_classes, f"{name}.n_classes", min=1, error=error)


#: seeds feed ``numpy.random.SeedSequence`` (>= 0) and ``torch.Generator.manual_seed`` (< 2**64)
MAX_SEED = 2 ** 63 - 1


def check_device(value: Any, name: str, *, error: ErrorType = ConfigError) -> str:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"``, and a CUDA device only where torch sees one."""
    from ann.devices import resolve_device
    from ann.errors import TrainingConfigError

    check_str(value, name, error=error)
    try:
        resolve_device(value)
    except TrainingConfigError as exc:
        raise error(f"{name}: {exc}") from exc
    return value


def check_experiment_fields(cfg: Any, *, sleep_type: type, error: ErrorType = ConfigError) -> None:
    """Type and range of every field of an ``ExperimentConfig`` (``experiment.*``,
    ``train.*``, ``method_options``), before any cross-field check or work.
    ``cfg.sleep`` must be a validated ``sleep_type`` (:class:`bridge.params.SleepParams`,
    passed in so this generic module does not import the parameters that use it)."""
    import snn
    from ann import DATASETS
    from snn.base import DTYPES

    e = "experiment"
    check_choice(cfg.dataset, f"{e}.dataset", DATASETS, what="dataset", error=error)
    check_optional(check_str, cfg.data_dir, f"{e}.data_dir", error=error)
    dirs = check_mapping(cfg.data_dirs, f"{e}.data_dirs", error=error)
    for key, value in dirs.items():
        check_choice(key, f"{e}.data_dirs key", DATASETS, what="dataset", error=error)
        check_str(value, f"{e}.data_dirs.{key}", error=error)
    check_optional(lambda v, n: check_list(v, n, lambda d, m: check_choice(d, m, DATASETS, what="dataset", error=error),
                                           min_len=1, error=error), cfg.task_datasets, f"{e}.task_datasets")
    check_bool(cfg.download, f"{e}.download", error=error)
    check_int(cfg.split_seed, f"{e}.split_seed", min=0, max=MAX_SEED, error=error)
    check_class_groups(cfg.class_groups, f"{e}.class_groups", datasets=cfg.task_datasets, error=error)
    check_optional(check_int, cfg.max_train_per_task, f"{e}.max_train_per_task", min=1, error=error)
    check_int_list(cfg.sizes, f"{e}.sizes", min=1, min_len=2, error=error)
    check_float(cfg.init_range, f"{e}.init_range", min=0, min_open=True, error=error)
    check_float(cfg.dropout, f"{e}.dropout", min=0, max=1, max_open=True, error=error)
    check_int_list(cfg.seeds, f"{e}.seeds", min=0, max=MAX_SEED, min_len=1, distinct=True, error=error)
    check_list(cfg.methods, f"{e}.methods", lambda v, n: check_str(v, n, error=error), min_len=1, error=error)
    check_choice(cfg.engine, f"{e}.engine", snn.available_engines(), what="engine", error=error)
    check_choice(cfg.dtype, f"{e}.dtype", tuple(DTYPES), what="dtype", error=error)
    check_device(cfg.device, f"{e}.device", error=error)
    check_int(cfg.updates_per_task, f"{e}.updates_per_task", min=1, error=error)
    check_optional(check_str, cfg.paper_row, f"{e}.paper_row", error=error)
    check_train_fields(cfg.train, "train", error=error)
    if not isinstance(cfg.sleep, sleep_type):
        raise error(f"sleep must be a {sleep_type.__name__}, got {_describe(cfg.sleep)}")
    options = check_mapping(cfg.method_options, "method_options", error=error)
    for key, table in options.items():
        check_mapping(table, f"method_options.{key}", error=error)

__all__ = [
    "MAX_SEED", "check_bool", "check_choice", "check_class_groups", "check_distinct_methods",
    "check_experiment_fields", "check_float", "check_float_tuple", "check_int", "check_int_list",
    "check_known_keys", "check_list", "check_mapping", "check_optional", "check_str", "check_train_fields",
    "is_int", "is_real", "method_identity",
]
