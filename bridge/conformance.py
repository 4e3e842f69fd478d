"""Conformance against reference traces (the format of ``shared/golden``).

A reference trace is a NumPy ``.npz`` archive holding the inputs of one sleep
phase and what the authors' reference code computed from them:

inputs
    ``sizes`` (L+1,) layer widths; ``x_seen`` (n, n_0) uint8 training images seen
    so far (intensity = value / 255); ``w1_trained`` ... ``wL_trained`` float32
    ``(n_l, n_{l-1})``; scalars ``max_rate``, ``dt``, ``inc``, ``dec``,
    ``alpha_scale``, ``decay``, ``threshold``, ``mask_size``, ``steps``;
    ``beta`` (L,); ``window`` (steps, 2) 0-based window origins; ``uniforms``
    (steps, n_0) the uniform draws of the input spikes.
expected outputs
    ``expected_norm_constants`` and ``expected_alpha`` (L,) (compare with relative
    tolerance 1e-5: computed in test mode, hidden outputs scaled by 0.75 for the
    reference's non-inverted dropout); ``expected_mean_image`` (n_0,);
    ``expected_w1`` ... float32 slept weights (max abs difference 1e-6);
    ``expected_counts`` (steps, L+1) spikes per step per layer (exact).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ann import SleepMLP
from ann.data import read_npz
from ann.errors import DataError

from .conv_trace import STRING_KEYS as _CONV_STRINGS
from .conv_trace import conv_model_from_trace, is_conv_trace, params_from_conv_trace
from .errors import SleepParamsError, TraceError
from .params import SleepParams
from .sleep import sleep

logger = logging.getLogger(__name__)

WEIGHT_TOL = 1e-6
#: float32 replays of a CNN trace (written in float64): every kernel weight takes one update per post spike
#: it sits under, thousands per sleep, and float32 rounding moves the kernels (4e-5 within 150 steps on
#: tests/test_conv_trace.py's trace, spikes equal), so those replays are held to this tolerance
FLOAT32_CONV_WEIGHT_TOL = 1e-4
ALPHA_RTOL = 1e-5
_SCALARS = ("max_rate", "dt", "inc", "dec", "alpha_scale", "decay", "threshold", "mask_size", "steps")


#: integer entries of a trace (a float window origin or step count is malformed, not rounded)
_INTEGER_KEYS = ("sizes", "mask_size", "steps", "window", "expected_counts")


def _scalar(data: dict[str, np.ndarray], key: str, path: str | Path) -> None:
    if data[key].shape != ():
        raise TraceError(f"{path}: {key} must be a scalar, got shape {data[key].shape}")


def load_trace(path: str | Path) -> dict[str, np.ndarray]:
    """Read and check a reference trace (an MLP trace, or a CNN trace of :mod:`bridge.conv_trace`);
    :class:`~bridge.errors.TraceError` (a ``ValueError``) names what is wrong: a malformed trace
    is bad input, never a FAIL."""
    try:
        data = read_npz(path, "reference trace", ("sizes", "x_seen", "beta", "window", "uniforms",
                                                   "expected_counts", "expected_alpha", *_SCALARS))
    except DataError as exc:
        raise TraceError(str(exc)) from exc
    conv = is_conv_trace(data)
    for key, arr in data.items():
        if conv and key in ("layer_kinds", *_CONV_STRINGS):
            continue
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise TraceError(f"{path}: {key} must be numeric, got dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            raise TraceError(f"{path}: {key} contains NaN or infinite values")
    for key in _INTEGER_KEYS:
        if not np.issubdtype(data[key].dtype, np.integer):
            raise TraceError(f"{path}: {key} must hold integers, got dtype {data[key].dtype}")
    for key in _SCALARS:
        _scalar(data, key, path)
    if data["sizes"].ndim != 1 or len(data["sizes"]) < 2 or np.any(data["sizes"] < 1):
        raise TraceError(f"{path}: sizes must list >= 2 positive layer widths, got {data['sizes']}")
    sizes = data["sizes"].astype(int)
    L = len(sizes) - 1
    steps = int(data["steps"])
    if steps < 0 or int(data["mask_size"]) < 0:
        raise TraceError(f"{path}: steps and mask_size must be >= 0")
    for l in range(1, L + 1):
        for key in (f"w{l}_trained", f"expected_w{l}"):
            if key not in data:
                raise TraceError(f"{path} is missing key {key!r}")
            if not conv and data[key].shape != (sizes[l], sizes[l - 1]):
                raise TraceError(f"{path}: {key} has shape {data[key].shape}, expected {(sizes[l], sizes[l - 1])}")
    shapes = {"x_seen": (None, sizes[0]), "window": (steps, 2), "uniforms": (steps, sizes[0]),
              "expected_counts": (steps, L + 1), "beta": (L,), "expected_alpha": (L,)}
    for key, shape in shapes.items():
        got = data[key].shape
        if len(got) != len(shape) or any(s is not None and g != s for g, s in zip(got, shape)):
            raise TraceError(f"{path}: {key} has shape {got}, expected {shape}")
    side = math.isqrt(int(sizes[0]))
    hi = side - int(data["mask_size"])  # window origins lie in [0, hi - 1] (masked mean input)
    if side * side != sizes[0] or hi < 1:
        raise TraceError(f"{path}: a {sizes[0]}-pixel input has no {int(data['mask_size']) + 1}-pixel square window")
    if data["window"].size and (data["window"].min() < 0 or data["window"].max() >= hi):
        raise TraceError(f"{path}: window origins must lie in [0, {hi - 1}]")
    u = data["uniforms"]
    if u.size and (u.min() < 0 or u.max() >= 1):
        raise TraceError(f"{path}: uniforms must lie in [0, 1)")
    if data["x_seen"].size and (data["x_seen"].min() < 0 or data["x_seen"].max() > 255):
        raise TraceError(f"{path}: x_seen must hold intensities in [0, 255]")
    return data


@dataclass
class ConformanceReport:
    """Outcome of :func:`check_trace`."""

    path: str
    engine: str
    dtype: str
    steps: int
    counts_equal: bool
    mismatched_steps: int
    max_weight_diff: list[float]
    max_alpha_rel_diff: float
    mean_image_diff: float
    steps_per_s: float
    checks: dict[str, bool] = field(default_factory=dict)
    weight_tol: float = WEIGHT_TOL

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def format(self) -> str:
        lines = [f"conformance {self.path} (engine {self.engine}, {self.dtype}, {self.steps} steps)"]
        lines.append(f"  spike counts per step per layer equal: {self.counts_equal} "
                     f"({self.mismatched_steps} steps differ)")
        lines.append("  max |w - expected| per layer: " + ", ".join(f"{d:.3g}" for d in self.max_weight_diff)
                     + f" (tolerance {self.weight_tol:g})")
        lines.append(f"  max relative alpha difference: {self.max_alpha_rel_diff:.3g} (tolerance {ALPHA_RTOL:g})")
        lines.append(f"  max |mean image - expected|: {self.mean_image_diff:.3g}")
        lines.append(f"  engine speed: {self.steps_per_s:,.0f} steps/s")
        lines.append("  " + ("PASS" if self.passed else "FAIL: " + ", ".join(k for k, v in self.checks.items() if not v)))
        return "\n".join(lines)


def params_from_trace(data: dict[str, np.ndarray]) -> SleepParams:
    """The sleep parameters a trace was made with; out-of-range values raise :class:`TraceError`."""
    try:
        return _params_from_trace(data)
    except SleepParamsError as exc:
        raise TraceError(f"trace holds an invalid sleep parameter: {exc}") from exc


def _params_from_trace(data: dict[str, np.ndarray]) -> SleepParams:
    return SleepParams(
        max_rate_hz=float(data["max_rate"]), inc=float(data["inc"]), dec=float(data["dec"]),
        beta=tuple(float(b) for b in data["beta"]), alpha_scale=float(data["alpha_scale"]),
        decay=float(data["decay"]), threshold=float(data["threshold"]), dt_s=float(data["dt"]),
        mask_size=int(data["mask_size"]), input_mode="masked_mean", rule="reference",
    )


def check_trace(path: str | Path, engine: str = "fast", dtype: str = "float64",
                engine_options: dict | None = None) -> ConformanceReport:
    """Replay a reference trace (MLP or CNN) through the public front door and compare."""
    data = load_trace(path)
    L = len(data["sizes"]) - 1
    params = params_from_trace(data)
    if is_conv_trace(data):
        model = conv_model_from_trace(data, path)
        try:
            params = params_from_conv_trace(data, path, params)
        except SleepParamsError as exc:
            raise TraceError(f"trace holds an invalid sleep parameter: {exc}") from exc
    else:
        weights = [data[f"w{l}_trained"] for l in range(1, L + 1)]
        # the reference trained with non-inverted dropout 0.25: test mode scales hidden outputs by 0.75
        model = SleepMLP.from_weights(weights, dropout=0.25, dropout_mode="reference")
    steps = int(data["steps"])
    # warm the engine (compilation) on a few steps so the timing is of simulation proper
    sleep(model, data["x_seen"] / 255.0, params, steps=min(steps, 10), engine=engine, dtype=dtype,
          uniforms=data["uniforms"][:10], windows=data["window"][:10], engine_options=engine_options)
    t0 = time.perf_counter()
    outcome = sleep(model, data["x_seen"] / 255.0, params, steps=steps, engine=engine, dtype=dtype,
                    uniforms=data["uniforms"], windows=data["window"], engine_options=engine_options)
    total = time.perf_counter() - t0
    run_s = outcome.result.timing.get("run_s", total)
    counts = outcome.result.counts
    mismatched = int(np.any(counts != data["expected_counts"], axis=1).sum())
    wdiff = [float(np.abs(w.astype(np.float64) - data[f"expected_w{l + 1}"]).max())
             for l, w in enumerate(outcome.result.weights)]
    alpha_rel = float(np.max(np.abs(outcome.spec.network.alpha / data["expected_alpha"] - 1)))
    mean_diff = (float(np.abs(outcome.spec.mean_image - data["expected_mean_image"]).max())
                 if "expected_mean_image" in data else 0.0)
    weight_tol = FLOAT32_CONV_WEIGHT_TOL if is_conv_trace(data) and dtype == "float32" else WEIGHT_TOL
    checks = {"spike counts": mismatched == 0, "weights": max(wdiff) <= weight_tol,
              "alpha": alpha_rel <= ALPHA_RTOL, "mean image": mean_diff <= 1e-9}
    if "expected_norm_constants" in data:
        checks["norm constants"] = bool(np.allclose(outcome.spec.norm_constants,
                                                    data["expected_norm_constants"], rtol=ALPHA_RTOL, atol=0))
    return ConformanceReport(str(path), engine, dtype, steps, mismatched == 0, mismatched, wdiff, alpha_rel,
                             mean_diff, steps / max(run_s, 1e-12), checks, weight_tol)
