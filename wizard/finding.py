"""One shape for what a check finds, wherever it runs (the cluster checks, the host checks, the
HTTPS probes, the engine's outcome of a stage): its name, its level, the problem, and the next step.
The faces print a Finding; nothing re-words one per kind of check."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARNING, ERROR = "ok", "warning", "error"


@dataclass(frozen=True)
class Finding:
    name: str
    level: str          # ok, warning or error
    problem: str        # what was found (for ok: what holds)
    next_step: str = ""

    @property
    def message(self) -> str:
        return self.problem

    @property
    def blocking(self) -> bool:
        return self.level == ERROR

    def __str__(self) -> str:
        tail = f" — {self.next_step}" if self.next_step else ""
        return f"[{self.level}] {self.name}: {self.problem}{tail}"

    def line(self) -> str:
        """As one line of a stage's note: `name: problem — next step`."""
        return f"{self.name}: {self.problem}" + (f" — {self.next_step}" if self.next_step else "")
