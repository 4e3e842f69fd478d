"""The search space of a sleep-parameter study: the ``[tune.space]`` table.

Each key names a field of :class:`~bridge.params.SleepParams` and gives its range::

    [tune.space]
    max_rate_hz = {low = 50.0, high = 500.0, log = true}   # float range, log-uniform
    inc = {low = 0.001, high = 0.1, log = true}
    steps_first = {low = 2000, high = 20000, step = 1000}   # integer field: integer range
    input_mode = {choices = ["masked_mean", "poisson"]}     # categorical
    beta = {low = 1.0, high = 60.0, log = true}             # one parameter per layer: beta_0, beta_1, ...
    beta_2 = {low = 0.1, high = 10.0}                       # or one layer only (others from [sleep])
    plasticity_gain_0 = {low = 0.25, high = 4.0, log = true}  # the per-layer variant, the same way

Fields that are not in the table keep the value of the config's ``[sleep]``
table. Every entry is checked before any trial (:func:`parse_space`): an unknown
field, an empty (``low == high``) or inverted (``low > high``) range, a log range
reaching 0, empty choices or a bound the field's own validator refuses raise
:class:`~bridge.errors.ConfigError` naming the entry (``tune.space.<name>``).
"""
from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from snn.extras import require

from ..errors import ConfigError
from ..params import SleepParams, field_specs
from ..validation import check_bool, check_float, check_mapping, is_int, is_real

od = require("optuna.distributions")

#: fields that are never searched: the simulation step is redundant with the input rate
FIXED_FIELDS = ("dt_s",)
#: fields with one value per weight layer: searched as ``<field>_<layer>`` (or all layers at once)
PER_LAYER_FIELDS = ("beta", "plasticity_gain")
_HINTS = typing.get_type_hints(SleepParams)


def tunable_fields() -> list[str]:
    """Names of the :class:`SleepParams` fields a space may search (:data:`PER_LAYER_FIELDS` per layer)."""
    return [f.name for f in field_specs() if f.name not in FIXED_FIELDS]


@dataclass(frozen=True)
class ParamRange:
    """One searched Optuna parameter: ``name`` (the field, or ``<field>_<layer>``),
    the ``field`` it sets, the layer of a per-layer field and its Optuna distribution."""

    name: str
    field: str
    layer: int | None
    distribution: od.BaseDistribution


@dataclass(frozen=True)
class SearchSpace:
    """The searched parameters, and how a trial's values become SleepParams. ``layer_kinds``: the
    kind of each layer of the sleep network (``"dense"``, ``"conv"``, ``"pool"``; empty: every
    layer dense), so that gains left at the reference's default are 0 on pooling layers."""

    params: tuple[ParamRange, ...]
    layer_kinds: tuple[str, ...] = ()

    def distributions(self) -> dict[str, od.BaseDistribution]:
        """Optuna distributions by parameter name (for ``study.ask``)."""
        return {p.name: p.distribution for p in self.params}

    def sleep_changes(self, values: dict[str, Any], base: SleepParams) -> dict[str, Any]:
        """The :meth:`SleepParams.replace` keywords of a trial's ``values`` (by
        parameter name); per-layer values are merged into ``base``'s (:func:`layer_values`)."""
        changes: dict[str, Any] = {}
        for p in self.params:
            v = values[p.name]
            if p.layer is None:
                changes[p.field] = v
            else:
                per_layer = list(changes.get(p.field) or layer_values(base, p.field, self.layer_kinds))
                per_layer[p.layer] = float(v)
                changes[p.field] = tuple(per_layer)
        return changes

    def sleep_params(self, values: dict[str, Any], base: SleepParams) -> SleepParams:
        """``base`` with a trial's ``values`` applied."""
        return base.replace(**self.sleep_changes(values, base))

    def describe(self) -> dict[str, str]:
        """Parameter name -> a short text of its range (for logs and provenance)."""
        out = {}
        for p in self.params:
            d = p.distribution
            if isinstance(d, od.CategoricalDistribution):
                out[p.name] = f"one of {list(d.choices)}"
            else:
                out[p.name] = f"[{d.low}, {d.high}]" + (" log" if d.log else "") + (
                    f" step {d.step}" if getattr(d, "step", None) not in (None, 1) else "")
        return out


def layer_values(params: SleepParams, field: str, kinds: tuple[str, ...] = ()) -> tuple[float, ...]:
    """The per-layer values of ``field`` (one of :data:`PER_LAYER_FIELDS`) in ``params``; an
    empty ``plasticity_gain`` (the reference) is gain 1 for each of the ``len(beta)`` layers
    (0 for the pooling layers among ``kinds``, see :meth:`SleepParams.gains_for`)."""
    if field != "plasticity_gain":
        return tuple(getattr(params, field))
    return params.gains_for(kinds) if kinds else params.layer_gains


def _field_check(field: str) -> Any:
    return next(f.metadata["check"] for f in field_specs() if f.name == field)


def _check_value(field: str, value: Any, where: str) -> Any:
    """``value`` checked by the validator of ``field`` (a ConfigError naming ``where``)."""
    check = _field_check(field)
    if field in PER_LAYER_FIELDS:  # one layer's value of the tuple validator's range
        return check_float(value, where, min=0)
    return check(value, where)


