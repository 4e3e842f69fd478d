"""Bridge between the awake ANN (``ann``) and the sleep engines (``snn``).

Front door::

    import bridge
    outcome = bridge.sleep(model, seen_x, bridge.preset("mnist"), engine="fast", seed=0)
    slept_model = outcome.model

Only this package knows both sides.
"""
from .version import __version__  # one version: the installed distribution's

from .convert import check_model, export_weights, import_weights, layer_output_maxima
from .normalization import data_based_normalization
from .params import INPUT_MODES, PRESETS, RULES, SleepParams, preset, read_config
from .sleep import SleepNetworkSpec, SleepOutcome, build_sleep_network, sleep
from .sleep_input import make_input_spikes, mean_image, window_pixels
from .calibration import Calibration, RateTargets, calibrate
from .replay import ReplayReport, SleepReplay

__all__ = [
    "Calibration", "RateTargets", "ReplayReport", "SleepReplay", "calibrate",
    "INPUT_MODES", "PRESETS", "RULES", "SleepNetworkSpec", "SleepOutcome", "SleepParams",
    "build_sleep_network", "check_model", "data_based_normalization", "export_weights",
    "import_weights", "layer_output_maxima", "make_input_spikes", "mean_image", "preset",
    "read_config", "sleep", "window_pixels",
]

#: the experiment harness (bridge.experiments), imported on first use
_EXPERIMENT_NAMES = ("ExperimentConfig", "MethodSpec", "PAPER_RESULTS", "PatchesConfig", "format_table",
                     "load_tasks", "parse_method", "run_cell", "run_experiment", "run_patches")
__all__ += list(_EXPERIMENT_NAMES)
#: the sleep-parameter tuner (bridge.tuning), imported on first use
_TUNING_NAMES = ("TuneConfig", "tune")
__all__ += list(_TUNING_NAMES)


def __getattr__(name: str):
    if name in _TUNING_NAMES:
        from . import tuning

        return getattr(tuning, name)
    if name in _EXPERIMENT_NAMES:
        from . import experiments

        return getattr(experiments, name)
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
