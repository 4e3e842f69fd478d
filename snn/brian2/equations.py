"""The SRC sleep network as Brian2 model strings, next to the paper's math.

SRC_SPEC.md section 4, one sleep step (``l`` = layer, ``i`` = postsynaptic,
``j`` = presynaptic neuron)::

    v_l  = decay * v_l + alpha_l * (W_l @ s_{l-1})        decay = exp(-dt / tau_m)
    s_l  = v_l >= threshold * beta_l
    W_l[i, j] += inc * f(W_l[i, j])   if s_l[i] and s_{l-1}[j]
    W_l[i, j] -= dec * f(W_l[i, j])   if s_l[i] and not s_{l-1}[j]
    v_l[s_l] = 0

with ``f(w) = 2 * (1 - 1 / (1 + exp(-w / 0.001)))`` (rule ``"reference"``) or
``f = 1`` (rule ``"plain"``, the paper's Algorithm 1).

Which string implements which term:

============================================  =====================================
paper                                         Brian2
============================================  =====================================
``W_l @ s_{l-1}`` (summed per step)           :data:`ON_PRE` into ``I_syn``
``v_l = decay * v_l + alpha_l * I_syn``       :data:`INTEGRATE` (custom operation)
``s_l = v_l >= threshold * beta_l``           :data:`THRESHOLD` (``v_th``)
Hebbian update of the rows that fired         :data:`ON_POST` ``[rule]``
``v_l[s_l] = 0``                              :data:`RESET`
============================================  =====================================

Arithmetic is kept identical to :mod:`snn.fast` so that spikes match exactly:
``on_pre`` adds ``w`` into ``I_syn`` (summed in the same presynaptic order as the
fast engine) and the custom operation applies ``alpha`` once (delivering
``alpha * w`` per spike would round differently).

Every quantity is dimensionless (the ANN's activation scale; read ``v`` as mV):
Brian2 units (volt) would store ``v * 1e-3`` and change the rounding.

Schedule of one step: the network schedule is
``[..., "layer0", "layer1", ..., "layerL", "end"]`` (:func:`schedule`); every object
sits in its layer's slot, ordered by :data:`INPUT_ORDER` / :data:`LAYER_ORDER`, so
layer ``l`` sees layer ``l - 1``'s spikes of the same step, as in the reference::

    slot layer0 (input)   0 clear flags   1 SpikeGeneratorGroup   2 relay on_pre
                          3 threshold (spiked)
    slot layer<l>, l>=1   -1 clear (I_syn = 0)   0 on_pre (I_syn += w)   1 integrate (v = decay v + alpha I_syn)
                          2 voltage monitor   3 threshold   4 on_post (Hebbian rule)
                          5 reset (v = 0, spiked = True)   6 spike monitors
"""
from __future__ import annotations

#: state of the input neurons (layer 0), set by the relay from the SpikeGeneratorGroup
INPUT_MODEL = """
spiked : boolean    # s_0[j]: input pixel j spiked in this step
"""
#: the input neurons fire when the relay set their flag ...
INPUT_THRESHOLD = "spiked"
#: ... and keep it until the next step's clear (read by layer 1's plasticity)
INPUT_RESET = ""
#: custom operation at the start of every step
INPUT_CLEAR = "spiked = False"
#: relay pathway SpikeGeneratorGroup -> input neurons (one to one)
INPUT_RELAY = "spiked_post = True"

#: state of the neurons of layer l >= 1
NEURON_MODEL = """
v : 1                          # membrane potential v_l (dimensionless, read as mV)
I_syn : 1                      # (W_l @ s_{l-1})[i]: weights delivered by this step's presynaptic spikes
spiked : boolean               # s_l[i]: fired in this step (read by layer l+1's plasticity)
alpha : 1 (shared, constant)   # alpha_l: synaptic scale (data-based normalization)
decay : 1 (shared, constant)   # leak per step, exp(-dt / tau_m)
v_th : 1 (shared, constant)    # firing threshold, threshold * beta_l
"""
#: extra neuron state when only a subset of a layer's spike trains is recorded
RECORDED_FLAG = "recorded : boolean (constant)  # spike train is recorded\n"
#: custom event feeding the EventMonitor of a recorded subset (evaluated after the reset;
#: pass a copy: Brian2 adds its "spike" event to the dict it is given)
RECORDED_EVENT = {"recorded_spike": "spiked and recorded"}

#: custom operation at the start of layer l's slot: forget the previous step's input
#: (cleared here, not after integrating, so a monitor of ``I_syn`` later in the slot
#: reads this step's input drive)
CLEAR_INPUT = "I_syn = 0"
#: custom operation of every step: leak and integrate the delivered input
INTEGRATE = """
v = decay * v + alpha * I_syn
spiked = False
"""
#: s_l = v_l >= threshold * beta_l
THRESHOLD = "v >= v_th"
#: v_l[s_l] = 0, and remember the spike for the next layer's plasticity
RESET = """
v = 0
spiked = True
"""

#: synaptic state: one synapse per (post i, pre j) pair
SYNAPSE_MODEL = """
w : 1                          # W_l[i, j]
inc : 1 (shared, constant)     # potentiation amplitude
dec : 1 (shared, constant)     # depression amplitude
"""
#: presynaptic spike: deliver the weight (alpha_l is applied in INTEGRATE)
ON_PRE = "I_syn_post += w"
#: postsynaptic spike: SRC Hebbian rule, f(w) = 2 * (1 - 1 / (1 + exp(-w / 0.001)))
ON_POST = {
    "reference": """
f_w = 2 * (1 - 1 / (1 + exp(-w / 0.001)))
w += int(spiked_pre) * inc * f_w - int(not spiked_pre) * dec * f_w
""",
    "plain": """
w += int(spiked_pre) * inc - int(not spiked_pre) * dec
""",
}

#: order of the objects inside the schedule slot of layer l >= 1
LAYER_ORDER = {"clear": -1, "on_pre": 0, "integrate": 1, "v_monitor": 2, "threshold": 3, "on_post": 4, "reset": 5, "monitor": 6}
#: order of the objects inside the schedule slot of the input layer
INPUT_ORDER = {"clear": 0, "generator": 1, "relay": 2, "threshold": 3}


def slot(layer: int) -> str:
    """Name of layer ``layer``'s schedule slot (``"layer<l>"``); use it as ``when=``
    to add your own monitor to a layer."""
    return f"layer{layer}"


def schedule(n_layers: int) -> list[str]:
    """The network schedule for input + ``n_layers`` layers: Brian2's standard slots,
    then one slot per layer in order, then ``"end"``."""
    return ["start", "groups", "thresholds", "synapses", "resets", *(slot(l) for l in range(n_layers + 1)), "end"]


def neuron_model(recorded: bool) -> str:
    """:data:`NEURON_MODEL`, plus the ``recorded`` flag when only a subset of the
    layer's spike trains is recorded."""
    return NEURON_MODEL + (RECORDED_FLAG if recorded else "")


__all__ = [
    "INPUT_CLEAR", "INPUT_MODEL", "INPUT_ORDER", "INPUT_RELAY", "INPUT_RESET", "INPUT_THRESHOLD", "INTEGRATE",
    "LAYER_ORDER", "NEURON_MODEL", "ON_POST", "ON_PRE", "RECORDED_EVENT", "RECORDED_FLAG", "RESET",
    "SYNAPSE_MODEL", "THRESHOLD", "neuron_model", "schedule", "slot",
]
