"""Sphinx configuration of the sleep-replay documentation (``make docs``).

Generated at every build, never edited by hand (and not committed): ``api/`` (the API
reference, from each public module's ``__all__``: ``_ext/apiref.py``),
``generated/cli_reference.md`` (from the real argparse parser: ``_ext/cliref.py``) and
``generated/notebooks/`` (copies of ``notebooks/*.ipynb``, executed by MyST-NB).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT))

from bridge import __version__  # noqa: E402

project = "sleep-replay"
author = "the sleep-replay developers"
copyright = "2026, the sleep-replay developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_nb",
    "apiref",
    "cliref",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "generated/cli_reference.md"]

# API reference: autodoc reads the docstrings (Google/NumPy sections through napoleon)
autosummary_generate = False          # apiref writes the stubs itself, from __all__
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options = {"exclude-members": "__init__, __new__"}
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_param = False            # "a, b: ..." and "a / b: ..." entries stay as written
napoleon_use_ivar = True             # "Attributes:" as a field list (the fields are not separate objects)
add_module_names = False

# Markdown pages (MyST) and notebooks (MyST-NB)
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
# a notebook runs again only when its code changed; SLEEP_REPLAY_NB_EXECUTION=off skips them while writing docs
nb_execution_mode = os.environ.get("SLEEP_REPLAY_NB_EXECUTION", "cache")
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

html_theme = "furo"
html_title = f"sleep-replay {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]  # notebook cells wrap long lines (_static/custom.css)
html_show_sourcelink = False


def _copy_notebooks(app) -> None:
    """``notebooks/*.ipynb`` -> ``generated/notebooks/`` (a file is rewritten only when it changed)."""
    dest = DOCS / "generated" / "notebooks"
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    for stale in dest.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for name, src in wanted.items():
        target = dest / name
        if not target.exists() or target.read_bytes() != src.read_bytes():
            shutil.copyfile(src, target)


def setup(app):
    app.connect("builder-inited", _copy_notebooks)
