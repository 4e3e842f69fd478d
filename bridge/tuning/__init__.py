"""Sleep-parameter search (the paper's genetic algorithm as an Optuna study).

``tune(config)`` / ``sleep-replay tune CONFIG`` search the fields of
:class:`~bridge.params.SleepParams` named in a config's ``[tune.space]`` on a
validation split carved from the training data (never the test set), with an
Optuna sampler (NSGA-II, TPE, CMA-ES or random), trials run serially or on
Dask workers, the study kept in Optuna storage so a search resumes, and the
best parameters written as a preset file that ``run`` configs can name
(``[sleep] preset = "preset.toml"``). See docs/tuning.md.

Modules, one job each:

* :mod:`.space`: the ``[tune.space]`` table -> Optuna distributions, checked.
* :mod:`.config`: the :class:`TuneConfig` schema (a run config plus ``[tune]``).
* :mod:`.objective`: the validation split and a trial's value.
* :mod:`.study`: storage, sampler, resume, the ask-and-tell loop.
* :mod:`.preset_file`: best parameters as a TOML preset with provenance.
* :mod:`.plots`: search history and parameter importances.
* :mod:`.tuner`: :func:`tune`, tying them together. :mod:`.command`: the CLI.
* :mod:`.rescoring`: :func:`rescore`, a finished search's best trials on other seeds or splits
  (:mod:`.rescore_command`: ``sleep-replay rescore``).
"""
from .config import SAMPLERS, TuneConfig
from .objective import ValidationData, trial_value, validation_tasks
from .plots import history, importances, plot_search
from .preset_file import PRESET_FILE, read_preset_file, write_preset_file
from .rescoring import RescoreResult, rescore
from .space import SearchSpace, parse_space, tunable_fields
from .study import done_trials, open_storage, open_study
from .tuner import TuneResult, tune

__all__ = [
    "PRESET_FILE", "RescoreResult", "SAMPLERS", "SearchSpace", "TuneConfig", "TuneResult", "ValidationData",
    "done_trials", "history", "importances", "open_storage", "open_study", "parse_space", "plot_search",
    "read_preset_file", "rescore", "trial_value", "tunable_fields", "tune", "validation_tasks", "write_preset_file",
]
