"""Continual-learning methods on the same no-bias MLP and protocol.

Each method is a :class:`ContinualLearner` chosen by name; all see the tasks
one at a time through ``learn_task`` and classify with ``predict``. Sleep
(SRC) is not here: the ``ann`` side knows nothing of spikes; ``bridge``
combines any method with sleep ("rehearsal+src").
"""
from .base import ContinualLearner, Experience
from .ewc import EWC, empirical_fisher
from .icarl import ICaRL, herding, penultimate_features
from .joint import JointTraining
from .owm import OWM
from .rehearsal import Rehearsal
from .si import SI

#: method name -> class ("parallel" is joint training on all tasks at once, the upper bound)
LEARNERS: dict[str, type[ContinualLearner]] = {
    "sequential": ContinualLearner,
    "ewc": EWC,
    "si": SI,
    "owm": OWM,
    "rehearsal": Rehearsal,
    "icarl": ICaRL,
    "parallel": JointTraining,
}


def make_learner(name: str, model, train_config, **options) -> ContinualLearner:
    """Instantiate method ``name``; ``ValueError`` for unknown names or options."""
    if name not in LEARNERS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(LEARNERS)}")
    return LEARNERS[name](model, train_config, **options)


__all__ = ["EWC", "ICaRL", "LEARNERS", "OWM", "ContinualLearner", "Experience", "JointTraining", "Rehearsal", "SI",
           "empirical_fisher", "herding", "make_learner", "penultimate_features"]