def _range_distribution(field: str, entry: dict[str, Any], where: str) -> od.BaseDistribution:
    kind = typing.get_origin(_HINTS[field]) or _HINTS[field]
    integer = kind is int
    for key in ("low", "high"):
        if key not in entry:
            raise ConfigError(f"{where} needs {key!r} (a range {{low = ..., high = ...}}) or 'choices'")
        v = entry[key]
        if integer and not is_int(v):
            raise ConfigError(f"{where}.{key} must be an integer ({field} is an integer field), got {v!r}")
        if not is_real(v):
            raise ConfigError(f"{where}.{key} must be a number, got {v!r}")
        _check_value(field, v, f"{where}.{key}")
    low, high = entry["low"], entry["high"]
    if low > high:
        raise ConfigError(f"{where}: inverted range, low = {low!r} > high = {high!r}")
    if low == high:
        raise ConfigError(f"{where}: empty range, low = high = {low!r} (to fix a field, set it in [sleep])")
    log = check_bool(entry.get("log", False), f"{where}.log")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got low = {low!r}")
    step = entry.get("step")
    if step is not None:
        if log:
            raise ConfigError(f"{where}: 'step' and 'log = true' cannot be combined")
        if not is_real(step) or step <= 0 or (integer and not is_int(step)):
            raise ConfigError(f"{where}.step must be a positive {'integer' if integer else 'number'}, got {step!r}")
        if step > high - low:
            raise ConfigError(f"{where}.step = {step!r} is wider than the range [{low!r}, {high!r}]")
    if integer:
        return od.IntDistribution(int(low), int(high), log=log, step=int(step or 1))
    return od.FloatDistribution(float(low), float(high), log=log, step=None if step is None else float(step))


def _distribution(field: str, entry: Any, where: str) -> od.BaseDistribution:
    entry = check_mapping(entry, where)
    unknown = sorted(set(entry) - {"low", "high", "log", "step", "choices"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; use low, high, log, step or choices")
    if "choices" in entry:
        if set(entry) - {"choices"}:
            raise ConfigError(f"{where}: 'choices' cannot be combined with a range (low/high/log/step)")
        choices = entry["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}.choices must be a non-empty list, got {choices!r}")
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{where}.choices lists a value twice: {choices!r}")
        for i, c in enumerate(choices):
            _check_value(field, c, f"{where}.choices[{i}]")
        return od.CategoricalDistribution(choices)
    if field in {f.name for f in field_specs() if f.metadata["choices"]}:
        raise ConfigError(f"{where}: {field} takes one of a set of values; give choices = [...]")
    return _range_distribution(field, entry, where)


def _split_layer(name: str) -> tuple[str, int | None]:
    """``"beta_2"`` -> ``("beta", 2)``; any other name -> ``(name, None)``."""
    head, _, tail = name.rpartition("_")
    if head in PER_LAYER_FIELDS and tail.isdigit():
        return head, int(tail)
    return name, None


def parse_space(table: Any, n_layers: int, name: str = "tune.space",
                layer_kinds: tuple[str, ...] | list[str] = ()) -> SearchSpace:
    """Check the ``[tune.space]`` ``table`` for a network of ``n_layers`` layers
    and build the :class:`SearchSpace` (raises :class:`ConfigError` naming the bad
    entry). ``layer_kinds``: their kinds for a CNN (pooling layers have no gain to search)."""
    kinds = tuple(layer_kinds)
    fixed = {l for l, k in enumerate(kinds) if k == "pool"}
    table = check_mapping(table, name)
    if not table:
        raise ConfigError(f"{name} is empty: name at least one sleep parameter to search, e.g. "
                          f"inc = {{low = 0.001, high = 0.1, log = true}}")
    allowed = tunable_fields()
    params: list[ParamRange] = []
    for key, entry in table.items():
        where = f"{name}.{key}"
        field, layer = _split_layer(key)
        if field not in allowed:
            fixed = f" ({key} is not searched)" if key in FIXED_FIELDS else ""
            raise ConfigError(f"{where}: unknown sleep parameter {key!r}{fixed}; searchable: "
                              f"{allowed}, with {' and '.join(f'{f}_<layer>' for f in PER_LAYER_FIELDS)} "
                              f"(0 to {n_layers - 1})")
        if layer is not None:
            if field in table:
                raise ConfigError(f"{where}: {field} and {key} both given; use one range for every layer "
                                  f"({field}) or one per layer ({field}_0, {field}_1, ...)")
            if layer >= n_layers:
                raise ConfigError(f"{where}: the network has {n_layers} weight layers ({field}_0 to "
                                  f"{field}_{n_layers - 1})")
            if field == "plasticity_gain" and layer in fixed:
                raise ConfigError(f"{where}: layer {layer} is a pooling layer, whose weights are fixed (gain 0)")
        dist = _distribution(field, entry, where)
        if field in PER_LAYER_FIELDS and layer is None:
            params.extend(ParamRange(f"{field}_{i}", field, i, dist) for i in range(n_layers)
                          if not (field == "plasticity_gain" and i in fixed))
        else:
            params.append(ParamRange(key, field, layer, dist))
    return SearchSpace(tuple(params), kinds)


def space_to_dict(space: SearchSpace) -> dict[str, Any]:
    """JSON-ready description of ``space`` (Optuna's distribution JSON by parameter)."""
    return {p.name: od.distribution_to_json(p.distribution) for p in space.params}


__all__ = ["FIXED_FIELDS", "ParamRange", "SearchSpace", "parse_space", "space_to_dict", "tunable_fields"]
