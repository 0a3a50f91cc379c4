"""What a stage is: its name, what it needs, and its own facts (what it applies and from what, how
it checks, whether it may be skipped). Light (no kubernetes): `wizard --help` names the stages
from CLUSTER_STAGES, and the plan (wizard/stages.py) is built in that order.

Everything that asks a question about a stage (the fingerprint, the Progress screen's Skip, the
review) reads it here; nothing outside the plan names a stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .context import Context
    from .settings import Settings

# The cluster stages in plan order (the bootstrap's node stages come before them with --bootstrap).
CLUSTER_STAGES = ("preflight", "storage", "ingress", "cert-manager", "issuer", "registry", "namespace", "binderhub",
                  "endpoints", "launch")


@dataclass(frozen=True)
class Stage:
    name: str
    needs: tuple[str, ...]
    inputs: tuple[str, ...]                      # rendered files whose content feeds the fingerprint
    apply: Callable[["Context"], None]
    verify: Callable[["Context"], None]
    applies: Callable[["Settings"], bool] = lambda s: True
    describe: str = ""
    checks_only: bool = False                    # applies nothing: its checks are the stage (read-only)
    skippable: str | None = None                 # why it is safe to skip after a failure (None: it is not)
    chart: str | None = None                     # the chart (key of wizard/charts.py) it installs
    answers: tuple[str, ...] = ()                # answers (settings paths) it uses without a file of its own
    secrets: tuple[str, ...] = ()                # stored secrets it uses without a file of its own

    def answer_values(self, settings: "Settings") -> list[str]:
        values = []
        for path in self.answers:
            node = settings
            for part in path.split("."):
                node = getattr(node, part)
            values.append(str(node))
        return values
