"""The Brian2 sleep engine: options, build, run, state, and the SleepResult.

Given the same input spikes it produces the same spikes as :mod:`snn.fast` (float64:
bit for bit). The model is in :mod:`snn.brian2.equations`, the objects in
:mod:`snn.brian2.objects`, the two ways of running them in :mod:`snn.brian2.runtime`
and :mod:`snn.brian2.standalone`, code generation settings in :mod:`snn.brian2.codegen`.

Time is biological: one step is ``dt_ms`` milliseconds (1 ms in the reference), the
leak corresponds to ``tau_m = -dt / ln(decay)`` (999.5 ms for decay 0.999) and input
rates are in Hz. The membrane potential is dimensionless (read it as mV).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..base import SleepEngine
from ..errors import EngineStateError, PlasticConvError
from ..network import SleepNetwork
from ..spikes import InputSpikes, SleepResult, VoltageTrace
from .codegen import b2, check_codegen, choose_codegen, default_cache_dir
from .conv import TiedKernels, plastic_conv_layers
from .monitors import Readout, Recording
from .runtime import RuntimeSimulation
from .standalone import StandaloneSimulation

logger = logging.getLogger(__name__)


class Brian2Engine(SleepEngine):
    """SRC sleep as a Brian2 spiking network (see :mod:`snn.brian2`).

    Args:
        codegen: ``"cython"`` (default), ``"numpy"`` or ``"cpp_standalone"``
            (:data:`~snn.brian2.codegen.CODEGENS`).
        fallback: code generation to use instead when ``codegen`` cannot be used
            because its compiler or ``make`` is missing (``None``: raise
            :class:`~snn.errors.ToolNotFoundError` instead).
        cache_dir: directory for the Cython cache and the standalone projects
            (default: :func:`~snn.brian2.codegen.default_cache_dir`).
        record_neurons: ``{layer name: neuron indices}``; only these neurons'
            spike trains are recorded for the named layers (per-step counts and
            per-neuron totals always cover every neuron). Layer names as in
            ``SleepNetwork.layer_names`` (not the input).
        record_v: ``{layer name: neuron indices}`` whose membrane potential is
            recorded every step, available as :attr:`voltage_traces`.

    (``dtype``, ``record_spikes``, ``progress``: see :class:`~snn.base.SleepEngine`;
    ``float32`` stores the state in single precision but Brian2 evaluates mixed
    expressions in double, so only ``float64`` is guaranteed to match the fast
    engine spike for spike.)

    Unknown ``codegen``/``fallback`` values and bad ``record_*`` subsets raise
    :class:`~snn.errors.EngineOptionError`. After ``build``, :attr:`brian2_objects`
    holds the Brian2 groups, synapses and monitors (runtime codegen) for inspection or
    extension.
    """

    name = "brian2"
    #: convolution and pooling layers are simulated unrolled (:meth:`SleepNetwork.unrolled`); a learning
    #: kernel is one shared array updated between steps (:mod:`snn.brian2.conv`; runtime codegen only)
    supports_conv = True

    def __init__(
        self,
        *,
        codegen: str = "cython",
        fallback: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        record_neurons: Mapping[str, Sequence[int]] | None = None,
        record_v: Mapping[str, Sequence[int]] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        check_codegen(codegen)
        if fallback is not None:
            check_codegen(fallback, option="fallback codegen")
        self.requested_codegen = codegen
        self.fallback = fallback
        self.codegen = codegen
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.record_neurons = {str(k): v for k, v in (record_neurons or {}).items()}
        self.record_v = {str(k): v for k, v in (record_v or {}).items()}
        #: ``{layer name: VoltageTrace}`` of the ``record_v`` neurons, concatenated over runs
        self.voltage_traces: dict[str, VoltageTrace] = {}
        self.brian2_objects: dict[str, Any] = {}
        self.project_dir: Path | None = None
        self._sim: RuntimeSimulation | StandaloneSimulation | None = None

    # ------------------------------------------------------------ building
    def _build(self, network: SleepNetwork) -> None:
        self._fixed: dict[int, np.ndarray] = {}   # weight layer -> its own weights, for layers simulated unrolled
        self._tied: TiedKernels | None = None
        conv_network = network
        if not network.is_dense:
            plastic = plastic_conv_layers(network)
            if plastic and choose_codegen(self.requested_codegen, self.fallback) == "cpp_standalone":
                l = plastic[0]
                raise PlasticConvError(
                    f"engine 'brian2' (cpp_standalone) cannot make the shared kernel of layer {l} "
                    f"('{network.layer_names[l + 1]}', conv) learn: the tied-kernel update runs in Python between "
                    "steps (a NetworkOperation), which a standalone binary cannot. Use codegen='cython' or "
                    f"'numpy', plasticity_gain[{l}] = 0 (e.g. sleep only the fc layers), or the 'fast' engine")
            for l, layer in enumerate(network.layers):
                if layer.kind != "dense" and l not in plastic:
                    self._fixed[l] = np.array(network.weights[l], dtype=self.dtype)
            network = network.unrolled()
            network.plasticity_gain[plastic] = 0.0   # the kernel learns in TiedKernels, not per synapse
        recording = Recording.resolve(network, self.record_spikes, self.record_neurons, self.record_v)
        self.codegen = choose_codegen(self.requested_codegen, self.fallback)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._recording = recording
        self.voltage_traces = {}
        self.brian2_objects = {}
        self._sim = None
        weights = [np.ascontiguousarray(w, dtype=self.dtype) for w in network.weights]
        potentials = [np.zeros(n, dtype=self.dtype) for n in network.sizes[1:]]
        if self.codegen == "cpp_standalone":
            self._sim = StandaloneSimulation(network, recording, self.cache_dir, self.dtype, weights, potentials)
        else:
            self._sim = RuntimeSimulation(network, recording, self.codegen, self.cache_dir, self.dtype,
                                          weights, potentials)
            self.brian2_objects = self._sim.objs
            if not conv_network.is_dense:
                self._tied = TiedKernels(conv_network, self._sim.objs, self._sim.net, self.dtype)

    # ------------------------------------------------------------ state
    def _simulation(self) -> RuntimeSimulation | StandaloneSimulation:
        if self._sim is None:
            raise EngineStateError("call build(network) before reading the Brian2 engine's state")
        return self._sim

    @property
    def brian2_network(self) -> "b2.Network | None":
        """The Brian2 ``Network`` (runtime codegen, after ``build``), e.g. to add monitors
        with ``when="layer<l>"`` slots; ``None`` for cpp_standalone, whose objects
        exist only while a run is generated."""
        return self._sim.net if isinstance(self._sim, RuntimeSimulation) else None

    @property
    def weights(self) -> list[np.ndarray]:
        """Current weights, one ``(n_l, n_{l-1})`` array per layer (copies); a convolution
        or pooling layer (simulated unrolled, never learning here) gives its own weights
        (the kernel, the pooling window)."""
        sim = self._simulation()
        weights = sim.weights if isinstance(sim, RuntimeSimulation) else [w.copy() for w in sim.weights]
        tied = self._tied.kernels if self._tied is not None else {}
        return [self._fixed[l].copy() if l in self._fixed else tied[l].copy() if l in tied else w
                for l, w in enumerate(weights)]

    @property
    def potentials(self) -> list[np.ndarray]:
        """Current membrane potentials, one ``(n_l,)`` array per layer ``1..L`` (copies)."""
        sim = self._simulation()
        if isinstance(sim, RuntimeSimulation):
            return sim.potentials
        return [v.copy() for v in sim.potentials]

    # ------------------------------------------------------------ running
    def _run(self, input_spikes: InputSpikes) -> SleepResult:
        sim = self._simulation()
        if isinstance(sim, StandaloneSimulation):
            readout, times = sim.run(input_spikes)
            self.project_dir = sim.project
        else:
            readout, times = sim.run(input_spikes, progress=self.progress)
        self.timing.update(times)
        return self._result(readout)

    def _result(self, readout: Readout) -> SleepResult:
        """The SleepResult of one run; appends the voltages to :attr:`voltage_traces`."""
        net = self.network
        for l, v in readout.voltages.items():
            name = net.layer_names[l]
            prev = self.voltage_traces.get(name)
            if prev is not None:
                v = np.concatenate([prev.v, v])
            self.voltage_traces[name] = VoltageTrace(name, self._recording.voltages[l].copy(), v, net.dt_ms)
        return SleepResult(
            weights=self.weights, counts=readout.counts, totals=readout.totals,
            spikes=readout.spikes if self.record_spikes else None,
            layer_names=list(net.layer_names), dt_ms=net.dt_ms,
        )


__all__ = ["Brian2Engine"]
