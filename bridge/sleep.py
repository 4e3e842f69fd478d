"""The sleep front door: ANN -> sleep network -> engine -> ANN."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import snn
from snn import InputSpikes, SleepNetwork, SleepResult

from .convert import export_weights, import_weights, layer_output_maxima
from .normalization import data_based_normalization
from .params import SleepParams
from .sleep_data import sleep_data
from .sleep_input import make_input_spikes, mean_image

logger = logging.getLogger(__name__)


def _as_data(seen_x: Any, n_inputs: int) -> np.ndarray:
    x = seen_x.detach().cpu().numpy() if isinstance(seen_x, torch.Tensor) else np.asarray(seen_x)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"seen data must be a non-empty (n, features) array, got shape {x.shape}")
    if x.shape[1] != n_inputs:
        raise ValueError(f"seen data has {x.shape[1]} features but the model takes {n_inputs} inputs")
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise ValueError("seen data contains NaN, infinite or non-numeric values")
    if x.min() < 0:
        raise ValueError("seen data has negative values: sleep input rates cannot be negative")
    return x


@dataclass
class SleepNetworkSpec:
    """A sleep network with how it was derived from the ANN."""

    network: SleepNetwork
    norm_constants: np.ndarray
    mean_image: np.ndarray


def build_sleep_network(model: nn.Module, seen_x: Any, params: SleepParams | None = None) -> SleepNetworkSpec:
    """Convert a trained model into a sleep network (SRC_SPEC.md section 2).

    model: bias-free Linear/ReLU stack (see :func:`bridge.convert.check_model`).
    seen_x: ``(n, n_inputs)`` all training data seen so far, in [0, 1].
    """
    params = params or SleepParams()
    params.validate()
    weights = export_weights(model)
    x = sleep_data(model, seen_x)
    if len(params.beta) != len(weights):
        raise ValueError(f"params.beta has {len(params.beta)} values but the model has {len(weights)} layers; "
                         "no preset fits: calibrate parameters with bridge.calibrate(model, data) or "
                         "bridge.SleepReplay(..., calibrate=True)")
    norms = data_based_normalization([w.max() for w in weights], layer_output_maxima(model, x))
    network = SleepNetwork(
        weights=weights,
        alpha=norms * params.alpha_scale,
        threshold=params.threshold * np.asarray(params.beta),
        decay=params.decay, inc=params.inc, dec=params.dec, rule=params.rule,
        dt_ms=params.dt_s * 1e3,
    )
    return SleepNetworkSpec(network, norms, mean_image(x))


@dataclass
class SleepOutcome:
    """Result of :func:`sleep`: the slept model and everything behind it."""

    model: nn.Module
    result: SleepResult
    spec: SleepNetworkSpec
    input_spikes: InputSpikes


def sleep(
    model: nn.Module,
    seen_x: Any,
    params: SleepParams | None = None,
    *,
    steps: int | None = None,
    engine: str = "fast",
    seed: int | None = 0,
    dtype: str = "float64",
    record_spikes: bool = False,
    progress: bool = False,
    inplace: bool = False,
    engine_options: dict[str, Any] | None = None,
    uniforms: np.ndarray | None = None,
    windows: np.ndarray | None = None,
) -> SleepOutcome:
    """Put ``model`` to sleep and return a slept copy (the input model is unchanged).

    model: trained bias-free ReLU network.
    seen_x: ``(n, n_inputs)`` all training data seen so far (normalization and
        mean image).
    params: sleep hyperparameters (default: the paper's MNIST preset).
    steps: sleep length in steps of ``params.dt_s`` (default ``params.steps_first``).
    engine: back end name, see :func:`snn.available_engines`.
    seed: seed of the input spike draws; ``uniforms``/``windows`` replace them.
    dtype: ``"float64"`` or ``"float32"`` sleep arithmetic.
    inplace: write the slept weights into ``model`` itself (the same Parameter
        objects, so optimizers built on it stay valid) instead of a copy.
    """
    params = params or SleepParams()
    steps = params.steps_first if steps is None else steps
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    # the engine is created first so a bad name or option fails before any work
    eng = snn.get_engine(engine, dtype=dtype, record_spikes=record_spikes, progress=progress,
                         **(engine_options or {}))
    spec = build_sleep_network(model, seen_x, params)  # validates the model
    spikes = make_input_spikes(spec.mean_image, params, int(steps), seed=seed, uniforms=uniforms, windows=windows)
    eng.build(spec.network)
    result = eng.run(spikes)
    slept = import_weights(model, result.weights, inplace=inplace)
    logger.info("slept %d steps on %s: mean spikes/step %s", steps, engine,
                np.round(result.counts.mean(0), 3).tolist() if steps else [])
    return SleepOutcome(slept, result, spec, spikes)
