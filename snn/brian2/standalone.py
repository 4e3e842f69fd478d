"""Brian2 ``cpp_standalone`` mode: the network as a compiled C++ project.

A standalone binary simulates once per build, so every run regenerates the project
with the current state and runs it once. Parameters, weights and potentials reach the
binary as command-line ``run_args`` (the generated code does not depend on them) and
are read back afterwards, so state persists across runs as in runtime mode.

One project exists per network shape, dtype, rule and set of monitors
(``<cache_dir>/standalone/<sizes>-<key>``, :func:`project_dir`): what changes between
runs of one project (the input spikes, the number of steps) is only in ``main.cpp``
and ``objects.cpp``, so ``make`` recompiles just these two files. A file lock
serializes processes sharing a project. Brian2's device is switched to
``cpp_standalone`` only during a run and reset afterwards.
"""
from __future__ import annotations

import gc
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..network import SleepNetwork
from ..spikes import InputSpikes
from .codegen import COMPILE_ARGS, b2, brian2_prefs, standalone_dir
from .monitors import MonitorReader, Readout, Recording
from .objects import build_network, check_synapse_order, read_potentials, read_weights, state_run_args

logger = logging.getLogger(__name__)


def project_dir(cache_dir: Path, network: SleepNetwork, recording: Recording, dtype: np.dtype) -> Path:
    """``<cache_dir>/standalone/<n_0-n_1-...>-<hash>``: one project per network shape,
    precision, rule, monitors, Brian2 version and compile flags."""
    sizes = list(network.sizes)
    key = {
        "sizes": sizes, "dtype": dtype.name, "rule": network.rule, **recording.key(),
        "brian2": b2.__version__, "flags": COMPILE_ARGS,
    }
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return standalone_dir(cache_dir) / f"{'-'.join(map(str, sizes))}-{digest}"


class StandaloneSimulation:
    """The state of a network simulated by cpp_standalone runs.

    Args:
        network, recording, cache_dir, dtype: as :class:`~snn.brian2.runtime.RuntimeSimulation`.
        weights: initial ``(n_l, n_{l-1})`` weights per layer.
        potentials: initial ``(n_l,)`` membrane potentials per layer ``1..L``.

    Attributes:
        project: the C++ project directory.
        weights, potentials: the state after the last run (held here between runs).
    """

    def __init__(self, network: SleepNetwork, recording: Recording, cache_dir: Path, dtype: np.dtype,
                 weights: Sequence[np.ndarray], potentials: Sequence[np.ndarray]) -> None:
        self.network = network
        self.recording = recording
        self.sizes = list(network.sizes)
        self.cache_dir = cache_dir
        self.dtype = dtype
        self.weights = list(weights)
        self.potentials = list(potentials)
        self.project = project_dir(cache_dir, network, recording, dtype)

    def run(self, input_spikes: InputSpikes) -> tuple[Readout, dict[str, float]]:
        """Generate, compile (``make``) and run the project for ``input_spikes``; returns
        the monitors' readout and the timing (``codegen_s``, ``compile_s``: make,
        ``binary_s``: the binary with its array I/O, ``sim_s``: its step loop)."""
        from brian2.devices.device import reset_device, set_device
        from filelock import FileLock

        project = self.project
        project.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(project) + ".lock"), brian2_prefs("cpp_standalone", self.cache_dir, self.dtype):
            set_device("cpp_standalone", build_on_run=False, directory=str(project))
            try:
                readout, times = self._simulate(input_spikes)
            finally:
                b2.get_device().reinit()
                reset_device()
        # the Brian2 objects are gone now; collect them so that the next build
        # finds the same object names (and therefore the same generated code)
        gc.collect()
        logger.info("brian2 (cpp_standalone): codegen %.2f s, make %.2f s, binary %.2f s (simulation %.3f s)",
                    times["codegen_s"], times["compile_s"], times["binary_s"], times["sim_s"])
        return readout, times

    def _simulate(self, input_spikes: InputSpikes) -> tuple[Readout, dict[str, float]]:
        """With the standalone device active: generate, build, run, read back."""
        network, project, steps = self.network, self.project, input_spikes.steps
        t0 = time.perf_counter()
        device = b2.get_device()
        device.reinit()
        device.activate(build_on_run=False, directory=str(project))
        net, objs = build_network(network, self.recording, input_spikes)
        # parameters and state come in through the command line (run_args): the
        # generated code does not depend on them, so a network of the same shape
        # reuses the compiled project
        device.apply_run_args()
        net.run(steps * network.dt_ms * b2.ms, namespace={})
        run_args = state_run_args(objs, network, self.weights, self.potentials)
        codegen_s = time.perf_counter() - t0
        device.build(directory=str(project), compile=True, run=True, with_output=False, run_args=run_args)
        times = {
            "codegen_s": codegen_s,
            "compile_s": float(device.timers["compile"]["make"] or 0.0),
            "binary_s": float(device.timers["run_binary"] or 0.0),
            "sim_s": float(device._last_run_time) if steps else 0.0,
        }
        check_synapse_order(objs, self.sizes)
        self.weights = read_weights(objs, self.sizes, self.dtype)
        self.potentials = read_potentials(objs, self.dtype)
        readout = MonitorReader(objs, self.sizes, network.dt_ms, self.dtype).read(input_spikes, 0.0)
        for fname in list(device.run_args_arrays):
            for path in (project / "static_arrays" / fname, project / "static_arrays" / (fname + ".lock")):
                try:
                    path.unlink()
                except OSError:
                    pass
        return readout, times


__all__ = ["StandaloneSimulation", "project_dir"]
