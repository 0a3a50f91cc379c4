"""The engine behind the Progress screen: render the install directory, build the Context, run
the plan with the engine. Blocking: `run` is called from a thread worker; everything it learns
reaches the screen through the two callbacks (which post messages; they never touch widgets)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Callable

from wizard.context import Context, Options
from wizard.engine import Engine, Event
from wizard.runner import LOG_FILE, Runner, time_limit

# Stages that only check (or check something outside the cluster): skipping them changes nothing
# that a later stage relies on. The user may skip these after a failure and fix things later.
SKIPPABLE = {"endpoints": "it only checks the public URLs (DNS or certificates may need more time)",
             "registry": "an external registry is only checked, not changed"}


def may_skip(stage: str, registry_type: str | None) -> str | None:
    """Why a stage is safe to skip, or None where it is not."""
    if stage == "registry" and registry_type != "external":
        return None
    return SKIPPABLE.get(stage)


class InstallRun:
    def __init__(self, directory: Path, options: Options, plan: Callable,
                 on_event: Callable[[Event], None], on_output: Callable[[str, str], None],
                 cluster_factory: Callable | None = None):
        self.directory = directory
        self.options = options
        self.plan = plan
        self.on_event = on_event
        self.on_output = on_output
        self.cluster_factory = cluster_factory
        self.skipped: set[str] = set()
        self.ctx: Context | None = None
        self.stage_names: list[str] = []
        self.settings = None
        self._cancel = threading.Event()

    def prepare(self) -> list[str]:
        """Render DIR from its answers and stored secrets; the stage names of the plan."""
        from wizard.install import render_into

        prepared = render_into(self.directory, None)
        self.settings = prepared.settings
        runner = Runner(self.directory / LOG_FILE, prepared.masker, listener=self.on_output,
                        command_limit=time_limit(self.options.timeout))
        ctx = Context(prepared.settings, self.directory, runner, self.options, cluster_factory=self.cluster_factory)

        def rerender(overrides: dict):
            return render_into(self.directory, None, overrides=overrides).settings

        ctx.rerender = rerender
        self.ctx = ctx
        self.stage_names = [s.name for s in self.plan(prepared.settings)]
        return self.stage_names

    def run(self) -> bool:
        """Run (or resume) the plan without the skipped stages; True when all ended done."""
        from wizard.state import InstallLock, load_state

        if self.ctx is None:
            self.prepare()
        ctx = self.ctx
        with InstallLock(self.directory):
            stages = []
            for stage in self.plan(ctx.settings):
                if stage.name in self.skipped:
                    continue
                stages.append(dataclasses.replace(stage, needs=tuple(n for n in stage.needs if n not in self.skipped)))
            engine = Engine(ctx, stages, load_state(self.directory), self.on_event)
            if self._cancel.is_set():
                return False
            return engine.run()

    def cancel(self) -> None:
        """Stop the running commands; the engine records the stages as interrupted."""
        self._cancel.set()
        if self.ctx is not None:
            self.ctx.cancel.set()
            self.ctx.runner.cancel()

    def reset_for_retry(self) -> None:
        """A fresh runner and cancel flag (a cancelled runner refuses every command)."""
        self._cancel.clear()
        self.ctx = None
