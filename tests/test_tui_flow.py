"""Pilot tests of the wizard's behaviour: validation as you type, Back keeps values, a failing
stage and its Retry, Skip, quitting and resuming, and typing while a slow check runs."""

from __future__ import annotations

import asyncio
import json
import threading

from tests.test_tui_support import (FakePlan, aio, choose, field, install, make_app, message, prefilled, present,
                                    settle, tick, type_into, wait_for)
from wizard import validate as v
from wizard.settings import check_field


def why(path: str, value, answers: dict | None = None) -> str:
    try:
        check_field(path, value, answers or {})
    except v.Invalid as err:
        return err.why
    raise AssertionError(f"{value!r} is valid for {path}")


def next_disabled(app) -> bool:
    return app.screen.query_one("#next").disabled


async def to_step(pilot, name: str) -> None:
    app = pilot.app
    await pilot.click("#start")
    await settle(pilot)
    while type(app.screen).__name__ != name:
        await pilot.press("ctrl+n")
        await settle(pilot)


async def open_step(pilot, step: str, screen: str) -> None:
    """Push the steps up to `step` at once and wait until its screen shows its fields' problems."""
    app = pilot.app
    app.start_steps(step)
    await wait_for(pilot, lambda: type(app.screen).__name__ == screen and present(app, "#next"))
    await settle(pilot)


# (screen, path, a refused value, an accepted one)
CASES = [
    ("ClusterScreen", "cluster.namespace", "Binder_NS", "binderhub"),
    ("ClusterScreen", "cluster.release", "-bad-", "binder"),
    ("NetworkScreen", "network.public_ip", "203.0.113", "203.0.113.10"),
    ("NetworkScreen", "network.domain", "example", "example.org"),
    ("NetworkScreen", "network.binder_host", "binder..example.org", "binder.example.org"),
    ("NetworkScreen", "network.hub_host", "hub_example.org", "hub.example.org"),
    ("NetworkScreen", "tls.acme_email", "ops-at-example.org", "ops@example.org"),
    ("IngressStorageScreen", "storage.storage_class", "Bad Class", "local-path"),
    ("RegistryScreen", "registry.url", "http://registry.example.org", "https://registry.example.org"),
    ("RegistryScreen", "registry.username", " robot", "robot"),
    ("RegistryScreen", "registry.image_prefix", "not a prefix", "registry.example.org/binder/r2d-"),
    ("LoginScreen", "auth.keycloak_url", "sso.example.org", "https://sso.example.org"),
    ("LoginScreen", "auth.realm", "bin/der", "binder"),
    ("LoginScreen", "auth.client_id", " ", "binderhub"),
    ("HubScreen", "hub.named_server_limit", "many", "5"),
    ("HubScreen", "hub.cull.timeout", "10", "3600"),
    ("HubScreen", "hub.user_storage.capacity", "10 gigs", "10Gi"),
    ("HubScreen", "hub.resources.cpu_limit", "two", "2"),
    ("HubScreen", "hub.resources.memory_limit", "0", "4G"),
]


@aio
async def test_every_validation_error_appears_beside_its_field_and_clears(tmp_path):
    from screens.session import from_text

    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.click("#start")
        await settle(pilot)
        for screen in dict.fromkeys(case[0] for case in CASES):
            while type(app.screen).__name__ != screen:
                assert not next_disabled(app), type(app.screen).__name__
                await pilot.press("ctrl+n")
                await settle(pilot)
            if screen == "IngressStorageScreen":
                await choose(pilot, "storage.provisioner", "existing")
            for _screen, path, bad, good in [c for c in CASES if c[0] == screen]:
                await type_into(pilot, path, bad)
                expected = why(path, from_text(path, bad), app.answers.raw)
                assert expected in message(app, path), (path, message(app, path))
                assert field(app, path).has_class("-invalid")
                assert next_disabled(app), f"Next must wait for {path}"
                await type_into(pilot, path, good)
                assert not field(app, path).has_class("-invalid"), (path, message(app, path))
                assert "✗" not in message(app, path)
            assert not next_disabled(app)


