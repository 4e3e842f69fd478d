"""The documentation is complete: every public name has a docstring and an API page, every
sub-package is in the API reference, every flag is in the CLI reference, the flags read
consistently, and the paper column appears only for the paper's configs."""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import apiref  # noqa: E402
import cliref  # noqa: E402

from bridge.cli import build_parser  # noqa: E402
from bridge.experiments import ExperimentConfig, format_table  # noqa: E402
from bridge.experiments.reporting import paper_mismatch  # noqa: E402

API_MODULES = [m for m, _ in apiref.API_MODULES]


# ------------------------------------------------------------------ API reference
@pytest.mark.parametrize("module", API_MODULES)
def test_every_public_name_has_a_docstring(module):
    """A name in ``__all__`` without a docstring (or ``#:`` comment, for data) fails here."""
    assert apiref.undocumented(module) == []


def test_every_subpackage_is_in_the_api_reference():
    """A new sub-package (e.g. ``ann/cnn/``) must be listed in docs/_ext/apiref.py:API_MODULES
    (or in INTERNAL_PACKAGES with the reason)."""
    missing = [p for p in apiref.subpackages() if p not in API_MODULES and p not in apiref.INTERNAL_PACKAGES]
    assert missing == []


def test_every_public_name_has_an_api_page(tmp_path):
    pages = apiref.generate(tmp_path)
    for module in API_MODULES:
        assert pages[module].is_file()
        for name in apiref.public_names(module):
            page = pages[f"{module}.{name}"]
            assert page.is_file(), f"{module}.{name}"
            assert name in page.read_text()
    index = (tmp_path / "index.rst").read_text()
    assert all(f":doc:`{m}`" in index for m in API_MODULES)


def test_undocumented_names_are_found(monkeypatch):
    """The completeness check can fail: a new undocumented function in ``__all__`` is reported."""
    import snn.activity

    def new_measure(result):
        return result

    monkeypatch.setattr(snn.activity, "new_measure", new_measure, raising=False)
    monkeypatch.setattr(snn.activity, "__all__", [*snn.activity.__all__, "new_measure"])
    assert apiref.undocumented("snn.activity") == ["snn.activity.new_measure"]


def test_re_exported_names_are_documented_once(tmp_path):
    """``bridge.tune`` is ``bridge.tuning.tune``: one full entry, the other page points to it."""
    pages = apiref.generate(tmp_path)
    assert ".. autofunction:: tune" in pages["bridge.tuning.tune"].read_text()
    assert ":func:`bridge.tuning.tune`" in pages["bridge.tune"].read_text()


# ------------------------------------------------------------------ CLI reference
def _subcommands():
    return cliref.subcommands(build_parser())


def _value_actions(parser):
    return [a for a in parser._actions if a.option_strings and a.nargs != 0 and a.help != argparse.SUPPRESS]


def test_cli_reference_lists_every_flag_of_every_subcommand():
    reference = cliref.reference()
    synopsis = cliref.synopsis()
    for name, sub in _subcommands().items():
        assert f"## `sleep-replay {name}`" in reference
        for action in sub._actions:
            if not action.option_strings:
                continue
            # usage shows one spelling of a flag (-v for -v/--verbose); the reference all of them
            assert any(f"[{flag}" in synopsis for flag in action.option_strings), f"{name} {action.option_strings}"
            for flag in action.option_strings:
                assert f"`{flag}" in reference or f", {flag}" in reference, f"{name} {flag}"


def test_cli_page_includes_the_generated_reference():
    assert "```{include} generated/cli_reference.md" in (ROOT / "docs" / "cli.md").read_text()


def test_every_value_flag_has_an_explicit_metavar():
    """``--workers N``, not ``--workers WORKERS``; positionals upper case (``CONFIG``)."""
    for name, sub in _subcommands().items():
        for action in _value_actions(sub):
            assert action.metavar is not None or action.choices is not None, f"{name} {action.option_strings}"
        for action in sub._actions:
            if not action.option_strings:
                assert action.metavar and action.metavar.isupper(), f"{name} {action.dest}"


