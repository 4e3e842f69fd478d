"""The sleep front door: ANN -> sleep network -> engine -> ANN."""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
from torch import nn
from tqdm import tqdm

import snn
from snn import InputSpikes, SleepNetwork, SleepResult, SpikeRecord
from snn.errors import EngineOptionError, EngineStateError
from snn.spikes import InputDriveTrace, VoltageTrace, WeightSnapshot

from .convert import export_weights, import_weights, layer_output_maxima, network_layers
from .normalization import data_based_normalization
from .errors import SleepDataError, SleepParamsError
from .params import SleepParams, as_sleep_params
from .sleep_data import model_data, sleep_data
from .sleep_input import iter_input_spikes, mean_image

logger = logging.getLogger(__name__)


@dataclass
class SleepNetworkSpec:
    """A sleep network with how it was derived from the ANN."""

    network: SleepNetwork
    norm_constants: np.ndarray
    mean_image: np.ndarray


def build_sleep_network(model: nn.Module, seen_x: Any, params: SleepParams | None = None, *,
                        image_x: Any = None) -> SleepNetworkSpec:
    """Convert a trained model into a sleep network (SRC_SPEC.md section 2).

    Args:
        model: bias-free Linear/ReLU stack, or a CNN (bias-free Conv2d/ReLU/AvgPool2d, then
            Linear layers; see :mod:`bridge.convert` and docs/cnn.md).
        seen_x: ``(n, n_inputs)`` all training data seen so far, in [0, 1] (normalization,
            and the mean image unless ``image_x`` is given).
        image_x: ``(m, n_inputs)`` inputs in [0, 1] whose mean is the sleep input's image
            (SRC_SPEC.md section 3), e.g. the first task's only; default ``seen_x``.
    """
    params = as_sleep_params(params)  # None -> defaults; a dict or other type -> ArgumentTypeError
    params.validate()
    weights = export_weights(model)
    x, image_shape = model_data(model, seen_x)
    layers = network_layers(model, image_shape)  # None: an MLP (every layer dense)
    kinds = [layer.kind for layer in layers] if layers is not None else ["dense"] * len(weights)
    if len(params.beta) != len(weights):
        raise ValueError(f"params.beta has {len(params.beta)} values but the model has {len(weights)} layers"
                         + (f" ({', '.join(kinds)})" if layers is not None else "")
                         + "; no preset fits: calibrate parameters with bridge.calibrate(model, data) or "
                         "bridge.SleepReplay(..., calibrate=True)")
    if len(params.layer_gains) != len(weights):  # (empty gains have the length of beta, checked above)
        raise SleepParamsError(f"sleep.plasticity_gain has {len(params.plasticity_gain)} values but the model has "
                               f"{len(weights)} weight layers; give one gain per layer, or none for the reference")
    norms = data_based_normalization([w.max() for w in weights],
                                     layer_output_maxima(model, x, image_shape=image_shape))
    network = SleepNetwork(
        weights=weights,
        alpha=norms * params.alpha_scale,
        threshold=params.threshold * np.asarray(params.beta),
        decay=params.decay, inc=params.inc, dec=params.dec, rule=params.rule,
        dt_ms=params.dt_s * 1e3, plasticity_gain=params.gains_for(kinds), layers=layers,
        kernel_update=params.kernel_update,
    )
    if image_x is None:
        image = mean_image(x)
    else:
        try:
            image = mean_image(sleep_data(model, image_x))
        except SleepDataError as exc:
            raise SleepDataError(f"image_x: {exc}") from exc
    return SleepNetworkSpec(network, norms, image)


@dataclass
class SleepOutcome:
    """Result of :func:`sleep`: the slept model and everything behind it.

    ``result`` holds everything that was asked to be recorded: every spike
    (``record_spikes``), ``voltages`` (``record_v``), ``input_drive``
    (``record_drive``) and ``weight_snapshots`` (``record_weights_every``).
    ``input_spikes`` is the sleep input when spikes were recorded (the same as
    ``result.spikes[0]``), else ``None``: a long sleep's input is generated and
    consumed in pieces and never held whole.
    """

    model: nn.Module
    result: SleepResult
    spec: SleepNetworkSpec
    input_spikes: InputSpikes | None


#: steps the front door gives an engine at once: memory is bounded by this, not by the sleep length
DEFAULT_CHUNK_STEPS = 100_000

#: recording requests of the front door, passed to the engine as options of the same name
RECORDING_OPTIONS = ("record_v", "record_drive")


def engine_option_names(engine: str) -> set[str]:
    """Keyword options the constructor of ``engine`` accepts (through its base classes)."""
    names: set[str] = set()
    for cls in snn.engine_class(engine).__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    names |= set(snn.ENGINES[engine].fixed_options)
    return names


