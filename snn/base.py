"""The engine interface shared by every sleep back end.

Modelled on PyNN: one API, back ends chosen by name. An engine is built from a
:class:`~snn.network.SleepNetwork`, then advanced with :meth:`SleepEngine.run`
for as many steps as the given input spikes hold. State (membrane potentials
and weights) persists between ``run`` calls, so a long sleep can be run in
pieces. Every engine must give the same spikes for the same input.
"""
from __future__ import annotations

import abc
import logging
import time

import numpy as np

from .errors import EngineOptionError, EngineStateError, InvalidNetworkError, InvalidSpikesError, WrongTypeError
from .limits import check_activity
from .network import SleepNetwork
from .spikes import InputSpikes, SleepResult, SpikeRecord

logger = logging.getLogger(__name__)

DTYPES = {"float64": np.float64, "float32": np.float32}


def resolve_dtype(dtype: str | type | np.dtype) -> np.dtype:
    """Map ``"float64"``/``"float32"`` (or the NumPy types) to a NumPy dtype."""
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in DTYPES:
        raise EngineOptionError(f"unsupported dtype {dtype!r}; choose one of {sorted(DTYPES)}")
    return np.dtype(DTYPES[key])


class SleepEngine(abc.ABC):
    """Base class of the sleep back ends.

    Args:
        dtype: arithmetic precision, ``"float64"`` (default) or ``"float32"``.
        record_spikes: keep every spike (for rasters and Neo export); per-step
            counts and per-neuron totals are always kept.
        progress: show a tqdm progress bar while running.
    """

    #: name under which the engine is registered
    name: str = "abstract"
    #: whether the engine simulates convolution and pooling layers (:mod:`snn.layers`)
    supports_conv: bool = False

    def __init__(self, *, dtype: str = "float64", record_spikes: bool = True, progress: bool = False) -> None:
        self.dtype = resolve_dtype(dtype)
        self.record_spikes = bool(record_spikes)
        self.progress = bool(progress)
        self.network: SleepNetwork | None = None
        self.timing: dict[str, float] = {}

    # ---------------------------------------------------------------- API
    def build(self, network: SleepNetwork) -> "SleepEngine":
        """Set up the simulation for ``network``; potentials start at 0."""
        if not isinstance(network, SleepNetwork):
            raise WrongTypeError(f"build() needs a SleepNetwork, got {type(network).__name__}")
        network.validate()
        if not network.is_dense and not self.supports_conv:
            first = next(l for l, layer in enumerate(network.layers) if layer.kind != "dense")
            raise InvalidNetworkError(
                f"engine {self.name!r} cannot simulate {network.layers[first].kind} layers (layer {first}, "
                f"'{network.layer_names[first + 1]}'); use an engine that can (e.g. 'fast', 'dense'), "
                "or network.unrolled() for the dense network with "
                "the same synapses (the same spikes while weights are frozen)")
        t0 = time.perf_counter()
        self.network = network
        self._build(network)
        self.timing = {"build_s": time.perf_counter() - t0}
        return self

    def run(self, input_spikes: InputSpikes) -> SleepResult:
        """Advance the network by ``input_spikes.steps`` steps of ``dt_ms``.

        Returns the spike record of this run and the weights after it.
        """
        if self.network is None:
            raise EngineStateError("call build(network) before run()")
        if not isinstance(input_spikes, SpikeRecord):
            raise WrongTypeError(f"run() needs InputSpikes, got {type(input_spikes).__name__}")
        if input_spikes.n_neurons != self.network.sizes[0]:
            raise InvalidSpikesError(
                f"input spikes are for {input_spikes.n_neurons} inputs but the network "
                f"has {self.network.sizes[0]}"
            )
        t0 = time.perf_counter()
        result = self._run(input_spikes)
        check_activity(result.counts, 0, self.name)  # engines that cannot stop early
        elapsed = time.perf_counter() - t0
        self.timing["run_s"] = elapsed
        result.engine = self.name
        result.timing = dict(self.timing)
        if input_spikes.steps:
            logger.info("%s engine: %d steps in %.3f s (%.0f steps/s)", self.name,
                        input_spikes.steps, elapsed, input_spikes.steps / max(elapsed, 1e-12))
        return result

    @property
    @abc.abstractmethod
    def weights(self) -> list[np.ndarray]:
        """Current weights, one ``(n_post, n_pre)`` array per layer (copies)."""

    # ------------------------------------------------------- implementation
    @abc.abstractmethod
    def _build(self, network: SleepNetwork) -> None: ...

    @abc.abstractmethod
    def _run(self, input_spikes: InputSpikes) -> SleepResult: ...
