"""Wake side: models, data, class-incremental tasks, training and evaluation.

Nothing here knows about spikes; the ``bridge`` package connects this side to
the sleep engines in ``snn``.
"""
from .data import DATASETS, Dataset, load_dataset, load_feature_file, load_idx_folder, load_mnist_subset, read_idx
from .metrics import average_accuracy, backward_transfer, forgetting
from .evaluation import accuracy, predict, task_accuracies
from .models import ReferenceDropout, SleepCNN, SleepMLP
from .tasks import CLASS_PAIRS, Task, class_incremental_tasks
from .training import TrainConfig, train_task

__all__ = [
    "CLASS_PAIRS", "DATASETS", "Dataset", "ReferenceDropout", "SleepCNN", "SleepMLP", "Task", "TrainConfig",
    "accuracy", "average_accuracy", "backward_transfer", "class_incremental_tasks", "forgetting", "load_dataset", "load_feature_file", "load_idx_folder", "load_mnist_subset",
    "predict", "read_idx", "task_accuracies", "train_task",
]
