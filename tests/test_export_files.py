"""snn.export.files: portable HDF5 files for networks, input spikes and results."""
import os
import stat

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snn
from snn.errors import OutputExistsError, SpikeFileError
from snn.export import files as sf

from .conftest import random_input, random_network


def run_fast(network, spikes):
    return snn.get_engine("fast").build(network).run(spikes)


def test_network_round_trip_gives_same_spikes(tmp_path):
    net = random_network()
    net.layer_names = ["pixels", "h1", "h2", "classes"]
    path = sf.save_network(tmp_path / "net.h5", net)
    loaded = sf.load_network(path)
    for name in ("decay", "inc", "dec", "rule", "dt_ms", "layer_names"):
        assert getattr(loaded, name) == getattr(net, name), name
    assert np.array_equal(loaded.alpha, net.alpha) and np.array_equal(loaded.threshold, net.threshold)
    for a, b in zip(loaded.weights, net.weights):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    spikes = random_input()
    ra, rb = run_fast(net.copy(), spikes), run_fast(loaded, spikes)
    assert ra.spikes[1].indices.size > 0
    assert all(x == y for x, y in zip(ra.spikes, rb.spikes))
    assert all(np.array_equal(x, y) for x, y in zip(ra.weights, rb.weights))


def test_float32_weights_keep_their_dtype(tmp_path):
    net = random_network()
    net.weights = [w.astype(np.float32) for w in net.weights]
    loaded = sf.load_network(sf.save_network(tmp_path / "n32.h5", net))
    assert all(w.dtype == np.float32 for w in loaded.weights)


def test_spikes_and_result_round_trip(tmp_path):
    spikes = random_input()
    assert sf.load_spikes(sf.save_spikes(tmp_path / "in.h5", spikes)) == spikes
    result = run_fast(random_network(), spikes)
    back = sf.load_result(sf.save_result(tmp_path / "res.h5", result))
    assert back.engine == "fast" and back.layer_names == result.layer_names and back.dt_ms == result.dt_ms
    assert np.array_equal(back.counts, result.counts)
    assert all(x == y for x, y in zip(back.spikes, result.spikes))
    assert all(np.array_equal(x, y) for x, y in zip(back.totals, result.totals))
    assert all(np.array_equal(x, y) for x, y in zip(back.weights, result.weights))
    assert back.timing == pytest.approx(result.timing)


def test_result_without_spikes(tmp_path):
    result = snn.get_engine("fast", record_spikes=False).build(random_network()).run(random_input(steps=50))
    back = sf.load_result(sf.save_result(tmp_path / "r.h5", result))
    assert back.spikes is None and np.array_equal(back.counts, result.counts)


def test_layout_is_plain_hdf5(tmp_path):
    """Readable without this package: the documented datasets and attributes."""
    net = random_network()
    sf.save_network(tmp_path / "net.h5", net)
    with h5py.File(tmp_path / "net.h5", "r") as f:
        assert f.attrs["format"] == "sleep-replay" and int(f.attrs["format_version"]) == sf.FORMAT_VERSION
        assert f.attrs["kind"] == "network"
        g = f["network"]
        assert list(g["sizes"][()]) == net.sizes
        assert np.array_equal(g["weights/1"][()], net.weights[1])
        assert float(g.attrs["decay"]) == net.decay


def test_no_silent_overwrite_and_atomic_normal_permissions(tmp_path):
    path = sf.save_spikes(tmp_path / "in.h5", random_input(steps=10))
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        sf.save_spikes(path, random_input(steps=20))
    assert path.read_bytes() == before
    sf.save_spikes(path, random_input(steps=20), overwrite=True)
    assert sf.load_spikes(path).steps == 20
    assert [p.name for p in tmp_path.iterdir()] == ["in.h5"]  # no temporary file left
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_failed_write_leaves_no_file(tmp_path):
    class Boom(snn.SpikeRecord):
        @property
        def steps(self):
            raise RuntimeError("boom")

    r = random_input(steps=5)
    with pytest.raises(RuntimeError):
        sf.save_spikes(tmp_path / "x.h5", Boom(r.n_neurons, r.indptr, r.indices))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- bad files
def test_truncated_file(tmp_path):
    path = sf.save_network(tmp_path / "net.h5", random_network())
    data = path.read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SpikeFileError, match="truncated"):
        sf.load_network(bad)


def test_wrong_version(tmp_path):
    path = sf.save_spikes(tmp_path / "in.h5", random_input(steps=10))
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(SpikeFileError, match="format_version 99"):
        sf.load_spikes(path)


def test_not_a_sleep_network_file(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(SpikeFileError, match="not a readable HDF5"):
        sf.load_network(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(SpikeFileError, match="not a sleep-replay file"):
        sf.load_network(other)
    with pytest.raises(SpikeFileError, match="no such file"):
        sf.load_network(tmp_path / "missing.h5")


def test_wrong_kind(tmp_path):
    path = sf.save_spikes(tmp_path / "in.h5", random_input(steps=10))
    with pytest.raises(SpikeFileError, match="holds a 'spikes', not a 'network'"):
        sf.load_network(path)


def test_wrong_shapes(tmp_path):
    net = random_network()
    path = sf.save_network(tmp_path / "net.h5", net)
    with h5py.File(path, "r+") as f:
        del f["network/weights/1"]
        f["network/weights/1"] = np.zeros((3, 3))
    with pytest.raises(SpikeFileError, match=r"weights/1 has shape \(3, 3\), expected \(15, 20\)"):
        sf.load_network(path)
    path = sf.save_network(tmp_path / "net2.h5", net)
    with h5py.File(path, "r+") as f:
        del f["network/threshold"]
        f["network/threshold"] = np.ones(2)
    with pytest.raises(SpikeFileError, match="threshold has shape"):
        sf.load_network(path)
    spikes = sf.save_spikes(tmp_path / "in.h5", random_input(steps=10))
    with h5py.File(spikes, "r+") as f:
        del f["spikes/indices"]
        f["spikes/indices"] = np.zeros(3, dtype=np.int32)
    with pytest.raises(SpikeFileError, match="indptr ends at"):
        sf.load_spikes(spikes)


def test_missing_member_and_bad_values(tmp_path):
    path = sf.save_network(tmp_path / "net.h5", random_network())
    with h5py.File(path, "r+") as f:
        f["network"].attrs["decay"] = 1.5
    with pytest.raises(SpikeFileError, match="decay must be in"):
        sf.load_network(path)
    path = sf.save_network(tmp_path / "net2.h5", random_network())
    with h5py.File(path, "r+") as f:
        del f["network/alpha"]
    with pytest.raises(SpikeFileError, match="alpha is missing"):
        sf.load_network(path)


def test_wrong_object_type(tmp_path):
    with pytest.raises(TypeError, match="needs a SleepNetwork"):
        sf.save_network(tmp_path / "x.h5", {"weights": []})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 40), steps=st.integers(0, 60), p=st.floats(0.0, 1.0), seed=st.integers(0, 2**31))
def test_any_spike_record_round_trips(tmp_path, n, steps, p, seed):
    raster = np.random.default_rng(seed).random((steps, n)) < p
    record = snn.SpikeRecord.from_dense(raster)
    path = sf.save_spikes(tmp_path / f"r{seed}_{n}_{steps}.h5", record, overwrite=True)
    back = sf.load_spikes(path)
    assert back == record and back.steps == steps and back.n_neurons == n
