"""The experiment harness: continual-learning methods with and without sleep.

For every (method, seed) *cell* a fresh no-bias MLP is trained on the tasks in
order by a learner of :data:`ann.baselines.LEARNERS` (``parallel``, joint
training, is one of them). A method ``X+src`` attaches the
:class:`~.loop.SleepPlugin`: it sleeps after every task on all training data
seen so far (SRC_SPEC.md sections 2-4), ``steps_first + (k - 1) *
steps_per_task`` steps after task k. All methods of a seed share the initial
weights and the data order of every task. Accuracies are in percent over the
test examples of the tasks' classes.

Modules, one job each:

* :mod:`.config`: the :class:`ExperimentConfig` schema and its checks.
* :mod:`.methods`: method labels (``"icarl+src(memory=100)"``) -> :class:`MethodSpec`.
* :mod:`.data`: tasks and test set of a config; per-task seeds.
* :mod:`.learners`: a fresh network and the learner of a method.
* :mod:`.loop`: one cell's training loop with after-task plugins (:class:`SleepPlugin`).
* :mod:`.cells`: a cell as a pure function ``(config, method, seed) -> record``, its files.
* :mod:`.runner`: the grid of cells in a locked results folder (:func:`run_experiment`).
* :mod:`.reporting`: summary over seeds, the table, the paper's numbers.
* :mod:`.compare`: two methods paired by seed: gain mean +- SD and paired tests.
* :mod:`.results_io`: atomic writes, strict JSON, archiving, the folder lock.
* :mod:`.plots`: figures. :mod:`.patches`: the patches toy task harness.
"""
from .cells import cell_model_dir, cell_path, finish_cell, load_finished_cell, model_path, run_cell
from .compare import comparison_markdown, paired_stats, per_seed_accuracy
from .config import ExperimentConfig
from .data import load_tasks, task_seed
from .first_task_cache import FirstTaskCache
from .learners import build_learner, new_model
from .loop import MODEL_STAGES, CellPlugin, CellState, SleepPlugin, evaluate, run_cell_loop
from .methods import SLEEP_OPTIONS, MethodSpec, parse_method
from .patches import PATCHES_SLEEP, PatchesConfig, run_patches, run_trial
from .reporting import PAPER_RESULTS, format_table, summarize
from .results_io import atomic_write, prepare_output_dir, results_lock, write_json
from .runner import RESULT_FILES, open_results, run_experiment

__all__ = [
    "MODEL_STAGES", "PAPER_RESULTS", "PATCHES_SLEEP", "RESULT_FILES", "SLEEP_OPTIONS", "CellPlugin", "CellState",
    "ExperimentConfig", "FirstTaskCache", "MethodSpec", "PatchesConfig", "SleepPlugin", "atomic_write", "build_learner",
    "cell_model_dir", "cell_path", "evaluate", "finish_cell", "format_table", "load_finished_cell", "load_tasks",
    "model_path", "new_model", "open_results", "paired_stats", "parse_method", "per_seed_accuracy", "prepare_output_dir",
    "results_lock",
    "run_cell", "run_cell_loop", "run_experiment", "run_patches", "run_trial", "summarize", "task_seed",
    "write_json",
]
