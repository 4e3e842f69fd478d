"""Method names of the experiment harness: a wake learner, optionally with sleep.

Grammar: ``BASE[+src][(key=value, ...)]``, e.g. ``"ewc"``, ``"rehearsal+src"``,
``"icarl+src(memory=100)"``. ``BASE`` is any learner of
:data:`ann.baselines.LEARNERS` (``"parallel"`` is joint training on all tasks
at once, the upper bound); ``"src"`` alone means ``"sequential+src"``. ``+src``
attaches the sleep plugin to the learner (sleep after every task); a joint
learner has no task sequence, so it cannot sleep between tasks.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ann.baselines import LEARNERS

from ..errors import ConfigError

BASES = tuple(sorted(LEARNERS))
_SPEC = re.compile(r"^(?P<base>[a-z_]+)(?P<src>\+src)?(?:\((?P<opts>[^()]*)\))?$")
#: option keys consumed by the harness (the sleep plugin), not by the learner
SLEEP_OPTIONS = ("sleep_preset",)


@dataclass(frozen=True)
class MethodSpec:
    """One method of a run: ``label`` as written, the learner ``base``, whether it
    sleeps after each task, and its options (learner options and sleep options)."""

    label: str
    base: str
    sleep: bool
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def slug(self) -> str:
        """A file-system safe name."""
        return re.sub(r"[^A-Za-z0-9_.=-]+", "_", self.label)

    @property
    def learner_options(self) -> dict[str, Any]:
        """The options meant for the learner (all but :data:`SLEEP_OPTIONS`)."""
        return {k: v for k, v in self.options.items() if k not in SLEEP_OPTIONS}


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip("'\"")


def parse_method(label: str, table: dict[str, dict[str, Any]] | None = None) -> MethodSpec:
    """Parse a method label; ``table`` holds ``[method_options.<label or base>]`` values."""
    if not isinstance(label, str):
        raise ConfigError(f"experiment.methods: each method must be a string, got {label!r}")
    m = _SPEC.match(label.replace(" ", ""))
    if not m:
        raise ConfigError(f"experiment.methods: cannot parse method {label!r} (expected e.g. 'ewc', "
                          "'rehearsal+src', 'icarl+src(memory=100)')")
    base, sleep = m["base"], bool(m["src"])
    if base == "src" and not sleep:
        base, sleep = "sequential", True
    if base not in BASES:
        raise ConfigError(f"experiment.methods: unknown method {base!r} in {label!r}; choose from {BASES} "
                          "optionally with '+src'")
    if sleep and LEARNERS[base].joint:
        raise ConfigError(f"experiment.methods: '{base}+src' is not a method (joint training has no sequence)")
    table = table or {}
    options = {**table.get(base, {}), **table.get(label, {})}
    if m["opts"]:
        for item in m["opts"].split(","):
            if "=" not in item:
                raise ConfigError(f"experiment.methods: option {item!r} in {label!r} must be key=value")
            k, v = item.split("=", 1)
            options[k] = _value(v)
    return MethodSpec(label, base, sleep, options)
