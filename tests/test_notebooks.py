"""Every notebook in notebooks/ executes without error (so none can rot).

The notebooks run in the slow tier, in smoke mode: ``SLEEP_REPLAY_NOTEBOOK_SMOKE=1`` makes a notebook that
reads it train less (same code, same cells, same assertions), and the kernel uses one torch thread (the
suite runs on 2 pytest-xdist workers on 2 cores). The documentation build (``make docs``, MyST-NB) and a
reader run the full notebooks.
"""
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SMOKE_ENV = "SLEEP_REPLAY_NOTEBOOK_SMOKE"


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_smoke_switch_is_the_one_the_test_sets(path):
    """A notebook with a SMOKE switch reads the variable this test sets (a misspelt one would run in full)."""
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    if "SMOKE" in code:
        assert re.search(rf"""^SMOKE = os\.environ\.get\(["']{SMOKE_ENV}["']\) == ["']1["']$""", code, re.M), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv(SMOKE_ENV, "1")  # the kernel inherits this process's environment
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
