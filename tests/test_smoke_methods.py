"""Every method of the harness on a small configuration: learning must happen."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "smoke.toml"


@pytest.mark.slow
def test_every_method_learns(tmp_path):
    """Slow (~30 CPU-s): ten methods, each trained and evaluated on three tasks."""
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", str(CONFIG), "--out", str(tmp_path),
                           "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    methods = json.loads((tmp_path / "summary.json").read_text())["methods"]
    assert len(methods) == 10
    final = {m: r["final_accuracy"]["mean"] for m, r in methods.items()}
    for m, r in methods.items():
        if m != "parallel":
            assert r["new_task_accuracy_min"] >= 70, (m, r["new_task_accuracy_min"])  # each task is learned
    chance = 100 / 6
    assert final["parallel"] >= 85
    assert final["sequential"] < 40 and methods["sequential"]["forgetting"]["mean"] > 80
    for m in ("rehearsal", "rehearsal+src", "icarl", "icarl+src"):  # memory-based methods keep old classes
        assert final[m] > final["sequential"] + 10, (m, final)
    assert all(v > chance - 5 for v in final.values()), final
    table = (tmp_path / "summary.md").read_text()
    assert "| icarl+src |" in table and "| parallel |" in table
