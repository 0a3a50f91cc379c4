"""What a stage works with: the settings, the install directory, the one command runner, the
cluster (opened on first use), options, facts learnt on the way, and where to report."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from .finding import ERROR, Finding
from .runner import Runner
from .settings import Settings


class CheckFailed(Exception):
    """A named check found the cluster not as it should be: what is wrong, and what to do next."""

    def __init__(self, check: str, problem: str, next_step: str = ""):
        self.finding = Finding(check, ERROR, problem, next_step)
        super().__init__(self.finding.line())
        self.check = check
        self.problem = problem
        self.next_step = next_step

    @classmethod
    def of(cls, finding: Finding) -> "CheckFailed":
        return cls(finding.name, finding.problem, finding.next_step)


class PreflightRefused(CheckFailed):
    """A preflight check that stops the install before anything changed (exit 3)."""


@dataclass
class Options:
    timeout: float = 300.0                 # per wait, seconds
    skip_checks: frozenset[str] = frozenset()
    resolve: dict[str, str] = field(default_factory=dict)   # host -> "ip:port", like curl --resolve
    ca_bundle: str | None = None            # extra trust for the HTTPS checks
    kubeconfig: str | None = None


@dataclass
class Context:
    settings: Settings
    directory: Path
    runner: Runner
    options: Options = field(default_factory=Options)
    notify: Callable[[str, str], None] = lambda stage, message: None
    cluster_factory: Callable[[], Any] | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    # Re-render with some answers changed (the runtime preflight found) and return the new settings.
    rerender: Callable[[dict], Settings] | None = None
    # Facts of this machine for the bootstrap stages (tests hand in crafted ones).
    host_facts: Callable[[], Any] | None = None

    @cached_property
    def cluster(self):
        if self.cluster_factory is not None:
            return self.cluster_factory()
        from .kube import Cluster

        return Cluster(self.options.kubeconfig, self.settings.cluster.context or None)

    @cached_property
    def stored_secrets(self) -> dict[str, str]:
        """DIR's stored secrets, read once (by the fingerprints)."""
        from .secretstore import read_stored

        return read_stored(self.directory)

    def kubectl(self, *args: str) -> list[str]:
        context = self.settings.cluster.context
        return ["kubectl", *(["--context", context] if context else []), *args]

    def helm(self, *args: str) -> list[str]:
        context = self.settings.cluster.context
        return ["helm", *(["--kube-context", context] if context else []), *args]

    def file(self, name: str) -> str:
        return str(self.directory / name)
