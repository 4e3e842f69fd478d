"""The layout of ``snn.pynn`` (issue 8): an abstract back-end protocol, warning
filters that silence only the known noisy messages, typed errors, the registry
aliases, and the one Neo layout (:func:`snn.neo_export.spike_block`) the PyNN
engine shares with :func:`snn.neo_export.to_neo`. No simulation here: the engine's
behaviour is tested in ``tests/test_pynn_engine.py``.
"""
import warnings

import numpy as np
import pytest

import snn.pynn as pynn  # first: switches NEST's banner off before anything imports nest

import snn
from snn.errors import EngineOptionError, MissingExtraError
from snn.neo_export import spike_block, spike_records_from_neo, to_neo
from snn.pynn.backends import BACKENDS, Backend

from .conftest import random_input, random_network


def test_back_end_protocol_is_abstract():
    class Incomplete(Backend):  # no fired(), no write_connections()
        stamp_offset = 0
        v_per_mv = 1.0

        def setup(self): ...
        def finalize(self, layers, exact): ...
        def get_v(self, pop): ...
        def set_v(self, pop, v_native): ...
        def version(self): return "none"

    with pytest.raises(TypeError, match="abstract"):
        Incomplete(1.0, {})
    for name, cls in BACKENDS.items():  # the real ones are complete
        assert cls(1.0, {}).name == name


def test_quiet_ignores_only_the_listed_warnings():
    def warn(message, category, module):
        warnings.warn_explicit(message, category, "x.py", 1, module=module)

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pynn.quiet():
            warn("Cannot find nest-config, please check your PATH.", UserWarning, "pyNN.nest.simulator")
            warn("\nGetStatus() is deprecated and will be removed", UserWarning, "nest.lib.hl_api_helper")
            # same message from another module, another message, another category: all shown
            warn("Cannot find nest-config, please check your PATH.", UserWarning, "mypackage.model")
            warn("weights look odd", UserWarning, "pyNN.nest.simulator")
            warn("Cannot find nest-config", RuntimeWarning, "pyNN.nest.simulator")
            warn("'old' deprecated - use 'new'", DeprecationWarning, "mypackage")
        warn("Cannot find nest-config, please check your PATH.", UserWarning, "pyNN.nest.simulator")  # after
    shown = [(str(w.message), w.category) for w in seen]
    assert shown == [
        ("Cannot find nest-config, please check your PATH.", UserWarning),
        ("weights look odd", UserWarning),
        ("Cannot find nest-config", RuntimeWarning),
        ("'old' deprecated - use 'new'", DeprecationWarning),
        ("Cannot find nest-config, please check your PATH.", UserWarning),
    ]


def test_missing_simulator_names_the_pynn_extra():
    with pytest.raises(MissingExtraError, match=r'sleep-replay\[pynn\]') as info:
        pynn.import_quietly("pyNN.no_such_simulator")
    assert isinstance(info.value, ImportError)


def test_registry_aliases_fix_the_simulator():
    for sim in ("nest", "brian2"):
        entry = snn.ENGINES[f"pynn.{sim}"]
        assert entry.target == "snn.pynn:PyNNEngine" and dict(entry.fixed_options) == {"simulator": sim}
        assert entry.extra == "pynn"
        engine = snn.get_engine(f"pynn.{sim}")
        assert type(engine) is pynn.PyNNEngine and engine.name == f"pynn.{sim}"
    with pytest.raises(EngineOptionError, match="simulator"):
        snn.get_engine("pynn.nest", simulator="brian2")
    for bad in ({"plasticity": "stdp"}, {"codegen": "cpp_standalone"}, {"threads": 0}, {"dtype": "float32"}):
        with pytest.raises(EngineOptionError):
            snn.get_engine("pynn.brian2", **bad)


def test_spike_block_is_to_neos_layout_with_extra_annotations():
    result = snn.get_engine("fast").build(random_network()).run(random_input(steps=60))
    extra = [{"shift_ms": float(l)} for l in range(len(result.spikes))]
    block = spike_block(result.spikes, result.layer_names, result.dt_ms, engine=result.engine,
                        block_annotations={"recorded_by": "test"}, train_annotations=extra)
    ref = to_neo(result)
    assert block.annotations == {**ref.annotations, "recorded_by": "test"}
    trains, ref_trains = block.segments[0].spiketrains, ref.segments[0].spiketrains
    assert len(trains) == len(ref_trains) == sum(r.n_neurons for r in result.spikes)
    for st, rst in zip(trains, ref_trains):
        assert st.annotations == {**rst.annotations, "shift_ms": float(rst.annotations["layer_index"])}
        np.testing.assert_array_equal(st.magnitude, rst.magnitude)
    assert spike_records_from_neo(block) == dict(zip(result.layer_names, result.spikes))
    bare = spike_block(result.spikes, result.layer_names, result.dt_ms, spike_trains=False)
    assert len(bare.segments[0].spiketrains) == 0 and len(bare.groups) == 0
    assert bare.annotations["layer_sizes"] == ref.annotations["layer_sizes"]
    with pytest.raises(ValueError, match="layer names"):
        spike_block(result.spikes, result.layer_names[:-1], result.dt_ms)