@aio
async def test_back_keeps_every_value_and_answers_are_saved_without_secrets(tmp_path):
    directory = tmp_path / "setup"
    app = make_app(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, "NetworkScreen")
        await type_into(pilot, "network.domain", "example.org")
        # The hosts follow the domain as it is typed.
        assert app.answers.get("network.binder_host") == "binder.example.org"
        await type_into(pilot, "network.hub_host", "jupyter.example.org")
        await type_into(pilot, "tls.acme_email", "ops@example.org")
        await choose(pilot, "tls.acme_server", "staging")
        assert app.answers.get("network.public_ip") == "203.0.113.10", "suggested from the node's ExternalIP"
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+n")   # ingress and storage: defaults are valid
        await settle(pilot)
        await type_into(pilot, "registry.url", "https://registry.example.org")
        await type_into(pilot, "registry.password", "hunter2-registry")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert type(app.screen).__name__ == "NetworkScreen"
        from textual.widgets import Input

        assert field(app, "network.hub_host").query_one(Input).value == "jupyter.example.org"
        assert field(app, "network.binder_host").query_one(Input).value == "binder.example.org"
        assert app.answers.get("tls.acme_server") == "staging"
        await pilot.press("ctrl+n", "wait:100", "ctrl+n")
        await settle(pilot)
        assert type(app.screen).__name__ == "RegistryScreen"
        assert field(app, "registry.url").query_one(Input).value == "https://registry.example.org"
        assert field(app, "registry.password").query_one(Input).value == "hunter2-registry"
        assert field(app, "registry.image_prefix").query_one(Input).value == "registry.example.org/binder/r2d-"
        await asyncio.sleep(0.2)
        await settle(pilot)
        saved = (directory / "answers.yaml").read_text()
        assert "jupyter.example.org" in saved and "staging" in saved
        assert "hunter2-registry" not in saved, "secrets reach secret.yaml only through export"
        await pilot.press("ctrl+q")
    assert "hunter2" not in (directory / "answers.yaml").read_text()


async def to_review(pilot) -> None:
    """Every step pushed at once (a step is composed only when shown), Review on top."""
    app = pilot.app
    await pilot.pause()
    app.start_steps("review")
    await wait_for(pilot, lambda: present(app, "#install") and not app.screen.query_one("#install").disabled)


async def install_until_failed(pilot, plan: FakePlan) -> None:
    app = pilot.app
    await to_review(pilot)
    await install(pilot)
    await wait_for(pilot, lambda: type(app.screen).__name__ == "ProgressScreen")
    await wait_for(pilot, lambda: app.screen.query_one("#failure").display)


@aio
async def test_a_failing_stage_shows_why_retry_succeeds_and_a_check_stage_can_be_skipped(tmp_path):
    plan = FakePlan()
    plan.fail["binderhub"] = 1
    plan.fail["endpoints"] = 5
    app = make_app(tmp_path / "setup", plan=plan, answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(80, 24)) as pilot:
        await install_until_failed(pilot, plan)
        screen = app.screen
        assert screen.status["binderhub"] == "failed"
        assert screen.status["endpoints"] == "pending"
        explanation = str(screen.query_one("#explanation").render())
        assert "Stage binderhub failed" in explanation and "exited with 2" in explanation
        assert "Error: binderhub could not start" in explanation, "the failed command's last lines"
        assert screen.query_one("#skip").disabled, "binderhub is not safe to skip"
        await pilot.click("#open-log")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LogViewer")
        log_text = "\n".join(app.screen.query_one("#log-text").lines)
        assert "Error: binderhub could not start" in log_text
        assert "[binderhub] failed: `sh -c" in log_text, "install.log records the failure's reason"
        assert "example-client-secret" not in log_text
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ProgressScreen")
        app.screen.query_one("#retry").focus()
        await pilot.press("enter")   # Retry, by keyboard
        await wait_for(pilot, lambda: screen.status.get("endpoints") == "failed" and screen.query_one("#failure").display)
        assert plan.applied.count("binderhub") == 2
        assert plan.applied.count("storage") == 1, "a retry does not apply what is done"
        assert not screen.query_one("#skip").disabled, "endpoints only checks: safe to skip"
        await pilot.click("#skip")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DoneScreen")
        summary = str(app.screen.query_one("#summary").render())
        assert "https://binder.example.org/" in summary and "https://hub.example.org/" in summary
        assert "adminuser1" in summary


