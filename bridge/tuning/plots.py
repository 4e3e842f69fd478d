"""Figures of a search: value of every trial with the best so far, and parameter
importances (``optuna.importance.get_param_importances``, PED-ANOVA by default)."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from snn.extras import require

from ..experiments.results_io import atomic_write

optuna = require("optuna")
TrialState = require("optuna.trial").TrialState

logger = logging.getLogger(__name__)

HISTORY_PNG = "tuning_history.png"
#: fewer complete trials than this give no importances (they would be noise)
MIN_TRIALS_FOR_IMPORTANCE = 10


def history(study: optuna.Study) -> dict[str, list[float]]:
    """Trial numbers, values and best value so far of the complete trials, in trial order."""
    trials = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    values = [float(t.value) for t in trials]
    return {"number": [t.number for t in trials], "value": values,
            "best_so_far": np.maximum.accumulate(values).tolist() if values else []}


def importances(study: optuna.Study) -> dict[str, float]:
    """Normalised importance of each searched parameter for the validation accuracy;
    empty when there are too few complete trials to tell (fewer than
    :data:`MIN_TRIALS_FOR_IMPORTANCE`, or Optuna says so; logged)."""
    n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if n < MIN_TRIALS_FOR_IMPORTANCE:
        logger.info("parameter importances not computed: %d complete trial(s), need %d", n,
                    MIN_TRIALS_FOR_IMPORTANCE)
        return {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            found = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            logger.info("parameter importances not computed: %s", exc)
            return {}
    too_few = [w for w in caught if "too small" in str(w.message)]
    if too_few:  # Optuna then reports equal importances, which would mislead
        logger.info("parameter importances not computed: %s", too_few[0].message)
        return {}
    return found


def plot_search(study: optuna.Study, out_dir: str | Path, paper_value: float | None = None) -> Path:
    """Two panels (validation accuracy over trials with the best so far; parameter
    importances) written to ``out_dir/tuning_history.png``; ``paper_value`` (the
    starting preset's validation accuracy) is drawn as a dashed line if given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    h = history(study)
    imp = importances(study)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(h["number"], h["value"], ".", color="0.6", label="trial")
    ax1.step(h["number"], h["best_so_far"], where="post", color="C0", label="best so far")
    if paper_value is not None:
        ax1.axhline(paper_value, ls="--", color="C3", label="starting preset")
    ax1.set(xlabel="trial", ylabel="validation accuracy (%)", title=f"search history: {study.study_name}")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.margins(y=0.1)
    ax1.legend(loc="best")
    if imp:
        names = list(imp)[::-1]
        ax2.barh(names, [imp[n] for n in names], color="C1")
        ax2.set(xlabel="importance (normalised)", title="parameter importances")
    else:
        ax2.text(0.5, 0.5, "too few trials for importances", ha="center", va="center")
        ax2.set_axis_off()
    fig.tight_layout()
    path = Path(out_dir) / HISTORY_PNG
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return path


__all__ = ["HISTORY_PNG", "history", "importances", "plot_search"]
