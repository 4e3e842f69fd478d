"""Issue 25, point 16: the figures and the printed table of `sleep-replay analyze`. Each
defect the issue lists is measured on the drawn figure (text extents after drawing);
every check fails on the issue's base commit (cf44305)."""
from __future__ import annotations

import numpy as np

from bridge.analysis import figures as figures_module
from bridge.analysis.command import format_summary
from bridge.analysis.plots import _figure, plot_correlation_matrices, plot_reactivation, plot_weight_change
from bridge.analysis.weights import weight_change


def _draw(fig):
    """Lay out and draw ``fig`` (a pyplot-free Figure) with Agg at the resolution
    ``save_figure`` writes (110 dpi: a legend's "best" place depends on it); returns the renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(110)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_point16_legend_leaves_every_significance_mark_visible():
    entries = {f"task{k}": {"selective_mean": v, "random_mean": 0.5, "random_sd": 0.1, "p_bonferroni": 1e-4}
               for k, v in zip(range(1, 6), [0.9, 0.95, 1.0, 0.97, 0.92])}
    fig, axes = _figure(1, 1, (4.5, 3.4))
    ax = plot_reactivation(entries, ax=axes[0, 0], title="hidden1: sleep after task 5, seed 0")
    renderer = _draw(fig)
    legend = ax.get_legend().get_window_extent(renderer)
    marks = [t for t in ax.texts if t.get_text() == "***"]
    assert len(marks) == 5
    for mark in marks:
        assert not _overlap(legend, mark.get_window_extent(renderer)), f"legend hides {mark.get_position()}"


def test_point16_correlation_matrices_have_axis_labels():
    r = np.eye(4) * 0.5
    fig = plot_correlation_matrices(r, r, [0, 1, 2, 3], title="hidden1, seed 0:")
    for ax in fig.axes[:2]:
        assert ax.get_xlabel() == "class" and ax.get_ylabel() == "class"


def test_point16_weight_change_tick_labels_do_not_overlap():
    rng = np.random.default_rng(0)
    before = [rng.normal(size=(200, 784)), rng.normal(size=(100, 200)), rng.normal(size=(10, 100))]
    after = [w + rng.normal(scale=s, size=w.shape) for w, s in zip(before, (3e-4, 0.0123, 2.5e-5))]
    fig = plot_weight_change(weight_change(before, after),
                             layer_names=["layer 1: input -> hidden1", "layer 2: hidden1 -> hidden2",
                                          "layer 3: hidden2 -> output"])
    renderer = _draw(fig)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            boxes = [t.get_window_extent(renderer) for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    assert not _overlap(boxes[i], boxes[j]), f"{ax.get_title()}: tick labels overlap"


def test_point16_titles_fit_in_the_figure(tmp_path, monkeypatch):
    drawn = []

    def keep(fig, path, dpi=110):
        drawn.append(fig)

    monkeypatch.setattr(figures_module, "save_figure", keep)
    measure = {"before": 0.9123, "after": 0.9311}
    layers = {f"hidden{l}": {m: measure for m in ("between_class_correlation", "within_class_correlation",
                                                  "treves_rolls_sparseness")} for l in (1, 2)}
    report = {"summary": {"layers": layers, "seeds": 1, "sleep_after_task": 5}, "seeds": [0], "per_seed": {}}
    figures_module.write_figures(report, {}, tmp_path)
    assert drawn
    drawn.append(plot_correlation_matrices(np.eye(10), np.eye(10), list(range(10)), title="hidden2, seed 0:"))
    for fig in drawn:
        renderer = _draw(fig)
        box = fig.bbox
        titles = [ax.title for ax in fig.axes] + ([fig._suptitle] if fig._suptitle is not None else [])
        for text in titles:
            if text.get_text():
                t = text.get_window_extent(renderer)
                assert box.x0 <= t.x0 and t.x1 <= box.x1 and box.y0 <= t.y0 and t.y1 <= box.y1, \
                    f"title {text.get_text()!r} is clipped"


def _report(p: float, top_n: int, used: dict[str, int]) -> dict:
    layer = {m: {"before": 0.5, "after": 0.4} for m in ("between_class_correlation", "within_class_correlation",
                                                       "treves_rolls_sparseness", "active_fraction")}
    layer["task_reactivation"] = {"selective_mean": 2.8, "random_mean": 1.4, "significant_tests": 5, "tests": 5,
                                  "max_p_bonferroni": p, "min_p_bonferroni": p}
    layer["input_drive"] = {"old_tasks_change": -0.1, "newest_task_change": -0.1}
    return {"method": "src", "settings": {"top_n": top_n, "top_n_used": used},
            "summary": {"sleep_after_task": 5, "seeds": 1, "layers": {name: layer for name in used}}}


def test_point16_table_prints_small_p_and_says_where_top_n_was_capped():
    text = format_summary(_report(3.7e-6, 100, {"hidden1": 64, "hidden2": 32}))
    assert "3.7e-06" in text and "0.0000" not in text
    assert "--top-n 100 was capped to 64 in hidden1, 32 in hidden2" in text
    text = format_summary(_report(0.0123, 10, {"hidden1": 10, "hidden2": 10}))
    assert "0.0123" in text and "capped" not in text
