"""Fakes and helpers shared by the TUI tests (no tests here): a fast install plan whose stages
fail or wait on command, a fixed cluster reader, a slow OpenID reader, and Pilot helpers."""

from __future__ import annotations

import threading
from pathlib import Path

import yaml

from tests.conftest import EXAMPLE_ANSWERS

STAGES = (("preflight", ()), ("storage", ("preflight",)), ("ingress", ("preflight",)),
          ("cert-manager", ("preflight",)), ("issuer", ("cert-manager", "ingress")),
          ("namespace", ("preflight",)), ("binderhub", ("storage", "ingress", "namespace", "issuer")),
          ("endpoints", ("binderhub",)))
FROZEN_CLOCK = 1_000_000.0


class FakePlan:
    """A plan of quick stages that run a real command through the runner. `fail[name] = n` makes
    a stage fail n times; `block[name]` holds a stage until the event is set."""

    def __init__(self):
        self.fail: dict[str, int] = {}
        self.block: dict[str, threading.Event] = {}
        self.applied: list[str] = []
        self.started = {name: threading.Event() for name, _needs in STAGES}

    def __call__(self, settings):
        from wizard.stages import Stage

        # As in the real plan, the stage says whether it may be skipped after a failure.
        skippable = {"endpoints": "it only checks the public URLs"}
        return [Stage(name, needs, (), self._apply(name), self._verify(name), skippable=skippable.get(name))
                for name, needs in STAGES]

    def _apply(self, name: str):
        def apply(ctx) -> None:
            if ctx.runner.dry_run:  # the Review screen's dry run: commands are only listed
                ctx.runner.run(name, ["helm", "upgrade", "--install", name, f"charts/{name}"])
                return
            self.applied.append(name)
            self.started[name].set()
            if name in self.block:
                while not self.block[name].wait(0.05) and not ctx.cancel.is_set():
                    pass
            if self.fail.get(name, 0) > 0:
                self.fail[name] -= 1
                ctx.runner.run(name, ["sh", "-c", f"echo 'applying {name}'; echo 'Error: {name} could not start'; "
                                                  "exit 2"])
            ctx.runner.run(name, ["sh", "-c", f"echo 'applying {name}'"])
        return apply

    def _verify(self, name: str):
        def verify(ctx) -> None:
            ctx.notify(name, f"waiting up to 30s, until 11:46:40, for {name} to be ready")
        return verify

    def release(self) -> None:
        for event in self.block.values():
            event.set()


def fake_cluster(context):
    from screens.session import ClusterInfo, NodeInfo

    return ClusterInfo(["fake", "staging"], "fake", "v1.33.2",
                       [NodeInfo("node-1", "containerd://2.0.5", [("InternalIP", "10.0.0.10"),
                                                                  ("ExternalIP", "203.0.113.10")])],
                       ["local-path", "openebs-hostpath"])


def fake_openid(url, realm):
    return f"found realm {realm}: issuer {url}/realms/{realm}"


def example_raw() -> dict:
    return yaml.safe_load(EXAMPLE_ANSWERS.read_text())


def prefilled(directory: Path):
    """Answers as if typed: the example answers, secrets kept apart as the UI keeps them."""
    from screens.session import Answers
    from wizard.settings import SECRET_PATHS, value_at

    raw = example_raw()
    secrets = {path: value_at(raw, path) for path in SECRET_PATHS if value_at(raw, path)}
    return Answers(directory, raw, secrets)


def make_app(directory: Path, plan=None, answers=None, **kwargs):
    from screens.app import WizardApp

    kwargs.setdefault("read_cluster", fake_cluster)
    kwargs.setdefault("read_openid", fake_openid)
    kwargs.setdefault("clock", lambda: FROZEN_CLOCK)
    kwargs.setdefault("animate", False)
    kwargs.setdefault("save_delay", 0.05)
    return WizardApp(directory, plan=plan or FakePlan(), answers=answers, **kwargs)


def export_example(directory: Path) -> None:
    from wizard.export import export

    result = export(example_raw(), directory, token=iter(["1" * 64, "2" * 64, "3" * 48]).__next__)
    assert result.ok, result.load.problems


# --- Pilot helpers ---------------------------------------------------------------------------------

def field(app, path: str):
    from screens.fields import field_id

    return app.screen.query_one(f"#{field_id(path)}")


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def type_into(pilot, path: str, text: str, *, keys: bool = False) -> None:
    """Focus the field's input (which selects its text), then replace it: pasted in one event,
    or key by key with `keys` (each key costs a Pilot round trip, ~0.1 s here)."""
    from textual import events
    from textual.widgets import Input

    box = field(pilot.app, path).query_one(Input)
    box.focus()
    await pilot.pause()
    if box.value:
        box.select_all()
    if keys or not text:
        await pilot.press("backspace" if box.value else "end", *text)
    else:
        box.post_message(events.Paste(text))
    await pilot.pause()


async def choose(pilot, path: str, choice: str) -> None:
    from textual.widgets import RadioButton

    for button in field(pilot.app, path).query(RadioButton):
        if button.name == choice:
            await pilot.click(button)
    await pilot.pause()


async def tick(pilot, path: str, value: bool) -> None:
    from textual.widgets import Checkbox

    box = field(pilot.app, path).query_one(Checkbox)
    if box.value != value:
        box.focus()
        await pilot.press("space")
    await pilot.pause()


def message(app, path: str) -> str:
    from textual.widgets import Static

    widget = field(app, path).query_one(".message", Static)
    return str(widget.render()) if widget.display else ""


def present(app, selector: str) -> bool:
    return bool(app.screen.query(selector))


async def wait_for(pilot, predicate, timeout: float = 45) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await asyncio.sleep(0.05)
    await pilot.pause()


def aio(test):
    """Run an async test function on its own event loop (the suite has no asyncio plugin)."""
    import asyncio
    import functools

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return run


async def install(pilot) -> None:
    """Install on the review screen, confirmed in the dialog it opens."""
    await pilot.click("#install")
    await wait_for(pilot, lambda: present(pilot.app, "#confirm-install"))
    await pilot.click("#confirm-install")
