"""Snapshots of every screen at 80x24, the progress screen running, failed and done, and the
review at 120x40. Everything that varies is frozen: the clock, the directory (relative, in a
temporary working directory), the cluster (a fixed reader), cursor blink and the spinner."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.test_tui_support import (FakePlan, choose, export_example, make_app, prefilled, present, type_into,
                                    wait_for)

SIZE = (80, 24)
DIRECTORY = Path("binderhub-setup")


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def step_app(plan=None):
    return make_app(DIRECTORY, plan=plan, answers=prefilled(DIRECTORY))


def at(step: str, then=None):
    async def run_before(pilot):
        app = pilot.app
        await pilot.pause()
        app.start_steps(step)
        await wait_for(pilot, lambda: present(app, "#next") or present(app, "#install"))
        await app.workers.wait_for_complete()
        if then is not None:
            await then(pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
    return run_before


def test_welcome_new_install(snap_compare):
    assert snap_compare(make_app(DIRECTORY), terminal_size=SIZE)


def test_welcome_existing_directory_shows_its_stages(snap_compare):
    from wizard.session import InstallSession

    export_example(DIRECTORY)
    # Done with what the directory holds now (a done stage whose inputs changed shows as stale).
    prints = InstallSession(DIRECTORY, plan=FakePlan()).fingerprints()
    stages = {name: {"status": status, "started": 1.0, "finished": 2.0, "fingerprint": prints[name], "error": error}
              for name, status, error in (("preflight", "done", None), ("storage", "done", None),
                                          ("ingress", "failed", "Deployment ingress-nginx: not available"))}
    (DIRECTORY / "state.json").write_text(json.dumps({"version": 1, "stages": stages}))

    async def run_before(pilot):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    assert snap_compare(make_app(DIRECTORY), terminal_size=SIZE, run_before=run_before)


def test_cluster(snap_compare):
    assert snap_compare(step_app(), terminal_size=SIZE, run_before=at("cluster"))


def test_network_with_an_error_beside_its_field(snap_compare):
    async def bad_ip(pilot):
        await type_into(pilot, "network.public_ip", "203.0.113")
    assert snap_compare(step_app(), terminal_size=SIZE, run_before=at("network", bad_ip))


def test_ingress_and_storage(snap_compare):
    async def pick(pilot):
        await choose(pilot, "ingress.controller", "ingress-nginx")
        await choose(pilot, "storage.provisioner", "existing")
    assert snap_compare(step_app(), terminal_size=SIZE, run_before=at("ingress_storage", pick))


def test_registry(snap_compare):
    assert snap_compare(step_app(), terminal_size=SIZE, run_before=at("registry"))


def test_login(snap_compare):
    async def test_keycloak(pilot):
        await pilot.press("ctrl+k")
    assert snap_compare(step_app(), terminal_size=SIZE, run_before=at("login", test_keycloak))


def test_hub(snap_compare):
    assert snap_compare(step_app(), terminal_size=SIZE, run_before=at("hub"))


def test_review(snap_compare):
    assert snap_compare(step_app(), terminal_size=SIZE, run_before=at("review"))


def test_review_large(snap_compare):
    assert snap_compare(step_app(), terminal_size=(120, 40), run_before=at("review"))


def progress_app(plan):
    export_example(DIRECTORY)
    return make_app(DIRECTORY, plan=plan)


async def to_progress(pilot):
    from screens.progress import ProgressScreen

    await pilot.pause()
    await pilot.app.push_screen(ProgressScreen())


def test_progress_running(snap_compare):
    plan = FakePlan()
    plan.block["binderhub"] = threading.Event()

    async def run_before(pilot):
        await to_progress(pilot)
        await wait_for(pilot, lambda: pilot.app.screen.status.get("binderhub") == "running")
        await pilot.pause()
    try:
        assert snap_compare(progress_app(plan), terminal_size=SIZE, run_before=run_before)
    finally:
        plan.release()


def test_progress_failed(snap_compare):
    plan = FakePlan()
    plan.fail["binderhub"] = 1

    async def run_before(pilot):
        await to_progress(pilot)
        await wait_for(pilot, lambda: present(pilot.app, "#failure") and pilot.app.screen.query_one("#failure").display)
    assert snap_compare(progress_app(plan), terminal_size=SIZE, run_before=run_before)


def test_progress_done(snap_compare):
    async def run_before(pilot):
        await to_progress(pilot)
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "DoneScreen")
        pilot.app.pop_screen()   # the progress screen as the install left it
        await pilot.pause()
    assert snap_compare(progress_app(FakePlan()), terminal_size=SIZE, run_before=run_before)


def test_done(snap_compare):
    async def run_before(pilot):
        await to_progress(pilot)
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "DoneScreen")
        await pilot.pause()
    assert snap_compare(progress_app(FakePlan()), terminal_size=SIZE, run_before=run_before)
