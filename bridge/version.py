"""The package version: one source, the installed distribution's (pyproject.toml).

A leaf module (imports nothing of the package), so any module can import it
without an import cycle through ``bridge/__init__.py``.
"""
from importlib.metadata import PackageNotFoundError, version as _dist_version

try:
    __version__ = _dist_version("sleep-replay")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
