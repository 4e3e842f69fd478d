"""The Brian2 back end (``pynn.brian2``): PyNN 0.13 on Brian2 (runtime mode).

* Schedule :data:`BRIAN2_SCHEDULE`: Brian2's default tests the threshold
  *before* delivering the step's spikes (``v = decay * (v + input)`` one step
  later) and resets after delivery; leak, deliver, threshold, reset gives SRC's
  ``v = decay * v + input`` tested in the same step. In that order the
  ``synapses`` slot delivers the previous step's spikes, so the schedule is the
  one-step delay of the projections (their ``Synapses`` delay is 0).
* One Brian2 ``run`` per engine stretch; the engine's work between steps runs in
  a ``NetworkOperation`` at the start of every step (:meth:`Brian2Backend.run_steps`).
* Code generation target set only while the engine runs (:meth:`Brian2Backend.active`).

A spike of simulator step ``k`` is stamped ``k * dt``; potentials in volt.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np

from ...errors import EngineOptionError
from ..cells import brian2_classes
from ..connectors import presynaptic_major_pairs
from ..quiet import quiet
from .base import Backend, Layer

#: Brian2 code generation targets accepted by the ``codegen`` option
BRIAN2_CODEGENS = ("numpy", "cython")
#: Brian2 schedule: leak (groups), deliver (synapses), then threshold and reset
BRIAN2_SCHEDULE = ["start", "groups", "synapses", "thresholds", "resets", "end"]


class Brian2Backend(Backend):
    """:class:`~snn.pynn.backends.base.Backend` on ``pyNN.brian2``."""

    name = "brian2"
    stamp_offset = 0
    v_per_mv = 1e-3

    def setup(self) -> None:
        sim, self.cell_class, self.source_class = brian2_classes()
        import brian2

        self.brian2 = brian2
        self.sim = sim
        codegen = self.options.get("codegen", "numpy")
        if codegen not in BRIAN2_CODEGENS:
            raise EngineOptionError(f"unknown codegen {codegen!r}; choose one of {BRIAN2_CODEGENS}")
        self.codegen = codegen
        with self.active():
            sim.setup(timestep=self.dt, min_delay=self.dt)
            sim.simulator.state.network.schedule = list(BRIAN2_SCHEDULE)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Brian2's ``codegen.target`` set to the engine's for the block, restored after."""
        prefs = self.brian2.prefs
        wanted = {"codegen.target": self.codegen}
        saved = {k: prefs[k] for k in wanted}
        try:
            for k, v in wanted.items():
                prefs[k] = v
            with quiet():
                yield
        finally:
            for k, v in saved.items():
                prefs[k] = v

    def finalize(self, layers: list[Layer], exact: bool) -> None:
        """Install the engine's ``NetworkOperation`` slot and keep each projection's
        weight array (checked to be in the order the pairs were made)."""
        self._layers = layers
        self._operation: dict[str, Any] = {"function": None}
        slot = self._operation

        def call_engine(t: Any) -> None:
            if slot["function"] is not None:
                slot["function"](t)

        self.sim.simulator.state.network.add(
            self.brian2.NetworkOperation(call_engine, when="start", order=1,
                                         clock=self.sim.simulator.state.network.clock))
        self._weights = []
        for ly in layers:
            per_prj = []
            for k, prj in enumerate(ly.projections):
                syn = prj._brian2_synapses[0][0]
                pre_j, post_i = presynaptic_major_pairs(ly.mask(k))
                if not (np.array_equal(np.asarray(syn.i[:]), pre_j) and np.array_equal(np.asarray(syn.j[:]), post_i)):
                    raise RuntimeError(f"Brian2 reordered the synapses of {prj.label!r}")
                per_prj.append(syn.variables["weight"].get_value())
            self._weights.append(per_prj)

    def run_steps(self, k_start: int, k_end: int, between: Callable[[int], None], *, every_step: bool,
                  events: list[int], bar: Any) -> None:
        """One Brian2 ``run`` for the whole stretch; ``between`` runs in a
        ``NetworkOperation`` at the start of every step.

        Splitting the stretch into several ``run`` calls would lose spikes: at the
        end of a ``run`` Brian2's thresholder empties the spike space, and with the
        synapses-before-thresholds schedule the last step's spikes are delivered
        only in the first step of the next call.
        """
        due = set(events)

        def operation(t: Any) -> None:
            k = int(round(float(t / self.brian2.ms) / self.dt))
            if every_step or k in due:
                between(k)
            if k > k_start:
                bar.update(1)

        self._operation["function"] = operation
        try:
            self.advance(k_end - k_start)
        finally:
            self._operation["function"] = None
        self.kernel = k_end
        bar.update(1)
        between(k_end)

    def get_v(self, pop: Any) -> np.ndarray:
        return np.array(pop.brian2_group.variables["v"].get_value(), dtype=np.float64)

    def set_v(self, pop: Any, v_native: np.ndarray) -> None:
        # native (volt) values: a round trip through mV would round
        pop.brian2_group.variables["v"].get_value()[:] = v_native

    def fired(self) -> list[np.ndarray]:
        return [np.sort(np.asarray(ly.population.brian2_group.spikes, dtype=np.int64)) for ly in self._layers]

    def after_clear(self, pop: Any) -> None:
        """PyNN clears a Brian2 ``SpikeMonitor`` with ``resize(0)``, which leaves its
        spike count ``N``: the next spikes would be appended after ``N`` zeros
        (spikes at t = 0 on the next ``get_data``). Reset ``N`` and ``count`` too."""
        monitor = pop.recorder._devices.get("spikes")
        if monitor is not None:
            monitor.variables["N"].set_value(0)
            monitor.variables["count"].get_value()[:] = 0

    def write_connections(self, l: int, k: int, positions: np.ndarray, values_mv: np.ndarray) -> None:
        self._weights[l][k][positions] = values_mv * 1e-3

    def version(self) -> str:
        return f"Brian2 {self.brian2.__version__}"


__all__ = ["BRIAN2_CODEGENS", "BRIAN2_SCHEDULE", "Brian2Backend"]
