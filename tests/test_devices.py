"""Training device: CPU by default and recorded; a CUDA device this machine lacks is
refused before any work, naming the field; the device is part of the fingerprint, so
CPU and GPU cells never share a results folder."""
import copy
import subprocess
import sys

import pytest
import torch

from ann import SleepMLP
from ann.devices import device_name, model_device, resolve_device
from ann.errors import TrainingConfigError
from bridge.errors import ConfigError
from bridge.experiments import ExperimentConfig, run_cell

SMALL = {"experiment": {"sizes": [784, 32, 10], "seeds": [0], "class_groups": [[0, 1], [2, 3]],
                        "max_train_per_task": 100, "init_range": 0.1, "updates_per_task": 10,
                        "methods": ["src"]},
         "sleep": {"preset": "mnist", "beta": [14.548273, 44.560317], "steps_first": 100, "steps_per_task": 50}}


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert model_device(SleepMLP([4, 3, 2])) == torch.device("cpu")
    assert device_name(torch.device("cpu")) == "cpu"
    for bad in ("tpu", "gpu0", 3):
        with pytest.raises(TrainingConfigError, match="device must be"):
            resolve_device(bad)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_gpu_is_refused_before_work():
    with pytest.raises(ConfigError, match=r"experiment\.device: .*no CUDA GPU"):
        ExperimentConfig.from_dict({**SMALL, "experiment": {**SMALL["experiment"], "device": "cuda"}})
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", "--device", "cuda", "--out", "unused",
                           "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 2 and "experiment.device" in proc.stderr and "Traceback" not in proc.stderr


def test_cell_records_its_device_and_device_changes_the_fingerprint():
    cfg = ExperimentConfig.from_dict(SMALL)
    rec = run_cell(cfg, "src", 0)
    assert rec["device"] == "cpu"
    gpu = copy.copy(cfg)
    gpu.device = "cuda:0"  # (not validated here: fingerprint only)
    assert gpu.fingerprint() != cfg.fingerprint()
    assert cfg.to_dict()["device"] == "cpu"
