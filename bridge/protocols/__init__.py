"""The lab's follow-up protocols of SRC, run by ``sleep-replay run CONFIG`` (docs/protocols.md).

* robustness (Tadros et al., ICLR 2020): train on clean data, sleep, test under
  Gaussian noise, salt-and-pepper and blur; baseline vs SRC vs fine-tuning on
  distorted data;
* limited data (A. Bazhenov et al. 2024, arXiv 2402.10956): train on a few percent
  of the training set; accuracy before sleep, after sleep, after sleep + fine-tuning.

The sleep of every cell is chosen among the config's candidates on a validation
split carved from the training data; the test split is read only after that choice.

Modules, one job each: :mod:`.config` (schema and checks), :mod:`.common` (split,
train, sleep, choose the sleep), :mod:`.robustness` and :mod:`.limited_data` (one
cell each, and their summaries), :mod:`.runner` (the results folder, serial or
Dask), :mod:`.reporting` (tables and figures).
"""
from .config import (DEFAULT_CORRUPTIONS, DEFAULT_PERCENTS, PROTOCOLS, LimitedDataOptions, ProtocolConfig,
                     RobustnessOptions, is_protocol_config)
from .runner import cell_model_dir, cell_path, run_protocol, run_protocol_cell

__all__ = [
    "DEFAULT_CORRUPTIONS", "DEFAULT_PERCENTS", "PROTOCOLS", "LimitedDataOptions", "ProtocolConfig",
    "RobustnessOptions", "cell_model_dir", "cell_path", "is_protocol_config", "run_protocol", "run_protocol_cell",
]
