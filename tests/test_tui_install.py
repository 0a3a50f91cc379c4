"""The whole flow in the TUI, from an empty directory to Done, on the real control plane: the real
plan, real helm and kubectl, the real chart archives, the stand-ins of tests/install_harness.py
(pod readiness, the webhooks' answers, cert-manager's and the ingress controller's status) and the
HTTPS stand-ins for the two hosts and the registry. Only what an operator would type is typed;
nothing else is handed to the App but the chart sources (the air-gapped feature) and the probe
options (like --resolve, --ca-bundle). It cannot show a real hub starting."""

from __future__ import annotations

import os

import pytest

from tests.install_harness import chart_sources, install_cluster, make_real_install  # noqa: F401
from tests.test_tui_support import aio, choose, install, present, settle, tick, type_into, wait_for


@pytest.mark.slow
def test_whole_flow_from_an_empty_directory_to_done_on_the_real_cluster(tmp_path, install_cluster, monkeypatch):
    from kubernetes import client

    from screens.app import WizardApp
    from screens.session import Answers
    from wizard.context import Options

    run = make_real_install(tmp_path, install_cluster)
    kube_env = run.env
    for key, value in kube_env.items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    node = client.CoreV1Api(install_cluster.api).read_node(install_cluster.kube.node)
    address = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    try:
        options = Options(timeout=60, resolve=run.resolve(), ca_bundle=str(run.ca_bundle), kubeconfig=kube_env["KUBECONFIG"])
        directory = tmp_path / "fresh"
        answers = Answers(directory, {"charts": chart_sources()})
        app = WizardApp(directory, answers=answers, options=options, animate=False, save_delay=0.05)
        _drive(app, run, node.metadata.name, node.status.node_info, address)
    finally:
        run.stop()
    state = (directory / "state.json").read_text()
    assert '"failed"' not in state and state.count('"done"') == 9
    assert "example-client-secret" not in (directory / "answers.yaml").read_text()
    assert "example-client-secret" not in (directory / "install.log").read_text()
    assert "example-client-secret" in (directory / "secret.yaml").read_text()
    assert oct((directory / "secret.yaml").stat().st_mode & 0o777) == "0o600"


@aio
async def _drive(app, run, node: str, info, address: str) -> None:
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.click("#start")
        await wait_for(pilot, lambda: present(app, "#seen") and node in str(app.screen.query_one("#seen").render()),
                       timeout=60)
        seen = str(app.screen.query_one("#seen").render())
        assert "v1.37.2" in seen and info.container_runtime_version in seen and address in seen, seen
        assert f"Suggested public IP: {address}" in seen
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: present(app, "#f-network-domain"))
        await type_into(pilot, "network.public_ip", "203.0.113.10")
        await type_into(pilot, "network.domain", "example.org")
        await type_into(pilot, "tls.acme_email", "ops@example.org")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: present(app, "#f-ingress-controller"))
        await choose(pilot, "ingress.controller", "ingress-nginx")
        assert app.screen.query_one("#nginx-note").display
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: present(app, "#f-registry-url"))
        await type_into(pilot, "registry.url", "https://registry.example.org")
        await type_into(pilot, "registry.username", "robot")
        await type_into(pilot, "registry.password", "example-registry-password")
        assert app.answers.get("registry.image_prefix") == "registry.example.org/binder/r2d-"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: present(app, "#f-auth-realm"))
        await type_into(pilot, "auth.keycloak_url", "https://sso.example.org")
        await type_into(pilot, "auth.realm", "binder")
        await type_into(pilot, "auth.client_secret", "example-client-secret")
        await type_into(pilot, "auth.admin_users", "adminuser1")
        await tick(pilot, "auth.allow_all", True)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: present(app, "#f-hub-named-servers"))
        # No launch check: the test cluster's pods run no processes, so nothing could launch.
        await tick(pilot, "launch.enabled", False)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: present(app, "#install") and not app.screen.query_one("#install").disabled,
                       timeout=60)
        plan_text = str(app.screen.query_one("#plan").render())
        assert "config.yaml" in plan_text and "helm upgrade --install binder" in plan_text
        answers_text = str(app.screen.query_one("#answers").render())
        assert "example-client-secret" not in answers_text and "****" in answers_text
        await install(pilot)
        await wait_for(pilot, lambda: type(app.screen).__name__ in ("DoneScreen",) or (
            type(app.screen).__name__ == "ProgressScreen" and app.screen.query_one("#failure").display), timeout=240)
        if type(app.screen).__name__ != "DoneScreen":
            raise AssertionError(str(app.screen.query_one("#explanation").render()))
        summary = str(app.screen.query_one("#summary").render())
        assert "https://binder.example.org/" in summary and "adminuser1" in summary
        await settle(pilot)
        await pilot.click("#quit")
