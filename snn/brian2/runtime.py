"""Brian2 runtime mode (``codegen="cython"`` or ``"numpy"``): one network that lives
from ``build`` to the last ``run``.

Building creates the objects and compiles every code object (a zero-length run;
Cython extensions come from ``<cache_dir>/cython-<flags hash>`` when cached). The
network and its state (potentials and weights) then persist between runs, like the
fast engine's state: two runs of 120 + 180 steps equal one run of 300.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..network import SleepNetwork
from ..spikes import InputSpikes
from .codegen import b2, brian2_prefs
from .monitors import MonitorReader, Readout, Recording
from .objects import build_network, read_potentials, read_weights, set_state

logger = logging.getLogger(__name__)


class RuntimeSimulation:
    """A compiled Brian2 runtime network for ``network`` with the given state.

    Args:
        network: the sleep network (parameters; weights and potentials come separately).
        recording: the monitors to create.
        codegen: ``"cython"`` or ``"numpy"``.
        cache_dir: cache directory (the Cython cache is a subdirectory).
        dtype: state precision.
        weights: initial ``(n_l, n_{l-1})`` weights per layer.
        potentials: initial ``(n_l,)`` membrane potentials per layer ``1..L``.

    Attributes:
        net: the Brian2 ``Network``; objs: its objects (see :func:`snn.brian2.objects.build_network`).
        compile_s: seconds spent creating and compiling at build.
    """

    def __init__(self, network: SleepNetwork, recording: Recording, codegen: str, cache_dir: Path,
                 dtype: np.dtype, weights: Sequence[np.ndarray], potentials: Sequence[np.ndarray]) -> None:
        self.network = network
        self.sizes = list(network.sizes)
        self.codegen = codegen
        self.cache_dir = cache_dir
        self.dtype = dtype
        t0 = time.perf_counter()
        with brian2_prefs(codegen, cache_dir, dtype):
            self.net, self.objs = build_network(network, recording, input_spikes=None)
            set_state(self.objs, network, weights, potentials)
            # a zero-length run generates and compiles every code object
            self.net.run(0 * b2.ms, namespace={})
        self.compile_s = time.perf_counter() - t0
        self.reader = MonitorReader(self.objs, self.sizes, network.dt_ms, dtype)
        logger.info("brian2 (%s): network built and compiled in %.2f s", codegen, self.compile_s)

    @property
    def weights(self) -> list[np.ndarray]:
        """Current ``(n_l, n_{l-1})`` weights per layer (copies)."""
        return read_weights(self.objs, self.sizes, self.dtype)

    @property
    def potentials(self) -> list[np.ndarray]:
        """Current ``(n_l,)`` membrane potentials per layer ``1..L`` (copies)."""
        return read_potentials(self.objs, self.dtype)

    def run(self, input_spikes: InputSpikes, progress: bool = False) -> tuple[Readout, dict[str, float]]:
        """Advance by ``input_spikes.steps`` steps; returns the monitors' readout of this
        run and its timing (``compile_s``: build; ``sim_s``: Brian2's step loop;
        ``codegen_s``: Brian2's per-run preparation)."""
        net, steps, dt_ms = self.net, input_spikes.steps, self.network.dt_ms
        t0_s = float(net.t_)
        t0 = time.perf_counter()
        with brian2_prefs(self.codegen, self.cache_dir, self.dtype):
            times = (input_spikes.steps_of_spikes * dt_ms * 1e-3 + t0_s) * b2.second
            self.objs["generator"].set_spikes(input_spikes.indices, times, sorted=True)
            report, bar = None, None
            if progress:
                from tqdm.auto import tqdm
                bar = tqdm(total=steps, desc="sleep (brian2)", unit="step", leave=False)

                def report(elapsed: Any, completed: Any, start: Any, duration: Any) -> None:  # Brian2 callback
                    bar.n = int(round(float(completed) * steps))
                    bar.refresh()
            try:
                # numpy codegen evaluates exp(-w / 0.001) for large negative w: inf is intended
                with np.errstate(over="ignore"):
                    net.run(steps * dt_ms * b2.ms, namespace={}, report=report, report_period=1 * b2.second)
            finally:
                if bar is not None:
                    bar.close()
            sim_s = float(b2.get_device()._last_run_time) if steps else 0.0
            prepared = time.perf_counter() - t0
            readout = self.reader.read(input_spikes, t0_s)
        return readout, {"compile_s": self.compile_s, "sim_s": sim_s, "codegen_s": max(0.0, prepared - sim_s)}


__all__ = ["RuntimeSimulation"]
