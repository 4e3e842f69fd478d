"""The reference traces in ../shared/golden, through the Python API and the CLI.

Every engine replaying the traces through ``check_trace`` is part of the engine
contract (``test_engine_contract.py``); here: the front door, the CLI and the
trace file checks.
"""
import subprocess
import sys

import numpy as np
import pytest

import bridge
from ann import SleepMLP
from bridge.conformance import check_trace, load_trace, params_from_trace

from ._experiment_fixtures import run_cli
from .conftest import GOLDEN_FILES


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_golden_python_api(golden_dir, name, dtype):
    d = load_trace(golden_dir / name)
    model = SleepMLP.from_weights([d["w1_trained"], d["w2_trained"], d["w3_trained"]])
    outcome = bridge.sleep(model, d["x_seen"] / 255.0, params_from_trace(d), steps=int(d["steps"]),
                           engine="fast", dtype=dtype, uniforms=d["uniforms"], windows=d["window"])
    np.testing.assert_allclose(outcome.spec.norm_constants, d["expected_norm_constants"], rtol=1e-5, atol=0)
    np.testing.assert_allclose(outcome.spec.network.alpha, d["expected_alpha"], rtol=1e-5, atol=0)
    np.testing.assert_allclose(outcome.spec.mean_image, d["expected_mean_image"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(outcome.result.counts, d["expected_counts"])
    for l in range(3):
        slept = outcome.model.linears[l].weight.detach().numpy()  # imported back into PyTorch
        assert np.abs(slept - d[f"expected_w{l + 1}"]).max() <= 1e-6
        assert np.abs(outcome.result.weights[l] - d[f"expected_w{l + 1}"]).max() <= 1e-6
    # the trained model the user passed in is untouched
    np.testing.assert_array_equal(model.linears[0].weight.detach().numpy(), d["w1_trained"])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_golden_cli(golden_dir, name, dtype):
    proc = run_cli("conformance", golden_dir / name, "--engine", "fast", "--dtype", dtype)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout and "steps/s" in proc.stdout


def test_conformance_detects_a_wrong_trace(golden_dir, tmp_path):
    """A trace whose expectations were altered must fail (the check can fail)."""
    d = dict(np.load(golden_dir / GOLDEN_FILES[0]))
    d["expected_counts"] = d["expected_counts"].copy()
    d["expected_counts"][5, 1] += 1
    d["expected_w2"] = d["expected_w2"] + np.float32(1e-5)
    path = tmp_path / "altered.npz"
    np.savez(path, **d)
    report = check_trace(path)
    assert not report.passed and report.mismatched_steps == 1
    proc = run_cli("conformance", path)
    assert proc.returncode == 1 and "FAIL" in proc.stdout


@pytest.mark.slow
def test_conformance_exit_status_through_the_entry_point(golden_dir, tmp_path):
    """The one real process of this file (~8 CPU-s, mostly imports): a FAIL exits 1."""
    d = dict(np.load(golden_dir / GOLDEN_FILES[0]))
    d["expected_counts"] = d["expected_counts"].copy()
    d["expected_counts"][5, 1] += 1
    np.savez(tmp_path / "altered.npz", **d)
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "conformance", str(tmp_path / "altered.npz")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "FAIL" in proc.stdout


@pytest.mark.parametrize("content, message", [
    (b"not a zip archive", "not a readable .npz"),
    (None, "missing key"),
])
def test_malformed_trace_is_rejected(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    if content is None:
        np.savez(path, sizes=np.array([4, 3, 2]))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_trace(path)
    proc = run_cli("conformance", path)
    assert proc.returncode == 2 and message in proc.stderr


def test_trace_with_wrong_shapes_is_rejected(golden_dir, tmp_path):
    d = dict(np.load(golden_dir / GOLDEN_FILES[0]))
    d["uniforms"] = d["uniforms"][:, :100]
    np.savez(tmp_path / "shape.npz", **d)
    with pytest.raises(ValueError, match="uniforms has shape"):
        load_trace(tmp_path / "shape.npz")


def test_missing_trace_file(tmp_path):
    proc = run_cli("conformance", tmp_path / "nope.npz")
    assert proc.returncode == 2 and "does not exist" in proc.stderr
