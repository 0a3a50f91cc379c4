"""What an operator hits in the TUI (issue 11), driven with Textual's pilot on the real App with
the fast fakes of tests/test_tui_support (cluster reader, plan): Continue opens the first screen
with a problem; Install asks first; quitting with typed secrets asks to save or discard them
(saved through the core's secret store, 0600); a failed background task shows its error instead
of leaving a screen waiting; a crash exits 1 with a masked traceback in DIR/wizard-crash.log; and
`wizard` without a terminal says so and exits 2. They cannot prove how a real terminal draws the
dialogs (the snapshots and tests/test_tui_tmux.py do that for the screens they cover)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import yaml

from tests.conftest import REPO
from tests.test_tui_support import (FakePlan, aio, example_raw, export_example, install, make_app, prefilled,
                                    present, settle, wait_for)

CLIENT_SECRET = "typed-client-secret-5f3a9c"
REGISTRY_PASSWORD = "typed-registry-password-8d21"


def screen_name(app) -> str:
    return type(app.screen).__name__


async def to_review(pilot) -> None:
    app = pilot.app
    await pilot.pause()
    app.start_steps("review")
    await wait_for(pilot, lambda: present(app, "#install") and not app.screen.query_one("#install").disabled)


@aio
async def test_continue_opens_the_first_screen_with_a_problem_not_the_review(tmp_path):
    directory = tmp_path / "setup"
    export_example(directory)
    raw = example_raw()
    raw["hub"]["cull"]["timeout"] = 10          # refused by the core (hub screen)
    raw["registry"]["url"] = "http://registry.example.org"  # refused too, and on an earlier screen
    for section, key in (("registry", "password"), ("auth", "client_secret")):
        raw[section].pop(key, None)
    (directory / "answers.yaml").write_text(yaml.safe_dump(raw))
    app = make_app(directory)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.click("#continue")
        await wait_for(pilot, lambda: screen_name(app) == "RegistryScreen")
        await settle(pilot)
        assert screen_name(app) == "RegistryScreen"
        assert app.screen.query_one("#next").disabled
        # Back walks through the screens before it, as from the review.
        assert [type(s).__name__ for s in app.screen_stack[-4:]] == [
            "ClusterScreen", "NetworkScreen", "IngressStorageScreen", "RegistryScreen"]


@aio
async def test_install_asks_first_and_cancel_applies_nothing(tmp_path):
    plan = FakePlan()
    app = make_app(tmp_path / "setup", plan=plan, answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        await to_review(pilot)
        await pilot.click("#install")
        await wait_for(pilot, lambda: screen_name(app) == "ConfirmInstall")
        text = str(app.screen.query_one("#confirm-text").render())
        assert "Install now?" in text and "binderhub" in text and str(tmp_path / "setup") in text
        await pilot.click("#cancel")
        await wait_for(pilot, lambda: screen_name(app) == "ReviewScreen")
        await settle(pilot)
        assert plan.applied == [] and not (tmp_path / "setup" / "config.yaml").exists()
        assert not app.screen.query_one("#install").disabled
        await install(pilot)
        await wait_for(pilot, lambda: screen_name(app) == "DoneScreen")
    assert "binderhub" in plan.applied


def typed_secrets_app(directory):
    answers = prefilled(directory)
    answers.secrets.clear()
    answers.set("auth.client_secret", CLIENT_SECRET)
    answers.set("registry.password", REGISTRY_PASSWORD)
    assert answers.applies("auth.client_secret") and answers.applies("registry.password")
    return make_app(directory, answers=answers)


async def quit_asks(pilot) -> None:
    """Ctrl+Q opens the save-or-discard dialog."""
    await pilot.press("ctrl+q")
    await wait_for(pilot, lambda: screen_name(pilot.app) == "SaveSecrets")


@aio
async def test_quit_with_typed_secrets_asks_and_save_writes_them_to_secret_yaml_only(tmp_path):
    from wizard.secretstore import read_stored

    directory = tmp_path / "setup"
    app = typed_secrets_app(directory)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await quit_asks(pilot)
        text = str(app.screen.query_one("#secrets-text").render())
        assert "auth.client_secret" in text and "registry.password" in text and CLIENT_SECRET not in text
        await pilot.click("#save")
        await wait_for(pilot, lambda: not app.is_running, timeout=10)
    secret_file = directory / "secret.yaml"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert read_stored(directory) == {"auth.client_secret": CLIENT_SECRET, "registry.password": REGISTRY_PASSWORD}
    for other in directory.iterdir():  # answers.yaml (when written) and the rest: never the secrets
        if other.name != "secret.yaml" and other.is_file():
            assert CLIENT_SECRET not in other.read_text() and REGISTRY_PASSWORD not in other.read_text(), other

    again = make_app(directory)  # read back: nothing unsaved, so quitting asks nothing
    async with again.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert again.answers.get("auth.client_secret") == CLIENT_SECRET
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not again.is_running, timeout=10)


@aio
async def test_quit_with_typed_secrets_can_discard_them_or_stay(tmp_path):
    directory = tmp_path / "setup"
    app = typed_secrets_app(directory)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await quit_asks(pilot)
        await pilot.press("escape")  # stay
        await wait_for(pilot, lambda: screen_name(app) == "WelcomeScreen")
        assert app.is_running
        await quit_asks(pilot)
        await pilot.click("#discard")
        await wait_for(pilot, lambda: not app.is_running, timeout=10)
    assert not (directory / "secret.yaml").exists()


@aio
async def test_a_failed_background_task_shows_its_error_and_leaves_the_app_usable(tmp_path):
    """A worker that raises what nobody expected (here the plan itself, standing for a bug in the
    core) reaches the one handler: its error on the screen's help line and as a notification, the
    traceback in the crash log (0600), and the app still usable. (A corrupt secret.yaml no longer
    gets here: the review names it, tests/test_tui_flow.py.)"""
    directory = tmp_path / "setup"

    def broken_plan(settings, bootstrap=False):
        raise RuntimeError("the plan could not be made")

    app = make_app(directory, plan=broken_plan, answers=prefilled(directory))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        app.start_steps("review")
        await wait_for(pilot, lambda: screen_name(app) == "ReviewScreen")
        await wait_for(pilot, lambda: "failed" in str(app.screen.query_one("#help").render()))
        help_text = str(app.screen.query_one("#help").render())
        assert "the plan could not be made" in help_text, help_text
        assert any("the plan could not be made" in n.message for n in app._notifications)
        assert app.is_running and app.screen.query_one("#install").disabled
        await pilot.press("escape")  # still usable: Back works
        await wait_for(pilot, lambda: screen_name(app) == "HubScreen")
    log = directory / "wizard-crash.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and "RuntimeError" in log.read_text()


def test_a_crash_exits_1_with_the_traceback_in_a_log_with_secrets_masked(tmp_path, capsys):
    from screens.app import WizardApp, run

    directory = tmp_path / "setup"

    class Crashing(WizardApp):
        def on_mount(self) -> None:
            super().on_mount()
            self.set_timer(0.2, self.boom)

        def boom(self) -> None:
            raise RuntimeError(f"something broke near {CLIENT_SECRET}")

    answers = prefilled(directory)
    answers.set("auth.client_secret", CLIENT_SECRET)
    app = Crashing(directory, answers=answers, plan=FakePlan(), animate=False)
    assert run(directory, app=app, headless=True) == 1
    err = capsys.readouterr().err.strip().splitlines()
    log = directory / "wizard-crash.log"
    assert len(err) == 1 and str(log) in err[0], err
    text = log.read_text()
    assert "RuntimeError: something broke near" in text and "in boom" in text
    assert CLIENT_SECRET not in text and CLIENT_SECRET not in "\n".join(err)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_wizard_without_a_terminal_says_so_and_exits_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "wizard", "--dir", str(tmp_path / "setup")], cwd=REPO,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "needs a terminal" in done.stderr and done.stdout == ""
    assert not (tmp_path / "setup").exists()


def test_the_secret_store_saves_typed_secrets_keeping_what_secret_yaml_holds(tmp_path):
    """The core half of saving at quit (wizard.secretstore.store): the typed secret replaces its
    key, the generated tokens and the pull secret stay, the file stays 0600; a file it cannot read
    is refused, not overwritten."""
    import pytest

    from wizard.secretstore import SecretFileError, read_stored, store

    directory = tmp_path / "setup"
    export_example(directory)
    before = read_stored(directory)
    tree_before = yaml.safe_load((directory / "secret.yaml").read_text())
    assert store(directory, {"auth.client_secret": CLIENT_SECRET, "not.a.secret": "x"}) == ["auth.client_secret"]
    after = read_stored(directory)
    assert after == {**before, "auth.client_secret": CLIENT_SECRET}
    tree = yaml.safe_load((directory / "secret.yaml").read_text())
    assert tree["jupyterhub"]["imagePullSecret"] == tree_before["jupyterhub"]["imagePullSecret"]
    assert stat.S_IMODE((directory / "secret.yaml").stat().st_mode) == 0o600

    broken = "jupyterhub: [not: valid\n"
    (directory / "secret.yaml").write_text(broken)
    with pytest.raises(SecretFileError):
        store(directory, {"auth.client_secret": "another-typed-secret"})
    assert (directory / "secret.yaml").read_text() == broken
