"""Optional dependencies: which ``pip`` extra brings which module, and the one import
helper that turns a missing one into :class:`~snn.errors.MissingExtraError`.

The core install (``pip install sleep-replay``) is what :func:`bridge.sleep`,
:class:`bridge.SleepReplay`, the ``fast`` and ``dense`` engines and ``sleep-replay run``
need. Everything else is an extra, imported only by the module or function that uses
it, through :func:`require`::

    optuna = require("optuna")            # in a module that cannot work without it
    h5py = require("h5py", what="HDF5 export")

An absent module then raises ``MissingExtraError: the 'export' extra is needed for HDF5
export (h5py is not installed): pip install "sleep-replay[export]"``, an ``ImportError``.
``pyproject.toml``'s ``[project.optional-dependencies]`` must bring every module of
:data:`EXTRA_OF` in the extra named here (``tests/test_core_install.py`` checks it).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

#: top-level module -> the extra that installs it
EXTRA_OF: dict[str, str] = {
    # parameter search (bridge.tuning, sleep-replay tune / rescore)
    "optuna": "tune", "cmaes": "tune", "tomli_w": "tune",
    # Dask workers and schedulers (--workers, --scheduler), SLURM clusters
    "dask": "dask", "distributed": "dask", "dask_jobqueue": "slurm",
    # Neo spike data and files; statistics of the analyses (sleep-replay analyze), Elephant
    "neo": "neo", "quantities": "neo", "nixio": "neo",
    "scipy": "analysis", "elephant": "analysis",
    # portable files and NIR graphs (snn.export)
    "h5py": "export", "nir": "export",
    # simulators
    "brian2": "brian2", "pyNN": "pynn", "nest": "pynn",
    # checking an exported NIR graph in snnTorch (bridge.nir_check)
    "snntorch": "test", "nirtorch": "test",
}


def pip_command(extra: str) -> str:
    """The command that installs ``extra``."""
    return f'pip install "sleep-replay[{extra}]"'


def require(module: str, extra: str | None = None, *, what: str | None = None) -> ModuleType:
    """Import ``module`` (a dotted name such as ``"optuna.trial"`` is fine) or raise
    :class:`~snn.errors.MissingExtraError` naming the extra and its ``pip`` command.

    extra: the extra that brings it; default :data:`EXTRA_OF` of its top-level name.
    what: what needs it, for the message (default: the module's name).
    """
    top = module.split(".")[0]
    if extra is None:
        extra = EXTRA_OF[top]
    try:
        return importlib.import_module(module)
    except MissingExtraError:
        raise
    except ImportError as exc:
        missing = exc.name or top
        if what is None:
            message = f"{missing} is not installed; it comes with the {extra!r} extra: {pip_command(extra)}"
        else:
            message = f"the {extra!r} extra is needed for {what} ({missing} is not installed): {pip_command(extra)}"
        raise MissingExtraError(message) from exc


__all__ = ["EXTRA_OF", "pip_command", "require"]
