"""Sleep analyses that need both sides: the paper's Figs 4-6 and the reference
code's analysis utilities (SRC_SPEC.md section 7). See docs/analysis.md.

* :mod:`.reactivation`: selective units' sleep firing vs random subsets (Mann-Whitney U,
  Bonferroni), class reactivation r.
* :mod:`.drive`: input drive to each task's units before vs after sleep.
* :mod:`.weights`: weight-change statistics and histograms.
* :mod:`.plots`: plot helpers (raster, population rate, correlation matrices, ...).
* :mod:`.run`: the analysis of a finished run (:func:`analyze_run`);
  :mod:`.command`: ``sleep-replay analyze``.

Wake-side measures are in :mod:`ann.representations`, sleep-side activity in
:mod:`snn.activity`.
"""
from .drive import old_vs_newest, task_unit_drive
from .plots import (
    plot_before_after, plot_correlation_matrices, plot_kernels, plot_population_rate, plot_raster,
    plot_reactivation, plot_weight_change, save_figure, significance_mark,
)
from .reactivation import bonferroni, class_reactivation, selective_reactivation
from .run import MEASURES, SCHEMA_VERSION, analyze_run, analyze_sleep, load_model, open_run
from .weights import weight_change

__all__ = [
    "MEASURES", "SCHEMA_VERSION", "analyze_run", "analyze_sleep", "bonferroni", "class_reactivation", "load_model",
    "old_vs_newest", "open_run", "plot_before_after", "plot_correlation_matrices", "plot_kernels",
    "plot_population_rate",
    "plot_raster", "plot_reactivation", "plot_weight_change", "save_figure", "selective_reactivation",
    "significance_mark", "task_unit_drive", "weight_change",
]
