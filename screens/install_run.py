"""The Progress screen's face of the core's session: open the install directory's run, then run it
(or resume it) without the stages the user skipped. Blocking: `run` is called from a thread
worker; everything it learns reaches the screen through `on_event` (which posts messages; it never
touches widgets): stage changes, the checks' notes and every line of command output."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from wizard.context import Options
from wizard.engine import Event


class InstallRun:
    def __init__(self, directory: Path, options: Options, plan: Callable,
                 on_event: Callable[[Event], None], cluster_factory: Callable | None = None):
        from wizard.session import InstallSession

        self.session = InstallSession(directory, options=options, plan=plan, cluster_factory=cluster_factory,
                                      listener=on_event)
        self.skipped: set[str] = set()
        self.run_: object | None = None
        self._cancel = threading.Event()

    @property
    def ctx(self):
        return self.run_.ctx if self.run_ is not None else None

    @property
    def settings(self):
        return self.run_.settings if self.run_ is not None else None

    def stage(self, name: str):
        return next((s for s in self.run_.stages if s.name == name), None) if self.run_ is not None else None

    def prepare(self) -> list[str]:
        """Render DIR from its answers and stored secrets; the stage names of the plan."""
        self.run_ = self.session.open(dry_run=False)
        return self.run_.stage_names()

    def run(self) -> bool:
        """Run (or resume) the plan without the skipped stages; True when all ended done."""
        if self.run_ is None:
            self.prepare()
        with self.session.dir.lock():
            if self._cancel.is_set():
                return False
            return self.run_.execute(skipped=self.skipped).ok

    def cancel(self) -> None:
        """Stop the running commands; the engine records the stages as interrupted."""
        self._cancel.set()
        if self.run_ is not None:
            self.run_.cancel()

    def diagnose(self):
        """Collect and analyze what the install looks like now, into DIR/diagnostics-TIMESTAMP.tar.gz
        (wizard/diagnose.py). Blocking: call it from a thread worker."""
        from wizard.diagnose import run_diagnosis

        return run_diagnosis(self.session.directory, self.session.options)

    def reset_for_retry(self) -> None:
        """A fresh run (a cancelled runner refuses every command)."""
        self._cancel.clear()
        self.run_ = None
