"""The Brian2 objects of one sleep network: groups, synapses, monitors, and their state.

Built from the model strings of :mod:`snn.brian2.equations`:

* layer 0: a ``SpikeGeneratorGroup`` ``input_generator`` replaying the
  :class:`~snn.spikes.InputSpikes`, relayed one-to-one (``input_relay``) into the
  ``NeuronGroup`` ``layer0`` of input neurons, so that the first layer's plasticity
  can read "did input pixel j spike in this step" (a SpikeGeneratorGroup cannot
  hold such a variable);
* layer ``l >= 1``: a ``NeuronGroup`` ``layer<l>`` with the custom operation
  ``layer<l>_integrate``, and ``Synapses`` ``synapses<l>`` (all-to-all,
  presynaptic-major: synapse ``k = i_pre * n_post + j_post``, i.e. ``W_l.T`` raveled)
  whose ``on_pre`` delivers the weights and whose ``on_post`` applies the Hebbian rule;
* the monitors of :mod:`snn.brian2.monitors`.

The objects carry fixed names so that generated code and caches are reused.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..network import SleepNetwork
from ..spikes import InputSpikes
from . import equations as eq
from .codegen import b2
from .monitors import Recording


def build_network(network: SleepNetwork, recording: Recording,
                  input_spikes: InputSpikes | None) -> tuple["b2.Network", dict[str, Any]]:
    """Create the Brian2 objects for ``network`` (state not set: see :func:`set_state`).

    ``input_spikes`` are loaded into the generator (``None``: none yet, as at a
    runtime build). Returns the ``Network`` and ``{name: objects}`` with keys
    ``clock, generator, input, input_clear, input_relay, integrate<l>, groups``
    (input first), ``synapses``, and ``spike_monitors, rate_monitors, event_monitors,
    voltage_monitors`` (``{layer index: monitor}``).
    """
    sizes = list(network.sizes)
    L = len(sizes) - 1
    dt = network.dt_ms * b2.ms
    clock = b2.Clock(dt=dt, name="sleep_clock")
    objs: dict[str, Any] = {"clock": clock}

    # layer 0: spike generator relayed into input neurons that remember the step's spikes
    if input_spikes is None or input_spikes.indices.size == 0:
        idx, times = np.zeros(0, dtype=np.int32), np.zeros(0) * b2.second
    else:
        idx = input_spikes.indices
        times = input_spikes.steps_of_spikes * float(dt) * b2.second
    slot0 = eq.slot(0)
    gen = b2.SpikeGeneratorGroup(sizes[0], idx, times, clock=clock, when=slot0,
                                 order=eq.INPUT_ORDER["generator"], sorted=True, name="input_generator")
    inp = b2.NeuronGroup(sizes[0], eq.INPUT_MODEL, threshold=eq.INPUT_THRESHOLD, reset=eq.INPUT_RESET,
                         clock=clock, name="layer0")
    inp.thresholder["spike"].when = slot0
    inp.thresholder["spike"].order = eq.INPUT_ORDER["threshold"]
    clear = inp.run_regularly(eq.INPUT_CLEAR, clock=clock, when=slot0, order=eq.INPUT_ORDER["clear"],
                              name="layer0_clear")
    relay = b2.Synapses(gen, inp, on_pre=eq.INPUT_RELAY, clock=clock, name="input_relay")
    relay.connect(j="i")
    relay.pre.when = slot0
    relay.pre.order = eq.INPUT_ORDER["relay"]
    objs.update(generator=gen, input=inp, input_clear=clear, input_relay=relay)

    groups, synapses, spike_mons, rate_mons, event_mons, v_mons = [inp], [], {}, {}, {}, {}
    order = eq.LAYER_ORDER
    float64 = {"v_th": np.float64}
    for l in range(1, L + 1):
        slot = eq.slot(l)
        recorded = recording.records_subset(l)
        g = b2.NeuronGroup(sizes[l], eq.neuron_model(recorded), threshold=eq.THRESHOLD, reset=eq.RESET,
                           events=dict(eq.RECORDED_EVENT) if recorded else None, clock=clock, dtype=float64,
                           name=f"layer{l}")
        g.thresholder["spike"].when = slot
        g.thresholder["spike"].order = order["threshold"]
        g.resetter["spike"].when = slot
        g.resetter["spike"].order = order["reset"]
        g.run_regularly(eq.CLEAR_INPUT, clock=clock, when=slot, order=order["clear"], name=f"layer{l}_clear_input")
        integ = g.run_regularly(eq.INTEGRATE, clock=clock, when=slot, order=order["integrate"],
                                name=f"layer{l}_integrate")
        s = b2.Synapses(groups[l - 1], g, model=eq.SYNAPSE_MODEL, on_pre=eq.ON_PRE, on_post=eq.ON_POST[network.rule],
                        clock=clock, name=f"synapses{l}")
        # all-to-all, presynaptic-major: synapse k = i_pre * n_post + j_post, i.e. W_l.T raveled
        s.connect()
        s.pre.when = s.post.when = slot
        s.pre.order = order["on_pre"]
        s.post.order = order["on_post"]
        record_all = recording.record_spikes and not recorded
        spike_mons[l] = b2.SpikeMonitor(g, record=record_all, when=slot, order=order["monitor"], name=f"spikes{l}")
        if not record_all:
            rm = b2.PopulationRateMonitor(g, name=f"rate{l}")
            rm.when, rm.order = slot, order["monitor"]
            rate_mons[l] = rm
        if recorded:
            # a custom event "spiked and recorded" (evaluated after the reset) feeds an
            # EventMonitor that stores the spikes of the chosen neurons only
            rec = np.zeros(sizes[l], dtype=bool)
            rec[recording.neurons[l]] = True
            g.recorded = rec
            g.thresholder["recorded_spike"].when = slot
            g.thresholder["recorded_spike"].order = order["monitor"]
            event_mons[l] = b2.EventMonitor(g, "recorded_spike", when=slot, order=order["monitor"] + 1,
                                            name=f"recorded_spikes{l}")
        if l in recording.voltages:
            v_mons[l] = b2.StateMonitor(g, "v", record=recording.voltages[l], clock=clock, when=slot,
                                        order=order["v_monitor"], name=f"voltage{l}")
        groups.append(g)
        synapses.append(s)
        objs[f"integrate{l}"] = integ
    objs.update(groups=groups, synapses=synapses, spike_monitors=spike_mons, rate_monitors=rate_mons,
                event_monitors=event_mons, voltage_monitors=v_mons)
    net = b2.Network()
    net.add(gen, relay, *groups, *synapses, *spike_mons.values(), *rate_mons.values(),
            *event_mons.values(), *v_mons.values())
    net.schedule = eq.schedule(L)
    return net, objs


def check_synapse_order(objs: dict[str, Any], sizes: Sequence[int]) -> None:
    """Raise ``RuntimeError`` unless every layer's synapses are all-to-all and
    presynaptic-major (the layout :func:`set_state` and :func:`read_weights` assume)."""
    for l, s in enumerate(objs["synapses"], start=1):
        i_pre, j_post = np.asarray(s.i[:]), np.asarray(s.j[:])
        n_pre, n_post = sizes[l - 1], sizes[l]
        expect = i_pre.astype(np.int64) * n_post + j_post
        if i_pre.size != n_pre * n_post or not np.array_equal(expect, np.arange(n_pre * n_post)):
            raise RuntimeError(f"unexpected synapse order in layer {l}: Brian2 did not create the "
                               "all-to-all synapses presynaptic-major")


def set_state(objs: dict[str, Any], network: SleepNetwork, weights: Sequence[np.ndarray],
              potentials: Sequence[np.ndarray]) -> None:
    """Runtime mode: write parameters, ``(n_l, n_{l-1})`` weights and ``(n_l,)``
    potentials (layers ``1..L``) into the Brian2 objects."""
    check_synapse_order(objs, network.sizes)
    for l, (g, s) in enumerate(zip(objs["groups"][1:], objs["synapses"]), start=1):
        g.alpha = network.alpha[l - 1]
        g.decay = network.decay
        g.v_th = network.threshold[l - 1]
        g.v = potentials[l - 1]
        s.inc, s.dec = network.amplitudes(l - 1)
        s.w = weights[l - 1].T.ravel()


def state_run_args(objs: dict[str, Any], network: SleepNetwork, weights: Sequence[np.ndarray],
                   potentials: Sequence[np.ndarray]) -> dict[Any, Any]:
    """cpp_standalone: the same state as :func:`set_state`, as ``run_args`` of the
    binary (so that the generated code does not depend on it)."""
    run_args: dict[Any, Any] = {}
    for l, (g, s) in enumerate(zip(objs["groups"][1:], objs["synapses"]), start=1):
        run_args[g.alpha] = float(network.alpha[l - 1])
        run_args[g.decay] = float(network.decay)
        run_args[g.v_th] = float(network.threshold[l - 1])
        run_args[g.v] = potentials[l - 1]
        inc, dec = network.amplitudes(l - 1)
        run_args[s.inc] = float(inc)
        run_args[s.dec] = float(dec)
        run_args[s.w] = np.ascontiguousarray(weights[l - 1].T).ravel()
    return run_args


def read_weights(objs: dict[str, Any], sizes: Sequence[int], dtype: np.dtype) -> list[np.ndarray]:
    """The synapses' weights, one ``(n_l, n_{l-1})`` array per layer (copies)."""
    return [np.asarray(s.w[:], dtype=dtype).reshape(sizes[l - 1], sizes[l]).T.copy()
            for l, s in enumerate(objs["synapses"], start=1)]


def read_potentials(objs: dict[str, Any], dtype: np.dtype) -> list[np.ndarray]:
    """The membrane potentials, one ``(n_l,)`` array per layer ``1..L`` (copies)."""
    return [np.asarray(g.v[:], dtype=dtype).copy() for g in objs["groups"][1:]]


__all__ = ["build_network", "check_synapse_order", "read_potentials", "read_weights", "set_state", "state_run_args"]
