"""Sleep hyperparameters (SRC_SPEC.md sections 3-5) and the paper's presets."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INPUT_MODES = ("masked_mean", "poisson")
RULES = ("reference", "plain")


@dataclass
class SleepParams:
    """Hyperparameters of one SRC sleep phase.

    Attributes
    ----------
    max_rate_hz: input firing rate (Hz) of a pixel of intensity 0.5; a pixel of
        intensity x spikes with probability ``min(1, 2 * dt_s * max_rate_hz * x)``
        per step.
    dt_s: simulation step in seconds (0.001 = 1 ms).
    inc, dec: Hebbian potentiation / depression amplitudes.
    beta: threshold scale per layer; layer l fires when ``v_l >= threshold * beta_l``.
    alpha_scale: multiplies the data-based normalization constants (alpha_l).
    decay: multiplicative membrane leak per step (tau_m = -dt / ln(decay)).
    threshold: base threshold (1.0).
    input_mode: ``"masked_mean"`` (reference: a random (mask_size+1)^2 window
        of the mean image each step) or ``"poisson"`` (the whole mean image).
    mask_size: window size minus one (10 -> 11 x 11 pixels).
    rule: ``"reference"`` weight-dependent Hebbian factor or ``"plain"`` inc/dec.
    steps_first, steps_per_task: sleep after task k runs
        ``steps_first + (k - 1) * steps_per_task`` steps.
    """

    max_rate_hz: float = 239.515363
    inc: float = 0.032064
    dec: float = 0.003344
    beta: tuple[float, ...] = (14.548273, 44.560317, 38.046326)
    alpha_scale: float = 55.882454
    decay: float = 0.999
    threshold: float = 1.0
    dt_s: float = 0.001
    input_mode: str = "masked_mean"
    mask_size: int = 10
    rule: str = "reference"
    steps_first: int = 15000
    steps_per_task: int = 5000

    def __post_init__(self) -> None:
        self.beta = tuple(float(b) for b in self.beta)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first out-of-range field."""
        def positive(name: str, allow_zero: bool = False) -> None:
            val = getattr(self, name)
            ok = isinstance(val, (int, float)) and math.isfinite(val) and (val >= 0 if allow_zero else val > 0)
            if not ok:
                raise ValueError(f"sleep parameter {name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {val!r}")

        positive("max_rate_hz")
        positive("dt_s")
        positive("inc", allow_zero=True)
        positive("dec", allow_zero=True)
        positive("alpha_scale", allow_zero=True)
        positive("threshold")
        if not (isinstance(self.decay, (int, float)) and 0 < self.decay <= 1):
            raise ValueError(f"sleep parameter decay must be in (0, 1], got {self.decay!r}")
        if not self.beta or any(not math.isfinite(b) or b < 0 for b in self.beta):
            raise ValueError(f"sleep parameter beta must be finite values >= 0, got {self.beta!r}")
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"sleep parameter input_mode must be one of {INPUT_MODES}, got {self.input_mode!r}")
        if self.rule not in RULES:
            raise ValueError(f"sleep parameter rule must be one of {RULES}, got {self.rule!r}")
        for name in ("mask_size", "steps_first", "steps_per_task"):
            val = getattr(self, name)
            if not isinstance(val, int) or isinstance(val, bool) or val < 0:
                raise ValueError(f"sleep parameter {name} must be an integer >= 0, got {val!r}")

    # -------------------------------------------------------------- helpers
    def steps_for_task(self, k: int) -> int:
        """Number of sleep steps after task ``k`` (1-based)."""
        if k < 1:
            raise ValueError(f"task number must be >= 1, got {k}")
        return self.steps_first + (k - 1) * self.steps_per_task

    @property
    def rescale(self) -> float:
        """``1 / (dt * max_rate)`` of the reference's spike test."""
        return 1.0 / (self.dt_s * self.max_rate_hz)

    def replace(self, **changes: Any) -> "SleepParams":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["beta"] = list(self.beta)
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SleepParams":
        """Build from a mapping; a ``preset`` key starts from that preset.

        Unknown keys raise ``ValueError`` naming them.
        """
        values = dict(values)
        base = preset(values.pop("preset")) if "preset" in values else cls()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown sleep parameter(s) {unknown}; known: {sorted(known)}")
        return dataclasses.replace(base, **values)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "SleepParams":
        """Read a TOML or JSON file (the whole file, or its ``[sleep]`` table)."""
        return cls.from_dict(read_config(path).get("sleep", {}))


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``.toml`` or ``.json`` config file; clear errors for bad files."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise FileNotFoundError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"config file {path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a table/object at top level")
    return data


#: SRC_SPEC.md section 5, selected by the paper's genetic algorithm
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
}


def preset(name: str) -> SleepParams:
    """The paper's hyperparameters for ``name`` (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown sleep preset {name!r}; choose one of {sorted(PRESETS)}")
    return SleepParams(**PRESETS[name])
