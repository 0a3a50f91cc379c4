"""The launch-check service as the hub pod loads it: config.yaml and secret.yaml rendered by the
wizard, `helm template` of the real BinderHub chart, z2jh's own jupyterhub_config.py run on the
rendered hub ConfigMap and Secret (tests/z2jh_hub.py), then JupyterHub 5.3's own start-up steps
(database, roles, users, services, API tokens, role assignment) on an in-memory database. Proves the
hub accepts the service, its token and its role, and that the role grants exactly the scopes
README names. It cannot show the hub's HTTP API answering (tests/test_launch.py uses a stand-in
that applies the same scope expansion)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from tests.conftest import fixed_tokens
from tests.real_charts import Template, helm_template_many
from tests.rendering import render, yaml_of
from tests.variants import variant
from wizard.render.values import LAUNCH_SERVICE
from wizard.settings import load_answers

EXPECTED = {
    "production-keycloak-traefik": {f"{scope}!user=launch-check" for scope in (
        "admin:users", "delete:users", "tokens", "delete:servers")},
    "anonymous": {"delete:servers", "delete:users"},
}


def hub_of(name: str, tmp_path):
    from tests.z2jh_hub import load

    files = render(variant(name), token=fixed_tokens())
    s = load_answers(variant(name)).settings
    job = Template("binderhub", s.cluster.release, s.cluster.namespace,
                   (files["config.yaml"].content, files["secret.yaml"].content))
    config = load(helm_template_many([job])[job], s.cluster.namespace, tmp_path / "hub")
    token = yaml_of(files, "secret.yaml")["jupyterhub"]["hub"]["services"][LAUNCH_SERVICE]["apiToken"]
    return config, token


async def start_up(config):
    """JupyterHub.initialize's steps up to the role assignment (app.py, in its order)."""
    from jupyterhub.app import JupyterHub

    app = JupyterHub(config=config)
    app.init_db()
    app.init_hub()
    app.init_oauth()
    await app.init_role_creation()
    await app.init_users()
    app.init_services()
    await app.init_api_tokens()
    await app.init_role_assignment()
    return app


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_hub_loads_the_launch_check_service_with_its_token_and_minimal_role(name, tmp_path, monkeypatch):
    from jupyterhub import orm, scopes

    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", secrets.token_hex(32))  # z2jh gives the hub pod one
    config, token = hub_of(name, tmp_path)
    config.JupyterHub.db_url = "sqlite://"
    config.JupyterHub.cookie_secret_file = str(tmp_path / "cookie-secret")
    app = asyncio.run(start_up(config))
    service = orm.Service.find(app.db, LAUNCH_SERVICE)
    assert service is not None
    assert [role.name for role in service.roles] == [LAUNCH_SERVICE]
    assert orm.APIToken.find(app.db, token).service is service, "the token in secret.yaml is the service's"
    granted = scopes.get_scopes_for(service)
    held = {scope for scope in granted if scope.split("!")[0] in
            {"admin:users", "delete:users", "tokens", "delete:servers", "servers", "users", "read:users"}}
    assert EXPECTED[name] <= held
    if name == "anonymous":
        assert granted == EXPECTED[name], "anonymous: nothing but stopping servers and deleting users"
    else:
        assert all(scope.endswith("!user=launch-check") for scope in granted), sorted(granted)