def test_the_same_flag_reads_the_same_in_every_subcommand():
    seen: dict[str, tuple[str, str]] = {}
    for name, sub in _subcommands().items():
        fmt = cliref._formatter(sub)
        for action in _value_actions(sub):
            invocation = fmt._format_action_invocation(action)
            for flag in action.option_strings:
                if flag in seen:
                    assert seen[flag][1] == invocation, f"{flag}: {seen[flag][0]} vs {name}"
                seen[flag] = (name, invocation)
    assert seen["--workers"][1] == "--workers N"
    assert seen["--seeds"][1] == "--seeds SEED [SEED ...]"
    assert seen["--threads-per-worker"][1] == "--threads-per-worker N"
    assert seen["--out"][1] == "--out DIR"


def test_every_sleep_flag_help_states_its_default():
    run = _subcommands()["run"]
    group = next(g for g in run._action_groups if g.title == "sleep parameters")
    for action in group._group_actions:
        text = " ".join(action.help.split())
        assert "; default " in text and "; default  " not in text and "default or" not in text, action.dest
    gain = next(a for a in group._group_actions if "--plasticity-gain" in a.option_strings)
    assert "default empty = 1 for every layer" in " ".join(gain.help.split())


# ------------------------------------------------------------------ the paper column
@pytest.mark.parametrize("config, paper", [
    ("configs/demo.toml", True), ("configs/tables/mnist_subset_table1.toml", True),
    ("configs/tables/fashion_mnist.toml", True), ("configs/tables/icarl_table2_K100.toml", True),
    ("configs/smoke.toml", False),                        # not the paper's network
    ("configs/tuned/tuned_subset_refine.toml", False),    # a tuned sleep, not the paper's preset
    ("configs/tuned/tuned_fashion_rehearsal_refine.toml", False),
    ("configs/tables/fashion_to_mnist.toml", False),      # a row the paper does not have
])
def test_paper_numbers_only_for_the_papers_configs(config, paper):
    assert (paper_mismatch(ExperimentConfig.from_file(ROOT / config)) is None) == paper


@pytest.mark.parametrize("change, reason", [
    ({"experiment": {"sizes": [784, 400, 400, 10]}}, "sizes"),
    ({"train": {"loss": "ce"}}, "train.loss"),
    ({"sleep": {"preset": "mnist", "inc": 0.01}}, "none of the paper's presets"),
])
def test_a_changed_setting_drops_the_paper_column(change, reason):
    data = {"experiment": {"dataset": "mnist-subset", "methods": ["sequential", "src"]}, "sleep": {"preset": "mnist"}}
    for table, fields in change.items():
        data.setdefault(table, {}).update(fields)
    assert reason in paper_mismatch(ExperimentConfig.from_dict(data))


def _summary(mismatch):
    acc = {"per_seed": {"0": 50.0}, "mean": 50.0, "sd": 0.0}
    metric = {"mean": -40.0, "sd": 0.0}
    return {"paper_row": "mnist", "paper_mismatch": mismatch,
            "methods": {"sequential+src": {"final_accuracy": acc, "backward_transfer": metric, "forgetting": metric}}}


def test_format_table_has_the_paper_column_only_when_the_run_is_the_papers():
    with_paper = format_table(_summary(None))
    assert with_paper.splitlines()[0].endswith("| paper |") and "48.47 +- 5.03" in with_paper
    without = format_table(_summary("method 'src' sleeps with parameters that are none of the paper's presets"))
    assert "paper" not in without and "48.47" not in without
    assert all(line.count("|") == without.splitlines()[0].count("|") for line in without.splitlines())


def test_api_modules_import():
    for module in API_MODULES:
        importlib.import_module(module)