@aio
async def test_ctrl_q_mid_install_asks_keeps_the_state_and_the_next_run_continues_there(tmp_path):
    directory = tmp_path / "setup"
    plan = FakePlan()
    plan.block["binderhub"] = threading.Event()
    app = make_app(directory, plan=plan, answers=prefilled(directory))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await to_review(pilot)
            await install(pilot)
            await wait_for(pilot, plan.started["binderhub"].is_set)
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmQuit")
            await pilot.press("escape")   # stay
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ProgressScreen")
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmQuit")
            await pilot.click("#quit")
            plan.release()
            await wait_for(pilot, lambda: not app.is_running, timeout=20)
    finally:
        plan.release()
    state = json.loads((directory / "state.json").read_text())["stages"]
    assert state["binderhub"]["status"] == "interrupted" and state["storage"]["status"] == "done"
    assert "example-client-secret" not in (directory / "answers.yaml").read_text()

    again = FakePlan()
    resumed = make_app(directory, plan=again)   # answers and secrets read back from the directory
    async with resumed.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        status = str(resumed.screen.query_one("#status").render())
        assert "binderhub" in status and "interrupted" in status
        await pilot.click("#continue")
        await wait_for(pilot, lambda: present(resumed, "#install") and not resumed.screen.query_one("#install").disabled)
        plan_text = str(resumed.screen.query_one("#plan").render())
        assert "binderhub     will run: interrupted last time" in plan_text
        # The preview re-checks done stages read-only, as the run will: storage's pass, so it
        # plans no command (only what the resume will really run is listed).
        assert "storage       done; checks pass" in plan_text
        assert "[storage]" not in plan_text and "[binderhub] helm upgrade" in plan_text
        await install(pilot)
        await wait_for(pilot, lambda: type(resumed.screen).__name__ == "DoneScreen")
    assert again.applied == ["binderhub", "endpoints"]


@aio
async def test_typing_never_waits_for_the_keycloak_test(tmp_path):
    gate = threading.Event()
    asked = threading.Event()

    def slow_openid(url, realm):
        asked.set()
        gate.wait(20)
        return f"found realm {realm}"

    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"), read_openid=slow_openid)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            app.start_steps("login")
            await wait_for(pilot, lambda: present(app, "#test"))
            await pilot.click("#test")
            await wait_for(pilot, asked.is_set)
            await type_into(pilot, "auth.client_id", "typed-while-testing")
            assert app.answers.get("auth.client_id") == "typed-while-testing"
            assert not gate.is_set(), "the check is still running"
            assert "testing" in str(app.screen.query_one("#test-result").render())
            gate.set()
            await settle(pilot)
            assert "found realm binder" in str(app.screen.query_one("#test-result").render())
    finally:
        gate.set()


@aio
async def test_keycloak_test_reports_why_it_failed(tmp_path):
    from screens.session import OpenIDError

    def refusing(url, realm):
        raise OpenIDError(f"{url}/realms/{realm}/.well-known/openid-configuration answered HTTP 404")

    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"), read_openid=refusing)
    async with app.run_test(size=(80, 24)) as pilot:
        app.start_steps("login")
        await wait_for(pilot, lambda: present(app, "#test"))
        await pilot.press("ctrl+k")
        await settle(pilot)
        assert "answered HTTP 404" in str(app.screen.query_one("#test-result").render())
        await choose(pilot, "auth.type", "none")
        assert not app.screen.query_one("#test-row").display
        assert not field(app, "auth.keycloak_url").display
        await tick(pilot, "auth.pass_tokens", False)


@aio
async def test_with_no_cluster_the_cluster_screen_offers_to_bootstrap_this_machine(tmp_path):
    from screens.session import ClusterInfo
    from tests.test_tui_support import example_raw
    from wizard.settings import load_answers
    from wizard.stages import plan as real_plan

    def no_cluster(context):
        return ClusterInfo([], "", "", [], [], error="no kubeconfig could be read (FileNotFoundError)")

    app = make_app(tmp_path / "setup", plan=lambda settings, bootstrap=False: real_plan(settings, bootstrap=bootstrap),
                   read_cluster=no_cluster)
    async with app.run_test(size=(100, 30)) as pilot:
        await to_step(pilot, "ClusterScreen")
        await wait_for(pilot, lambda: app.screen.query_one("#bootstrap").display)
        await pilot.click("#bootstrap")
        await settle(pilot)
        assert app.bootstrap
        assert "bootstrapped first" in str(app.screen.query_one("#bootstrap-note").render())
        settings = load_answers(example_raw()).settings
        names = [stage.name for stage in app.plan(settings)]
        assert names[0] == "host" and "node-kubeadm-init" in names and names.index("node-flannel") < names.index("preflight")
        app.screen.query_one("#bootstrap").press()  # the note above may have moved it out of view
        await settle(pilot)
        assert not app.bootstrap and app.plan(settings)[0].name == "preflight"


