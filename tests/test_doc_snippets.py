"""Every code block of README.md and docs/**/*.md runs (issue 25, point 14).

* ``python`` blocks: executed, page by page in one namespace (a page's blocks build on each other,
  as a reader runs them), in a temporary folder that has the repository's ``configs/``. A few
  settings are made tiny (:data:`TINY`: fewer epochs, steps, a tiny run config instead of a
  full experiment); each substitution must still match the page, so none goes stale silently.
* ``bash``/``sh`` blocks: every ``sleep-replay`` command is parsed by the real parser and the
  files it names exist; ``make`` targets exist in the Makefile; install commands name real extras.
* ``toml`` blocks: parsed; a ``[tune.space]`` is checked by the tuner's own parser.
* ``text`` blocks are not code (schemas, diagrams, equations); every other block needs one of these
  languages (MyST directives such as ``{toctree}`` aside).
"""
from __future__ import annotations

import copy
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from bridge.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {"_build", "generated", "api", "_ext"}
DOC_FILES = [ROOT / "README.md", ROOT / "configs" / "README.md", ROOT / "results" / "paper" / "README.md"] + sorted(
    p for p in (ROOT / "docs").rglob("*.md") if not SKIP_DIRS & set(p.relative_to(ROOT / "docs").parts))
LANGUAGES = {"python", "bash", "sh", "toml", "text"}
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)

#: a tiny run config (2 tasks of 100 examples, a 784-16-10 network, a few updates and sleep steps)
TINY_RUN = {
    "experiment": {"class_groups": [[0, 1], [2, 3]], "max_train_per_task": 100, "sizes": [784, 16, 10],
                   "init_range": 0.1, "methods": ["sequential", "src"], "seeds": [0], "updates_per_task": 5},
    "sleep": {"preset": "mnist", "beta": [14.5, 44.5], "steps_first": 40, "steps_per_task": 20},
}
TINY_TUNE = copy.deepcopy(TINY_RUN)
TINY_TUNE["experiment"]["methods"] = ["src"]
TINY_TUNE["tune"] = {"seeds": [0], "trials": 2, "sampler": "random", "sampler_seed": 1, "validation_fraction": 0.25,
                     "space": {"inc": {"low": 0.001, "high": 0.1, "log": True}}}
EPOCHS = ("ann.TrainConfig(epochs=13)", "ann.TrainConfig(epochs=1)")

#: page -> (text in the page, what the test runs instead): tiny settings for long examples
TINY: dict[str, list[tuple[str, str]]] = {
    "README.md": [("for _ in range(2):", "for _ in range(1):"), ("ann.class_incremental_tasks(ann.load_mnist_subset())",
                                                              "ann.class_incremental_tasks(ann.load_mnist_subset())[:2]")],
    "docs/getting_started.md": [EPOCHS, ("steps=15000", "steps=1500")],
    "docs/guides/own_loop.md": [("for _ in range(2):", "for _ in range(1):"),
                                ("ann.class_incremental_tasks(ann.load_mnist_subset())",
                                 "ann.class_incremental_tasks(ann.load_mnist_subset())[:2]")],
    "docs/guides/neuroscience.md": [EPOCHS],
    "docs/guides/neuromorphic_export.md": [EPOCHS],
    "docs/neuromorphic.md": [EPOCHS],
    "docs/analysis.md": [EPOCHS, ("steps=15000", "steps=1500"), ('"configs/smoke.toml"', '"tiny_run.toml"')],
    "docs/brian2.md": [EPOCHS, ('"codegen": "cython"', '"codegen": "numpy"'), ("steps=2000", "steps=300"),
                       ('codegen="cpp_standalone"', 'codegen="numpy"')],
    "docs/pynn.md": [EPOCHS, ("steps=500", "steps=100")],
    "docs/distributed.md": [('"configs/demo.toml"', '"tiny_run.toml"'), ('"configs/tables/fashion_mnist.toml"', '"tiny_run.toml"'),
                            ('"/shared/results/fashion"', '"results/fashion"'),
                            ("from dask_jobqueue import SLURMCluster", "SLURMCluster = LocalSLURMCluster")],
    "docs/results_folder.md": [('"configs/demo.toml"', '"tiny_run.toml"')],
    "docs/protocols.md": [('"configs/robustness/subset_mlp.toml"', '"configs/robustness/smoke.toml"')],
    "docs/tuning.md": [('"configs/search/tune_subset.toml"', '"tiny_tune.toml"'), ("trials=50, workers=2", "trials=2"),
                       ("steps=2000", "steps=300")],
}
#: every page: the paper's 784-1200-1200-10 network becomes a small one of the same depth (the preset fits it)
SMALL_NETWORK = ("ann.SleepMLP()", "ann.SleepMLP(sizes=[784, 128, 64, 10])")
SHORT_REPLAY = ('bridge.SleepReplay("mnist", seed=0)',
                'bridge.SleepReplay(bridge.preset("mnist").replace(steps_first=1500, steps_per_task=500), seed=0)')
