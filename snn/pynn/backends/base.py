"""The back-end protocol: what the PyNN engine needs from a PyNN simulator module.

A back end builds the populations and projections of the sleep network with one
``pyNN.<simulator>`` module and gives the engine simulator-level access the
PyNN API lacks or makes slow: advancing by single steps, reading and writing
membrane potentials, which neurons fired in the last step, and writing single
weight rows. :class:`Backend` is abstract: a back end that misses a method
fails when it is instantiated. Code both simulators share (cells, projections,
the stepping loop) lives here once.

Units: time in ms, weights in mV; membrane potentials in the simulator's native
unit (``v_per_mv`` per mV).
"""
from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from ..connectors import PairsConnector
from ..quiet import import_quietly, quiet

Sequence = import_quietly("pyNN.parameters").Sequence


@dataclass
class Layer:
    """Simulator objects of one weight layer and where each of its weights lives.

    population: the layer's PyNN ``Population``.
    projections: ``[excitatory, inhibitory]`` PyNN ``Projection`` onto it.
    in_exc: ``(n_post, n_pre)`` bool, the pair is in the excitatory projection.
    position: ``(n_post, n_pre)`` int, index of the pair within its projection.
    present: ``(n_post, n_pre)`` bool, the pairs that are synapses (``None``: every pair;
        an unrolled convolution or pooling layer has synapses within its windows only).
    """

    population: Any
    projections: list[Any]
    in_exc: np.ndarray
    position: np.ndarray
    present: np.ndarray | None = None

    def mask(self, k: int) -> np.ndarray:
        """``(n_post, n_pre)`` bool, the pairs of projection ``k`` (0 excitatory, 1 inhibitory)."""
        mask = self.in_exc if k == 0 else ~self.in_exc
        return mask if self.present is None else mask & self.present