@aio
async def test_rules_across_fields_are_shown_beside_their_fields_and_hold_next(tmp_path):
    """Proves each step screen shows the core's rules across its fields (hosts equal, guarantee
    above limit, nobody allowed to log in) beside the field, all at once, and holds Next while any
    is shown. Before, these waited for the review. It cannot prove the layout: the snapshots do."""
    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        await open_step(pilot, "network", "NetworkScreen")
        assert not next_disabled(app)
        await type_into(pilot, "network.hub_host", "binder.example.org")
        assert "is the same as network.binder_host" in message(app, "network.hub_host")
        assert field(app, "network.hub_host").has_class("-invalid") and next_disabled(app)
        await type_into(pilot, "network.public_ip", "127.0.0.1")
        assert "loopback" in message(app, "network.public_ip"), "a field's own problem beside the rule's"
        assert "is the same as network.binder_host" in message(app, "network.hub_host")
        await type_into(pilot, "network.public_ip", "203.0.113.10")
        await type_into(pilot, "network.hub_host", "hub.example.org")
        assert message(app, "network.hub_host") == "" and not next_disabled(app)

        await open_step(pilot, "hub", "HubScreen")
        await type_into(pilot, "hub.resources.cpu_guarantee", "3")
        await type_into(pilot, "hub.resources.memory_guarantee", "8G")
        assert "is more than cpu_limit" in message(app, "hub.resources.cpu_guarantee")
        assert "is more than memory_limit" in message(app, "hub.resources.memory_guarantee")
        assert next_disabled(app)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert type(app.screen).__name__ == "HubScreen", "Next is refused while a problem is shown"
        await type_into(pilot, "hub.resources.cpu_limit", "4")
        assert message(app, "hub.resources.cpu_guarantee") == "" and next_disabled(app)
        await type_into(pilot, "hub.resources.memory_guarantee", "1G")
        assert not next_disabled(app)

        await open_step(pilot, "login", "LoginScreen")
        await tick(pilot, "auth.allow_all", False)
        assert not next_disabled(app), "the admins may still log in (a warning only)"
        await type_into(pilot, "auth.admin_users", "")
        assert "nobody could log in" in message(app, "auth.allow_all") and next_disabled(app)
        await choose(pilot, "auth.type", "none")
        assert not next_disabled(app), "no login: no allow rule needed"


@aio
async def test_a_pasted_realm_url_is_refused_beside_the_field(tmp_path):
    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        await open_step(pilot, "login", "LoginScreen")
        await type_into(pilot, "auth.keycloak_url", "https://sso.example.org/realms/binder")
        assert "the realm goes in auth.realm" in message(app, "auth.keycloak_url")
        assert next_disabled(app) and app.screen.query_one("#test").disabled


@aio
async def test_the_footers_test_binding_works_while_a_text_field_has_focus(tmp_path):
    """A text box binds ctrl+k itself (delete to the end of the line): the footer offered Test
    Keycloak, but with the cursor in a field the key deleted text instead. Proves the key runs
    the test with a text box focused, leaves its text alone, and the footer still offers it."""
    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        from textual.widgets import Input

        app.start_steps("login")
        await wait_for(pilot, lambda: present(app, "#test"))
        await settle(pilot)
        box = field(app, "auth.realm").query_one(Input)
        box.focus()
        await pilot.pause()
        box.cursor_position = 0
        assert app.focused is box
        active = app.screen.active_bindings["ctrl+k"]
        assert active.binding.action == "test" and active.binding.show, "the footer shows the key it runs"
        await pilot.press("ctrl+k")
        await settle(pilot)
        assert "found realm binder" in str(app.screen.query_one("#test-result").render())
        assert box.value == "binder" and app.answers.get("auth.realm") == "binder"
        await type_into(pilot, "auth.realm", "bin/der")
        active = app.screen.active_bindings["ctrl+k"]
        assert active.binding.action == "test" and not active.enabled, "greyed out, as the button is"
        await choose(pilot, "auth.type", "none")
        assert "test" not in [b.binding.action for b in app.screen.active_bindings.values()], "no Keycloak, no Test"


