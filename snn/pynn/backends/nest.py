"""The NEST back end (``pynn.nest``): PyNN 0.13 on NEST 3.

* ``spike_precision="on_grid"``: the default ``off_grid`` uses
  ``iaf_psc_delta_ps``, which refuses ``tau_refrac = 0`` ("Refractory time must
  be at least one time step"); on grid NEST uses ``iaf_psc_delta``, whose step
  is ``V_m <- P33 * V_m + (delivered weights)`` then the threshold test, as SRC.
* Spike sources with ``precise_times=False`` (see :meth:`NestBackend.input_population`).
* Exact plasticity: a spike recorder of the engine's own, emptied after every
  step, tells which neurons fired; single weight rows are written through
  ``SynapseCollection.set`` on the connections the engine mapped once at build.
* Native plasticity: the extension module of :mod:`snn.nestmodule` is built
  (once, cached) and installed after PyNN's ``setup()`` (which resets NEST's
  kernel); the projections use PyNN's ``native_synapse_type("src_synapse")``
  (through PyNN), and the weights are read back in bulk through the module
  (PyNEST level: PyNN's ``Projection.get`` would take about 10 us per connection).

A spike of simulator step ``k`` is stamped ``(k + 1) * dt``; potentials in mV.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..cells import nest_classes
from ..quiet import quiet, set_nest_verbosity
from .base import Backend, Layer


class NestBackend(Backend):
    """:class:`~snn.pynn.backends.base.Backend` on ``pyNN.nest``."""

    name = "nest"
    stamp_offset = 1
    v_per_mv = 1.0
    #: connections read per call when mapping them (bounds the memory of NEST's status dicts)
    MAP_CHUNK = 100_000

    def setup(self) -> None:
        sim, self.cell_class, self.source_class = nest_classes()
        import nest

        self.nest = nest
        self.sim = sim
        threads = int(self.options.get("threads", 1))
        with quiet():
            # on_grid: iaf_psc_delta (iaf_psc_delta_ps refuses tau_refrac = 0); every delay is one
            # step, so max_delay is as small as NEST allows: its default synapse delay (1 ms) must lie
            # within [min_delay, max_delay]. With dt = 1 ms each neuron's input ring buffer then holds
            # 2 slots (11 with max_delay = 10 dt): about 10 % less CPU time for the native sleep on a
            # loaded machine, nothing measurable on a quiet one
            sim.setup(timestep=self.dt, min_delay=self.dt, max_delay=max(self.dt, 1.0),
                      spike_precision="on_grid", threads=threads, verbosity="error")
        set_nest_verbosity(nest)
        self._det = None
        self._module_path = None
        if self.options.get("native"):
            from ...nestmodule import install

            self._module_path = install(nest, compiler=self.options.get("compiler"))

    def input_population(self, n: int) -> Any:
        """Spike sources whose generators round spike times to the grid.

        PyNN creates spike_generators with ``precise_times=True``: a spike time a
        rounding error above a grid point (0.1 ms steps: ``3 * 0.1 - 0.1 =
        0.20000000000000004``) is then a precise spike in the *next* step, which
        the on-grid parrot neurons forward one step late. Without
        ``precise_times`` NEST rounds times within half a tic to the grid.
        """
        pop = super().input_population(n)
        pop.node_collection_source.set(precise_times=False)
        return pop

    def synapse_type(self, synapse: dict[str, float] | None) -> Any:
        if synapse is None:
            return super().synapse_type(None)
        from ...nestmodule import SYNAPSE_MODEL

        with quiet():
            return self.sim.native_synapse_type(SYNAPSE_MODEL)(weight=0.0, delay=self.dt, **synapse)

    def read_weights(self, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
        from ...nestmodule import WeightReader

        reader = WeightReader(self._module_path)
        out = []
        for ly, shape in zip(self._layers, shapes):
            w = np.zeros(shape, dtype=np.float64)
            for prj in ly.projections:  # each projection has a synapse model of its own
                src, tgt, values = reader.read(self.nest, prj.nest_synapse_model)
                w[self._index(prj.post, tgt), self._index(prj.pre, src)] = values
            out.append(w)
        return out

    @staticmethod
    def _index(pop: Any, node_ids: np.ndarray) -> np.ndarray:
        """Indices in ``pop`` of NEST node ids (PyNN populations are contiguous id ranges:
        a subtraction; a search where one is not)."""
        first, n = int(pop.first_id), int(pop.size)
        if int(pop.last_id) - first + 1 == n:
            return node_ids - first
        return np.searchsorted(np.asarray(pop.node_collection.tolist(), dtype=np.int64), node_ids)

    def record_spikes(self, pops: list[Any], through_pynn: bool = True) -> None:
        """PyNN's recording, or one NEST ``spike_recorder`` per population read as arrays
        (PyNN's ``get_data`` builds a Neo train per neuron: seconds per run for the
        784-1200-1200-10 network)."""
        self._recorders = None
        if through_pynn:
            super().record_spikes(pops)
            return
        self._recorders = []
        for pop in pops:
            rec = self.nest.Create("spike_recorder")
            self.nest.Connect(pop.node_collection, rec)
            self._recorders.append((rec, int(pop.node_collection[0].global_id)))

    def recorded_spikes(self, index: int) -> tuple[np.ndarray, np.ndarray] | None:
        if self._recorders is None:
            return None
        rec, first = self._recorders[index]
        ev = rec.get("events")
        rec.n_events = 0
        return (np.asarray(ev["times"], dtype=np.float64),
                np.asarray(ev["senders"], dtype=np.int64) - first)

    def finalize(self, layers: list[Layer], exact: bool) -> None:
        nest = self.nest
        state = self.sim.simulator.state
        self._layers = layers
        if exact:
            # a recorder of our own, emptied after every step, tells which neurons fired
            self._det = nest.Create("spike_recorder")
            ids = [np.asarray(ly.population.node_collection.tolist(), dtype=np.int64) for ly in layers]
            for ly in layers:
                nest.Connect(ly.population.node_collection, self._det)
            self._first_id = np.array([i[0] for i in ids], dtype=np.int64)
            for i in ids:  # PyNN populations are contiguous node-id ranges
                assert np.array_equal(i, np.arange(i[0], i[0] + i.size))
        # connect parrots and recorders (PyNN does this on its first run), then mark
        # the simulation as running so PyNN does not add its extra min_delay
        state.run(0.0)
        state.running = True
        if exact:
            # connections are sorted by source when the simulation is first
            # prepared: fetch them after that, then map (post, pre) -> connection
            nest.Prepare()
            nest.Cleanup()
            self._datums = []
            for ly in layers:
                per_prj = []
                for k, prj in enumerate(ly.projections):
                    conns = nest.GetConnections(source=prj.pre.node_collection, target=prj.post.node_collection,
                                                synapse_model=prj.nest_synapse_model,
                                                synapse_label=prj.nest_synapse_label)
                    datums = list(conns._datum) if len(conns) else []
                    self._map_connections(prj, datums, ly.mask(k), ly)
                    per_prj.append(datums)
                self._datums.append(per_prj)

    def _map_connections(self, prj: Any, datums: list, mask: np.ndarray, ly: Layer) -> None:
        """Record where NEST keeps each (post, pre) pair of ``prj`` in ``ly.position``.

        Before simulating, NEST sorts every connection array by source with an
        unstable sort, so the order of the targets within one source is not the
        order they were made in (it is on large arrays, not always on small ones).
        The targets are read back once, in chunks (about 5 us per connection).
        """
        from nest.lib.hl_api_types import SynapseCollection

        n = int(mask.sum())
        if len(datums) != n:
            raise RuntimeError(f"projection {prj.label!r} has {len(datums)} connections in NEST, expected {n}")
        pre_ids = np.asarray(prj.pre.node_collection.tolist(), dtype=np.int64)
        post_ids = np.asarray(prj.post.node_collection.tolist(), dtype=np.int64)
        for a in range(0, n, self.MAP_CHUNK):
            got = SynapseCollection(datums[a:a + self.MAP_CHUNK]).get(["source", "target"])
            src = np.searchsorted(pre_ids, np.asarray(got["source"], dtype=np.int64))
            tgt = np.searchsorted(post_ids, np.asarray(got["target"], dtype=np.int64))
            if not (mask[tgt, src].all()):
                raise RuntimeError(f"NEST lists a connection of {prj.label!r} that was not made")
            ly.position[tgt, src] = np.arange(a, a + src.size)

    def get_v(self, pop: Any) -> np.ndarray:
        return np.atleast_1d(np.asarray(pop.node_collection.get("V_m"), dtype=np.float64))

    def set_v(self, pop: Any, v_native: np.ndarray) -> None:
        # PyNN's own API; works on NEST thanks to NestIFCurrDelta's variable map
        pop.initialize(v=np.asarray(v_native, dtype=np.float64))

    def fired(self) -> list[np.ndarray]:
        ev = self._det.get("events")
        senders = np.asarray(ev["senders"], dtype=np.int64)
        self._det.n_events = 0
        layer = np.searchsorted(self._first_id, senders, side="right") - 1
        return [np.sort(senders[layer == l] - self._first_id[l]) for l in range(self._first_id.size)]

    def write_connections(self, l: int, k: int, positions: np.ndarray, values_mv: np.ndarray) -> None:
        from nest.lib.hl_api_types import SynapseCollection

        datums = self._datums[l][k]
        SynapseCollection([datums[p] for p in positions.tolist()]).set(weight=values_mv.tolist())

    def version(self) -> str:
        return f"NEST {self.nest.__version__}"


__all__ = ["NestBackend"]