TINY["README.md"].append(SHORT_REPLAY)
TINY["docs/guides/own_loop.md"].append(SHORT_REPLAY)

#: pages whose examples stay quick (a few seconds); the others are marked slow
QUICK: set[str] = set()


def blocks(path: Path) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block of a Markdown file."""
    return [(m.group(1).strip().split(" ")[0], m.group(2)) for m in FENCE.finditer(path.read_text())]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_there_are_pages_with_code():
    assert {"README.md", "docs/getting_started.md", "docs/guides/own_loop.md"} <= {rel(p) for p in DOC_FILES}
    assert sum(len(blocks(p)) for p in DOC_FILES) > 30


@pytest.mark.parametrize("path", DOC_FILES, ids=rel)
def test_every_block_says_its_language(path):
    for lang, code in blocks(path):
        assert lang.startswith("{") or lang in LANGUAGES, f"{rel(path)}: block ```{lang} {code[:60]!r}"


# ------------------------------------------------------------------ python
PYTHON_PAGES = [p for p in DOC_FILES if any(lang == "python" for lang, _ in blocks(p))]


class LocalSLURMCluster:
    """Stands in for ``dask_jobqueue.SLURMCluster`` (there is no SLURM here): the same arguments are
    checked by the real class (its job script is rendered), the workers are local processes."""

    def __init__(self, **kwargs):
        from dask.distributed import LocalCluster
        from dask_jobqueue import SLURMCluster

        with SLURMCluster(**kwargs) as real:
            assert "#SBATCH" in real.job_script()
        self._local = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
        self.scheduler_address = self._local.scheduler_address

    def scale(self, jobs=0):
        self._local.scale(1)


def _python_code(path: Path) -> str:
    code = "\n".join(c for lang, c in blocks(path) if lang == "python")
    for old, new in TINY.get(rel(path), []):
        assert old in code, f"{rel(path)}: the test's substitution {old!r} no longer matches the page"
        code = code.replace(old, new)
    return code.replace(*SMALL_NETWORK)


def _workspace(tmp_path: Path) -> None:
    import tomli_w

    (tmp_path / "configs").symlink_to(ROOT / "configs")
    (tmp_path / "tiny_run.toml").write_text(tomli_w.dumps(TINY_RUN))
    (tmp_path / "tiny_tune.toml").write_text(tomli_w.dumps(TINY_TUNE))


def _setup(page: str, tmp_path: Path) -> None:
    """What a page assumes the reader has done before (e.g. ``make demo`` for a results folder)."""
    if page == "docs/results_folder.md":
        from bridge.experiments import ExperimentConfig, run_experiment

        run_experiment(ExperimentConfig.from_file(tmp_path / "tiny_run.toml"), tmp_path / "results" / "demo",
                       progress=False)


@pytest.mark.parametrize("path", [pytest.param(p, marks=() if rel(p) in QUICK else pytest.mark.slow)
                                  for p in PYTHON_PAGES], ids=rel)
def test_python_blocks_run(path, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    code = _python_code(path)
    _workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    _setup(rel(path), tmp_path)
    namespace = {"__name__": "__doc_snippet__", "LocalSLURMCluster": LocalSLURMCluster}
    exec(compile(code, f"<{rel(path)}>", "exec"), namespace)  # noqa: S102 - the docs' own examples


def test_the_known_broken_examples_are_gone():
    """outcome.network, an implicit snn.activity, snntorch.import_from_nir; load_dataset in the README."""
    for path in DOC_FILES:
        text = path.read_text()
        assert "outcome.network" not in text, rel(path)
        assert "snntorch.import_from_nir" not in text, rel(path)
        code = "\n".join(c for lang, c in blocks(path) if lang == "python")
        if "snn.activity." in code:
            assert "import snn.activity" in code or "from snn.activity" in code or "from snn import activity" in code, \
                rel(path)
    assert 'ann.load_dataset("fashion-mnist")' in (ROOT / "README.md").read_text()


# ------------------------------------------------------------------ shell
def _commands(code: str) -> list[list[str]]:
    joined = re.sub(r"\\\n", " ", code)
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            out.append(words[:cut])
            words = words[cut + 1:]
    return out


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M))


def _extras() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def _check_sleep_replay(argv: list[str], where: str) -> None:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --version and --help exit 0; a bad command exits 2
        assert exc.code == 0 and {"--version", "--help", "-h"} & set(argv), f"{where}: sleep-replay {shlex.join(argv)}"
        return
    for value in vars(args).values():
        if isinstance(value, str) and value.endswith((".toml", ".npz")) and not value.startswith("results/"):
            assert (ROOT / value).resolve().is_file(), f"{where}: {value} does not exist"


def _check_command(words: list[str], where: str) -> None:
    head = words[0]
    if head == "sleep-replay":
        _check_sleep_replay(words[1:], where)
    elif head == "make":
        assert set(words[1:]) <= _makefile_targets(), f"{where}: make {words[1:]}"
    elif head == "pip" and words[1:2] == ["install"]:
        for spec in words[2:]:
            if spec.startswith("torch=="):
                assert f"TORCH  := {spec}" in (ROOT / "Makefile").read_text(), where
            elif spec.startswith(".["):
                assert set(spec[2:-1].split(",")) <= _extras(), f"{where}: {spec}"
            else:
                assert spec == "-e", f"{where}: pip install {spec}"
    elif words[:3] == ["python3.11", "-m", "venv"] or words in (["source", ".venv/bin/activate"],
                                                               [".", ".venv/bin/activate"]):
        return
    elif words[:4] == ["conda", "env", "create", "-f"]:
        assert (ROOT / words[4]).is_file(), where
    else:
        raise AssertionError(f"{where}: no check for the command {shlex.join(words)!r}; add one to this test")


@pytest.mark.parametrize("path", DOC_FILES, ids=rel)
def test_shell_blocks_are_real_commands(path):
    for lang, code in blocks(path):
        if lang in ("bash", "sh"):
            commands = _commands(code)
            assert commands, f"{rel(path)}: empty shell block"
            for words in commands:
                _check_command(words, rel(path))


def test_a_wrong_command_in_the_docs_would_fail():
    with pytest.raises(AssertionError):
        _check_sleep_replay(["run", "--workers", "two"], "test")
    with pytest.raises(AssertionError):
        _check_sleep_replay(["run", "configs/no_such.toml"], "test")
    with pytest.raises(AssertionError):
        _check_command(["make", "no-such-target"], "test")


# ------------------------------------------------------------------ toml
@pytest.mark.parametrize("path", [p for p in DOC_FILES if any(lang == "toml" for lang, _ in blocks(p))], ids=rel)
def test_toml_blocks_parse(path):
    from bridge.tuning import parse_space

    for lang, code in blocks(path):
        if lang == "toml":
            data = tomllib.loads(code)
            if "tune" in data and "space" in data["tune"]:
                parse_space(data["tune"]["space"], n_layers=3)