@aio
async def test_each_step_screen_shows_the_fields_the_session_says_it_asks(tmp_path):
    """first_problem_step (where Continue opens) reads STEP_FIELDS; proves each screen composes
    those fields (the cluster screen reads context, runtime and nodes from the cluster, and no
    screen asks auth.login_service), and that every field is asked by one step."""
    from screens.fields import SettingField
    from screens.session import STEP_FIELDS
    from wizard.settings import FIELDS

    not_composed = {"cluster.context", "cluster.runtime", "cluster.nodes", "auth.login_service"}
    asked = [path for paths in STEP_FIELDS.values() for path in paths]
    assert sorted(asked) == sorted(spec.path for spec in FIELDS)
    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        for step, paths in STEP_FIELDS.items():
            app.start_steps(step)
            await wait_for(pilot, lambda: present(app, "#next") and app.screen.query(SettingField))
            shown = [f.path for f in app.screen.query(SettingField)]
            assert shown == [path for path in paths if path not in not_composed], step


def test_the_first_step_with_a_problem_is_where_continue_opens(tmp_path):
    from screens.session import first_problem_step

    answers = prefilled(tmp_path / "setup")
    assert first_problem_step(answers) is None
    answers.set("hub.resources.cpu_guarantee", 8)
    assert first_problem_step(answers) == "hub"
    answers.set("registry.type", "in-cluster")
    answers.set("tls.acme_server", "staging")
    assert first_problem_step(answers) == "registry", "the rule waits for registry.type, its last field"
    answers.set("network.hub_host", "binder.example.org")
    assert first_problem_step(answers) == "network"
    answers.set("network.hub_host", "hub.example.org")
    answers.set("tls.acme_server", "production")
    answers.set("auth.client_secret", "")
    assert first_problem_step(answers) == "login"


@aio
async def test_the_storage_class_follows_the_provisioner_as_the_core_defaults_it(tmp_path):
    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        await open_step(pilot, "ingress_storage", "IngressStorageScreen")
        await choose(pilot, "storage.provisioner", "existing")
        assert app.answers.get("storage.storage_class") == "" and next_disabled(app), "pick a class of the cluster"
        await type_into(pilot, "storage.storage_class", "local-path")
        assert not next_disabled(app)
        await choose(pilot, "storage.provisioner", "openebs")
        assert app.answers.get("storage.storage_class") == "openebs-hostpath" and not next_disabled(app)
        await choose(pilot, "storage.provisioner", "existing")
        await type_into(pilot, "storage.storage_class", "local-path")
        app.answers.set("storage.provisioner", "openebs")   # as an answers file could hold it
        app.screen.refresh_fields()
        await pilot.pause()
        assert "must be openebs-hostpath" in message(app, "storage.storage_class") and next_disabled(app)


@aio
async def test_a_corrupt_secret_file_is_shown_on_the_review_not_rendered_forever(tmp_path):
    """The review's preview refuses a secret.yaml that is not YAML, as the CLI does: the screen says
    so (naming the file) and offers neither Install nor Export. Before, its worker died silently
    and the screen stayed on "Rendering the files..."."""
    directory = tmp_path / "setup"
    app = make_app(directory, answers=prefilled(directory))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "secret.yaml").write_text("registry: [unclosed\n")
    async with app.run_test(size=(100, 40)) as pilot:
        app.start_steps("review")
        await wait_for(pilot, lambda: present(app, "#plan") and "Rendering" not in str(app.screen.query_one("#plan").render()))
        plan_text = str(app.screen.query_one("#plan").render())
        assert "secret.yaml" in plan_text and "not valid YAML" in plan_text, plan_text
        assert app.screen.query_one("#install").disabled and app.screen.query_one("#export").disabled
