"""Sleep parameters for any depth and width: per-layer thresholds from firing-rate targets.

The paper's presets (SRC_SPEC.md section 5) were found by a genetic algorithm
for 3-layer networks; the paper names firing-rate targets as the way to choose
sleep parameters for other networks. :func:`calibrate` keeps a base preset's
input rate, plasticity and ``alpha_scale`` and sets each layer's threshold
scale ``beta_l`` so that, at the start of sleep (frozen weights, the same
masked mean-image input as the real sleep), layer ``l`` fires at a rate inside
its target range. Layers are calibrated in order (layer ``l`` only depends on
``beta_1..beta_l``), each by bisection on ``log(beta_l)``: a higher threshold
means fewer spikes.

Default targets (:class:`RateTargets`) are the rates the MNIST preset gives on
the paper's 784-1200-1200-10 network after task 1 of the embedded MNIST subset
(training data only, frozen weights, 1000 steps; seeds 0, 1, 2: 31.1/27.7/31.2 Hz,
44.5/43.4/35.9 Hz and 108/98/143 Hz): the ranges are centred (geometrically) on
the means, 30, 41 and 116 Hz, and reach a factor 1.5 either side. No test
accuracy is involved in choosing them.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

import snn
from snn import SleepNetwork

from .convert import read_model
from .errors import SleepParamsError
from .params import SleepParams, preset
from .sleep import build_sleep_network
from .sleep_input import make_input_spikes

logger = logging.getLogger(__name__)

Range = tuple[float, float]


@dataclass(frozen=True)
class RateTargets:
    """Firing-rate ranges (Hz per neuron, at the start of sleep) by layer role.

    first_hidden: the first hidden layer; hidden: every deeper hidden layer;
    output: the last layer. A network without hidden layers uses ``output``.
    """

    first_hidden: Range = (20.0, 45.0)
    hidden: Range = (28.0, 61.0)
    output: Range = (78.0, 172.0)

    def __post_init__(self) -> None:
        for name in ("first_hidden", "hidden", "output"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
                raise SleepParamsError(f"RateTargets.{name} must be a range (low, high) with 0 < low < high Hz, "
                                       f"got {(lo, hi)!r}")

    def scaled(self, hidden: float = 1.0, output: float = 1.0) -> "RateTargets":
        """These targets with every hidden range multiplied by ``hidden`` and the
        output range by ``output`` (both > 0)."""
        for name, f in (("hidden", hidden), ("output", output)):
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not (math.isfinite(f) and f > 0):
                raise SleepParamsError(f"RateTargets.scaled: {name} must be a finite number > 0, got {f!r}")
        return RateTargets(tuple(hidden * r for r in self.first_hidden), tuple(hidden * r for r in self.hidden),
                           tuple(output * r for r in self.output))

    def for_layers(self, n_layers: int) -> list[Range]:
        """The range of each of ``n_layers`` layers, input side first."""
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        hidden = [self.first_hidden] + [self.hidden] * (n_layers - 2) if n_layers > 1 else []
        return hidden + [self.output]


@dataclass
class Calibration:
    """Result of :func:`calibrate`.

    params: the base parameters with the calibrated ``beta`` (one per layer).
    rates_hz: ``(L,)`` firing rate per neuron of each layer with those parameters.
    targets_hz: the target range of each layer.
    converged: per layer, whether its rate landed inside its range.
    runs: number of short simulations; wall_time_s: time taken.
    """

    params: SleepParams
    rates_hz: list[float]
    targets_hz: list[Range]
    converged: list[bool]
    runs: int = 0
    wall_time_s: float = 0.0
    history: list[list[tuple[float, float]]] = field(default_factory=list, repr=False)


def _frozen_rates(net: SleepNetwork, beta: list[float], base: SleepParams, n_layers: int, spikes: Any,
                  engine: str) -> np.ndarray:
    """``(n_layers,)`` rates (Hz per neuron) of the first ``n_layers`` layers with frozen
    weights (no plasticity), simulating only those layers."""
    sub = SleepNetwork(
        weights=net.weights[:n_layers], alpha=net.alpha[:n_layers],
        threshold=base.threshold * np.asarray(beta[:n_layers]), decay=net.decay, inc=0.0, dec=0.0,
        rule=net.rule, dt_ms=net.dt_ms, layers=net.layers[:n_layers],
    )
    eng = snn.get_engine(engine, dtype="float64")
    eng.build(sub)
    counts = eng.run(spikes).counts
    sizes = np.array(sub.sizes[1:], dtype=np.float64)
    return counts[:, 1:].sum(0) / (sizes * counts.shape[0] * base.dt_s)


def calibrate(
    model: nn.Module,
    data: Any,
    base: SleepParams | str = "mnist",
    *,
    targets: RateTargets | None = None,
    steps: int = 1000,
    seed: int = 0,
    engine: str = "fast",
    max_iter: int = 12,
    tolerance: float = 1.15,
    start_beta: float = 10.0,
    beta_range: Range = (1e-4, 1e6),
) -> Calibration:
    """Per-layer threshold scales ``beta`` that make each layer fire in its target range.

    Args:
        model: trained bias-free ReLU network of any depth and width.
        data: the training data sleep will use (all seen so far), in [0, 1]
            (anything :func:`bridge.sleep` accepts).
        base: parameters (or preset name) whose other values are kept; its ``beta``
            is replaced, so any length is fine.
        targets: firing-rate ranges (default :class:`RateTargets`).
        steps: length of each frozen-weight simulation (steps of ``base.dt_s``).
        max_iter, tolerance: per layer, at most ``max_iter`` simulations; stop when the
            rate is within a factor ``tolerance`` of the range's geometric centre.
        start_beta, beta_range: first guess and bounds of ``beta_l``.

    Returns a :class:`Calibration`; its ``params`` go to :func:`bridge.sleep`.
    """
    t0 = time.perf_counter()
    base = preset(base) if isinstance(base, str) else base
    targets = targets or RateTargets()
    n_layers = len(read_model(model).layers)
    probe = base.replace(beta=(1.0,) * n_layers)
    spec = build_sleep_network(model, data, probe)
    spikes = make_input_spikes(spec.mean_image, base, int(steps), seed=seed)
    ranges = targets.for_layers(n_layers)
    beta = [1.0] * n_layers
    rates, converged, history = [], [], []
    runs = 0
    for l, (lo_hz, hi_hz) in enumerate(ranges):
        goal = math.sqrt(lo_hz * hi_hz)
        above: tuple[float, float] | None = None  # (log beta, log rate) firing faster than the goal
        below: tuple[float, float] | None = None  # (log beta, rate) firing slower than the goal
        tried: list[tuple[float, float]] = []
        log_b = math.log(start_beta)
        for _ in range(max_iter):
            beta[l] = math.exp(log_b)
            rate = float(_frozen_rates(spec.network, beta, base, l + 1, spikes, engine)[l])
            runs += 1
            tried.append((beta[l], rate))
            if abs(math.log(max(rate, 1e-12) / goal)) <= math.log(tolerance):
                break
            if rate > goal:
                above = (log_b, math.log(rate))
            else:
                below = (log_b, rate)
            if above and below and below[1] > 0:  # interpolate log beta in log rate
                (b1, r1), (b2, r2) = above, (below[0], math.log(below[1]))
                frac = (r1 - math.log(goal)) / (r1 - r2) if r1 != r2 else 0.5
                log_b = b1 + min(max(frac, 0.1), 0.9) * (b2 - b1)
            elif above and below:
                log_b = 0.5 * (above[0] + below[0])
            else:
                log_b += math.log(10.0) if rate > goal else -math.log(10.0)
            if not math.log(beta_range[0]) <= log_b <= math.log(beta_range[1]):
                break
        beta[l], rate = min(tried, key=lambda br: abs(math.log(max(br[1], 1e-12) / goal)))
        ok = lo_hz <= rate <= hi_hz
        if not ok:
            logger.warning("calibration: layer %d fires at %.3g Hz, outside its target range [%g, %g] Hz "
                           "(beta %.4g)", l, rate, lo_hz, hi_hz, beta[l])
        rates.append(rate)
        converged.append(ok)
        history.append(tried)
    params = base.replace(beta=tuple(beta))
    logger.info("calibrated beta %s: rates %s Hz", np.round(beta, 4).tolist(), np.round(rates, 2).tolist())
    return Calibration(params, rates, ranges, converged, runs, time.perf_counter() - t0, history)


def firing_rates_hz(model: nn.Module, data: Any, params: SleepParams, *, steps: int = 1000, seed: int = 0,
                    engine: str = "fast") -> list[float]:
    """Rate (Hz per neuron) of every layer at the start of sleep with ``params`` (frozen weights)."""
    spec = build_sleep_network(model, data, params)
    spikes = make_input_spikes(spec.mean_image, params, int(steps), seed=seed)
    return _frozen_rates(spec.network, list(params.beta), params, spec.network.n_layers, spikes, engine).tolist()