class Backend(abc.ABC):
    """One PyNN simulator module as the engine drives it.

    dt_ms: step length; options: the engine's simulator options (``threads``,
    ``codegen``). Build: :meth:`setup`, :meth:`input_population`,
    :meth:`layer_population`, :meth:`projection`, :meth:`finalize`; run:
    :meth:`run_steps` (calling :meth:`advance`), :meth:`fired`,
    :meth:`write_rows`, :meth:`get_v`/:meth:`set_v`, all within :meth:`active`.
    """

    #: simulator name (``pynn.<name>``)
    name: str = "abstract"

    def __init__(self, dt_ms: float, options: dict[str, Any]) -> None:
        self.dt = float(dt_ms)
        self.options = options
        #: the pyNN simulator module, the cell class and the spike source class (set by setup)
        self.sim: Any = None
        self.cell_class: Any = None
        self.source_class: Any = None
        #: simulator steps done
        self.kernel = 0
        self._layers: list[Layer] = []

    # ------------------------------------------------------------ abstract
    @property
    @abc.abstractmethod
    def stamp_offset(self) -> int:
        """A spike of simulator step ``k`` is recorded at time ``(k + stamp_offset) * dt``."""

    @property
    @abc.abstractmethod
    def v_per_mv(self) -> float:
        """Native membrane potential units per mV."""

    @abc.abstractmethod
    def setup(self) -> None:
        """Import the simulator, set ``sim``/``cell_class``/``source_class`` and call PyNN's ``setup``."""

    @abc.abstractmethod
    def finalize(self, layers: list[Layer], exact: bool) -> None:
        """After all populations and projections exist: prepare recording, running and,
        when ``exact``, the per-step spike readout and row write-back."""

    @abc.abstractmethod
    def get_v(self, pop: Any) -> np.ndarray:
        """``(n,)`` float64 membrane potentials of ``pop`` (native units)."""

    @abc.abstractmethod
    def set_v(self, pop: Any, v_native: np.ndarray) -> None:
        """Write ``(n,)`` membrane potentials (native units) into ``pop``."""

    @abc.abstractmethod
    def fired(self) -> list[np.ndarray]:
        """Per weight layer, the sorted indices of the neurons that fired in the last step."""

    @abc.abstractmethod
    def write_connections(self, l: int, k: int, positions: np.ndarray, values_mv: np.ndarray) -> None:
        """Set the weights (mV) of the connections at ``positions`` of projection ``k``
        (0 excitatory, 1 inhibitory) of weight layer ``l``."""

    @abc.abstractmethod
    def version(self) -> str:
        """``"<simulator> <version>"``."""

    # -------------------------------------------------------------- shared
    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Context in which the simulator runs (global preferences, quiet warnings)."""
        with quiet():
            yield

    def input_population(self, n: int) -> Any:
        """``n`` spike sources, no spikes yet (:meth:`set_input_times` sets them)."""
        return self.sim.Population(n, self.source_class(spike_times=[Sequence([]) for _ in range(n)]),
                                   label="input")

    def layer_population(self, n: int, tau_m_ms: float, v_thresh_mv: float, label: str) -> Any:
        """``n`` SRC neurons: ``IF_curr_delta`` with ``v_rest = v_reset = 0`` mV, no
        refractory time, threshold ``v_thresh_mv``, potentials starting at 0."""
        cell = self.cell_class(tau_m=tau_m_ms, v_rest=0.0, v_reset=0.0, v_thresh=v_thresh_mv,
                               tau_refrac=0.0, cm=1.0, i_offset=0.0)
        return self.sim.Population(n, cell, initial_values={"v": 0.0}, label=label)

    def projection(self, pre: Any, post: Any, receptor: str, pairs: PairsConnector, label: str,
                   synapse: dict[str, float] | None = None) -> Any:
        """A ``receptor`` (``"excitatory"``/``"inhibitory"``) projection made by ``pairs``:
        static synapses, or the native SRC synapse with the parameters ``synapse``."""
        return self.sim.Projection(pre, post, pairs, self.synapse_type(synapse), receptor_type=receptor, label=label)

    def synapse_type(self, synapse: dict[str, float] | None) -> Any:
        """The PyNN synapse of a projection: ``StaticSynapse`` (one step of delay) when
        ``synapse`` is ``None``; back ends with a native SRC synapse override this."""
        if synapse is not None:
            raise NotImplementedError(f"the {self.name} back end has no native SRC synapse")
        return self.sim.StaticSynapse(weight=0.0, delay=self.dt)

    def read_weights(self, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
        """Native SRC synapses: the weights ``W`` (``(n_post, n_pre)`` per layer) as the
        simulator holds them now."""
        raise NotImplementedError(f"the {self.name} back end has no native SRC synapse")

    def advance(self, steps: int) -> None:
        """Simulate ``steps`` more steps."""
        if steps > 0:
            self.sim.simulator.state.run(steps * self.dt)

    def run_steps(self, k_start: int, k_end: int, between: Callable[[int], None], *, every_step: bool,
                  events: list[int], bar: Any) -> None:
        """Simulate from step ``k_start`` to ``k_end``, calling ``between(k)`` whenever
        ``k`` steps are done and step ``k`` is next: at every ``k`` if ``every_step``,
        else at least at each of ``events``. Default: one simulator call per stretch."""
        kernel = k_start
        while True:
            between(kernel)
            if kernel >= k_end:
                break
            target = kernel + 1 if every_step else min(k for k in events if k > kernel)
            self.advance(target - kernel)
            bar.update(target - kernel)
            kernel = target
            self.kernel = kernel

    def write_rows(self, l: int, rows: np.ndarray, values_mv: np.ndarray) -> None:
        """Write the weights (mV) ``values_mv`` (``(len(rows), n_pre)``) of the
        postsynaptic neurons ``rows`` of weight layer ``l`` into the simulator."""
        ly = self._layers[l]
        in_exc = ly.in_exc[rows]
        pos = ly.position[rows]
        for k, sel in enumerate((in_exc, ~in_exc)):
            if sel.any():
                self.write_connections(l, k, pos[sel], values_mv[sel])

    def set_input_times(self, pop: Any, times_ms: list[np.ndarray]) -> None:
        """Spike times (ms) of every source of ``pop``."""
        pop.set(spike_times=[Sequence(t) for t in times_ms])

    def after_clear(self, pop: Any) -> None:
        """Repair after ``get_data(clear=True)`` where PyNN's clearing is incomplete."""

    def record_spikes(self, pops: list[Any], through_pynn: bool = True) -> None:
        """Record the spikes of every population: with PyNN's ``record`` (default), or
        with the simulator's own recorders where a back end offers them (faster)."""
        for pop in pops:
            pop.record("spikes")

    def recorded_spikes(self, index: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(times ms, indices)`` of population ``index`` since the last call, from the
        back end's own recorders; ``None`` when PyNN records (the engine reads PyNN)."""
        return None


__all__ = ["Backend", "Layer"]