def check_engine_options(engine: str, options: Mapping[str, Any]) -> None:
    """Raise :class:`snn.errors.EngineOptionError` naming the engine and the option
    for any option (recording request included) ``engine`` cannot honour."""
    accepted = engine_option_names(engine)
    for name in options:
        if name not in accepted:
            what = "recording request" if name.startswith("record") else "option"
            raise EngineOptionError(f"engine {engine!r} cannot honour the {what} {name!r}; its options: "
                                    f"{', '.join(sorted(accepted))}")


class _Collector:
    """Joins the results of consecutive engine runs into one :class:`SleepResult`.

    The per-step counts of the whole sleep (``(steps, L + 1)`` int64, the one part
    that grows with the sleep length) are allocated before any work."""

    def __init__(self, steps: int, n_layers: int, record_spikes: bool) -> None:
        try:
            self.counts = np.empty((steps, n_layers + 1), dtype=np.int64)
        except MemoryError:
            need = steps * (n_layers + 1) * 8 / 2**30
            raise SleepParamsError(f"steps={steps}: the per-step spike counts alone need {need:.1f} GiB, more "
                                   "memory than is available; sleep in several calls") from None
        self.filled = 0
        self.totals: list[np.ndarray] | None = None
        self.spikes: list[list[SpikeRecord]] | None = [] if record_spikes else None
        self.voltages: dict[str, list] = {}
        self.drive: dict[str, list] = {}
        self.run_s = 0.0
        self.last: SleepResult | None = None

    def add(self, r: SleepResult) -> None:
        self.counts[self.filled : self.filled + r.steps] = r.counts
        self.filled += r.steps
        self.totals = [t.copy() for t in r.totals] if self.totals is None else [
            a + b for a, b in zip(self.totals, r.totals)]
        if self.spikes is not None and r.spikes is not None:
            self.spikes.append(r.spikes)
        for name, tr in r.voltages.items():
            self.voltages.setdefault(name, []).append(tr)
        for name, tr in r.input_drive.items():
            self.drive.setdefault(name, []).append(tr)
        self.run_s += r.timing.get("run_s", 0.0)
        self.last = r

    def result(self, snapshots: list[WeightSnapshot]) -> SleepResult:
        r = self.last
        spikes = None
        if self.spikes:
            spikes = [p[0] if len(self.spikes) == 1 else SpikeRecord.concatenate(list(p)) for p in zip(*self.spikes)]
        return SleepResult(
            weights=r.weights, counts=self.counts, totals=self.totals, spikes=spikes,
            layer_names=list(r.layer_names), dt_ms=r.dt_ms, engine=r.engine,
            timing={**r.timing, "run_s": self.run_s},
            voltages={k: v[0] if len(v) == 1 else VoltageTrace.concatenate(v) for k, v in self.voltages.items()},
            input_drive={k: v[0] if len(v) == 1 else InputDriveTrace.concatenate(v) for k, v in self.drive.items()},
            weight_snapshots=snapshots,
        )


def _pieces(spikes: Iterator[InputSpikes], every: int | None) -> Iterator[tuple[InputSpikes, bool]]:
    """Cut the input pieces at multiples of ``every`` steps; yield (piece, snapshot after it)."""
    done = 0
    for piece in spikes:
        start = 0
        while start < piece.steps:
            stop = piece.steps if not every else min(piece.steps, start + every - (done + start) % every)
            yield (piece if (start, stop) == (0, piece.steps) else piece.slice_steps(start, stop),
                   bool(every) and (done + stop) % every == 0)
            start = stop
        done += piece.steps


