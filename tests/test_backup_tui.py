"""A backup started from the TUI keeps the answers and secret.yaml the hub RAN, not the new ones.

The TUI writes answers.yaml as you type, and its Install button exports the new answers (and
secret.yaml) into DIR before the run opens, so DIR no longer holds what the hub was installed
with. The core keeps that in DIR/applied/ once the binderhub stage is applied and checked
(wizard/backup.py remember_applied), and a backup takes it from there.

Real here: the Textual app (Pilot) through the Review screen's Install and its confirmation, the
core session, engine and backup, export. Stand-ins: the plan's stages (tests/test_tui_support.py
FakePlan, binderhub fed by config.yaml as the real stage is) and the hub pod behind `kubectl`
(tests/test_backup.py standin_kubectl: `kubectl exec` runs the backup script on this machine
against a real SQLite file). It cannot show a real hub's database or helm."""

from __future__ import annotations

import copy
import dataclasses
import time

import yaml

from tests.test_backup import make_hub_db, standin_kubectl
from tests.test_tui_snapshots import at
from tests.test_tui_support import FakePlan, aio, example_raw, make_app, prefilled


def plan_with_config_input(settings):
    return [dataclasses.replace(stage, inputs=("config.yaml",)) if stage.name == "binderhub" else stage
            for stage in FakePlan()(settings)]


async def until(pilot, condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await pilot.pause(0.05)
    assert condition()


def limit_in(path) -> int:
    return yaml.safe_load(path.read_text())["hub"]["named_server_limit"]


@aio
async def test_a_backup_from_the_tui_holds_the_answers_the_hub_ran(tmp_path, monkeypatch):
    import os

    from screens.done import DoneScreen
    from screens.progress import ProgressScreen
    from wizard.export import export

    env = standin_kubectl(tmp_path / "bin", tmp_path / "hub-root", dict(os.environ))
    for name in ("PATH", "STANDIN_HUB_ROOT", "STANDIN_RECORD"):
        monkeypatch.setenv(name, env[name])
    make_hub_db(tmp_path / "hub-root" / "jupyterhub.sqlite", ["alice"])
    directory = tmp_path / "setup"
    earlier = copy.deepcopy(example_raw())
    earlier["hub"]["named_server_limit"] = 3
    assert export(earlier, directory).ok

    # First install: nothing to back up yet; the applied answers are kept.
    first = make_app(directory, plan=plan_with_config_input)
    async with first.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await first.push_screen(ProgressScreen())
        await until(pilot, lambda: isinstance(first.screen, DoneScreen))
    assert limit_in(directory / "applied" / "answers.yaml") == 3
    assert not (directory / "backups").exists()

    # The user comes back, the answers say 5 now: Review, Install, confirm.
    second = make_app(directory, plan=plan_with_config_input, answers=prefilled(directory))
    async with second.run_test(size=(120, 60)) as pilot:
        await at("review")(pilot)
        await pilot.click("#install")
        await until(pilot, lambda: bool(second.screen.query("#confirm-install")))
        await pilot.click("#confirm-install")
        await until(pilot, lambda: isinstance(second.screen, DoneScreen))

    assert limit_in(directory / "answers.yaml") == 5  # DIR was rewritten before the run opened
    backups = sorted((directory / "backups").iterdir())
    assert len(backups) == 1
    assert limit_in(backups[0] / "answers.yaml") == 3, "the backup holds the new answers, not the applied ones"
    assert (backups[0] / "secret.yaml").read_bytes() == (directory / "secret.yaml").read_bytes()  # unchanged: not rotated
    assert (backups[0] / "jupyterhub.sqlite").exists()
    assert limit_in(directory / "applied" / "answers.yaml") == 5  # the next backup keeps these
