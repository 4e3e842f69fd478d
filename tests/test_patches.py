"""The toy patches task: forgetting grows with overlap; sleep recovers task 1."""
import json

import numpy as np
import pytest

from ann.patches import make_patches, patches_tasks

from ._experiment_fixtures import run_cli


def test_patch_images():
    imgs = make_patches(overlap=5, width=10, seed=0)
    assert imgs.shape == (4, 100) and set(np.unique(imgs)) == {0.0, 1.0}
    assert (imgs.sum(1) == 16).all()  # width * width // 6 active pixels
    shared = imgs.prod(0)
    assert shared.sum() == 5  # overlap pixels shared by all images
    assert ((imgs - shared).sum(0) <= 1).all()  # the rest is unique to one image
    tasks = patches_tasks(imgs)
    assert [t.classes for t in tasks] == [(0, 1), (2, 3)]
    with pytest.raises(ValueError, match="overlap must be in"):
        make_patches(overlap=16)


@pytest.mark.slow
def test_patches_sweep_sleep_recovers_task1(tmp_path):
    (tmp_path / "p.toml").write_text("""
[patches]
overlaps = [3, 13]
trials = 2
""")
    proc = run_cli("run", tmp_path / "p.toml", "--out", tmp_path / "o", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rows = {r["overlap"]: r for r in json.loads((tmp_path / "o" / "summary.json").read_text())["rows"]}
    assert rows[3]["task1_after_task1"] == 100 and rows[13]["task1_after_task1"] == 100
    assert rows[3]["task1_after_task2"] == 100  # little overlap: no forgetting
    assert rows[13]["task1_after_task2"] == 0  # large overlap: task 1 forgotten
    assert rows[13]["task1_after_sleep"] == 100 and rows[13]["task2_after_sleep"] == 100  # sleep recovers it
    assert (tmp_path / "o" / "patches_overlap.png").is_file()


def test_bad_patches_config(tmp_path):
    (tmp_path / "p.toml").write_text("[patches]\noverlaps = [40]\n")
    proc = run_cli("run", tmp_path / "p.toml", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "overlap must be in" in proc.stderr