def sleep(
    model: nn.Module,
    seen_x: Any,
    params: SleepParams | None = None,
    *,
    image_x: Any = None,
    steps: int | None = None,
    engine: str = "fast",
    seed: int | None = 0,
    dtype: str = "float64",
    record_spikes: bool = False,
    record_v: Mapping[str, Sequence[int]] | None = None,
    record_drive: Mapping[str, Sequence[int]] | None = None,
    record_weights_every: int | None = None,
    progress: bool = False,
    inplace: bool = False,
    engine_options: dict[str, Any] | None = None,
    uniforms: np.ndarray | None = None,
    windows: np.ndarray | None = None,
    chunk_steps: int = DEFAULT_CHUNK_STEPS,
) -> SleepOutcome:
    """Put ``model`` to sleep and return a slept copy (the input model is unchanged).

    Args:
        model: trained bias-free ReLU network.
        seen_x: ``(n, n_inputs)`` all training data seen so far (normalization and
            mean image).
        image_x: ``(m, n_inputs)`` inputs whose mean image drives the sleep instead of
            ``seen_x``'s (the normalization still uses ``seen_x``); e.g. the first
            task's data, as the reference's cross-modal runs (SRC_SPEC.md section 5).
        params: sleep hyperparameters (default: the paper's MNIST preset).
        steps: sleep length in steps of ``params.dt_s`` (default ``params.steps_first``).
        engine: back end name, see :func:`snn.available_engines`.
        seed: seed of the input spike draws; ``uniforms``/``windows`` replace them.
        dtype: ``"float64"`` or ``"float32"`` sleep arithmetic.
        record_spikes: keep every spike (``outcome.result.spikes``).
        record_v: ``{layer name: neuron indices}``: membrane potentials every step
            (``outcome.result.voltages``).
        record_drive: ``{layer name: neuron indices}``: synaptic input drive
            ``(W_l s_{l-1})[i]`` every step (``outcome.result.input_drive``).
        record_weights_every: N: the weights at steps 0, N, 2N, ...
            (``outcome.result.weight_snapshots``).
        inplace: write the slept weights into ``model`` itself (the same Parameter
            objects, so optimizers built on it stay valid) instead of a copy.
        engine_options: further engine options (``record_v``/``record_drive`` may
            also be given here). An option or recording request the engine cannot
            honour raises :class:`snn.errors.EngineOptionError` before any work.
        chunk_steps: the input is generated and run in pieces of this many steps,
            so memory does not grow with the sleep length (except the per-step
            counts, 32 bytes per step for 3 layers, allocated before any work). The
            result is the same for any ``chunk_steps``.
    """
    params = as_sleep_params(params)  # None -> defaults; a dict or other type -> ArgumentTypeError
    steps = params.steps_first if steps is None else steps
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise SleepParamsError(f"steps must be an integer >= 0, got {steps!r}")
    if not isinstance(chunk_steps, (int, np.integer)) or isinstance(chunk_steps, bool) or chunk_steps < 1:
        raise SleepParamsError(f"chunk_steps must be an integer >= 1, got {chunk_steps!r}")
    every = record_weights_every
    if every is not None and (not isinstance(every, (int, np.integer)) or isinstance(every, bool) or every < 1):
        raise SleepParamsError(f"record_weights_every must be an integer >= 1 or None, got {every!r}")
    options = dict(engine_options or {})
    for name, value in (("record_v", record_v), ("record_drive", record_drive)):
        if value is not None:
            if name in options:
                raise EngineOptionError(f"{name} given both as an argument and in engine_options")
            options[name] = value
    steps = int(steps)
    check_engine_options(engine, options)
    piecewise = steps > chunk_steps or every is not None
    # the engine is created first so a bad name or option fails before any work
    eng = snn.get_engine(engine, dtype=dtype, record_spikes=record_spikes, progress=progress and not piecewise,
                         **options)
    spec = build_sleep_network(model, seen_x, params, image_x=image_x)  # validates the model
    n_layers = spec.network.n_layers
    inputs = iter_input_spikes(spec.mean_image, params, steps, seed=seed, uniforms=uniforms, windows=windows,
                               chunk_steps=int(chunk_steps))
    eng.build(spec.network)  # also checks the recorded layers and neurons
    collect = _Collector(steps, n_layers, record_spikes)
    snapshots = [WeightSnapshot(0, eng.weights)] if every else []
    if steps == 0:
        collect.add(eng.run(InputSpikes.empty(spec.network.sizes[0], 0)))
    with tqdm(total=steps, desc=f"sleep ({engine})", unit="step", disable=not (progress and piecewise),
              leave=False) as bar:
        for piece, snap in _pieces(inputs, every):
            collect.add(eng.run(piece))
            if snap:
                snapshots.append(WeightSnapshot(collect.filled, collect.last.weights))
            bar.update(piece.steps)
    result = collect.result(snapshots)
    if "record_v" in options and not result.voltages and getattr(eng, "voltage_traces", None):
        result.voltages = dict(eng.voltage_traces)  # engines that keep their traces themselves
    missing = [n for n, got in (("record_v", result.voltages), ("record_drive", result.input_drive))
               if n in options and set(got) != set(options[n])]
    if missing:
        raise EngineStateError(f"engine {engine!r} accepted {missing} but did not return the recording")
    slept = import_weights(model, result.weights, inplace=inplace)
    logger.info("slept %d steps on %s: mean spikes/step %s", steps, engine,
                np.round(result.counts.mean(0), 3).tolist() if steps else [])
    return SleepOutcome(slept, result, spec, result.spikes[0] if result.spikes else None)
