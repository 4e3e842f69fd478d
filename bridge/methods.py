"""Method names of the experiment harness: a wake method, optionally with sleep.

Grammar: ``BASE[+src][(key=value, ...)]``, e.g. ``"ewc"``, ``"rehearsal+src"``,
``"icarl+src(memory=100)"``. ``"src"`` alone means ``"sequential+src"``;
``"parallel"`` is joint training on all tasks at once (upper bound).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ann.baselines import LEARNERS

BASES = tuple(sorted(LEARNERS)) + ("parallel",)
_SPEC = re.compile(r"^(?P<base>[a-z_]+)(?P<src>\+src)?(?:\((?P<opts>[^()]*)\))?$")
#: option keys consumed by the harness, not by the wake method
SLEEP_OPTIONS = ("sleep_preset",)


@dataclass(frozen=True)
class MethodSpec:
    label: str
    base: str
    sleep: bool
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def slug(self) -> str:
        """A file-system safe name."""
        return re.sub(r"[^A-Za-z0-9_.=-]+", "_", self.label)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip("'\"")


def parse_method(label: str, table: dict[str, dict[str, Any]] | None = None) -> MethodSpec:
    """Parse a method label; ``table`` holds ``[method_options.<label or base>]`` values."""
    m = _SPEC.match(label.replace(" ", ""))
    if not m:
        raise ValueError(f"experiment.methods: cannot parse method {label!r} (expected e.g. 'ewc', "
                         "'rehearsal+src', 'icarl+src(memory=100)')")
    base, sleep = m["base"], bool(m["src"])
    if base == "src" and not sleep:
        base, sleep = "sequential", True
    if base not in BASES:
        raise ValueError(f"experiment.methods: unknown method {base!r} in {label!r}; choose from {BASES} "
                         "optionally with '+src'")
    if base == "parallel" and sleep:
        raise ValueError("experiment.methods: 'parallel+src' is not a method (joint training has no sequence)")
    table = table or {}
    options = {**table.get(base, {}), **table.get(label, {})}
    if m["opts"]:
        for item in m["opts"].split(","):
            if "=" not in item:
                raise ValueError(f"experiment.methods: option {item!r} in {label!r} must be key=value")
            k, v = item.split("=", 1)
            options[k] = _value(v)
    return MethodSpec(label, base, sleep, options)
