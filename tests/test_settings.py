"""The answers model: defaults, every problem at once, checks across fields, secrets never shown."""

from __future__ import annotations

import copy

import pytest

from wizard.settings import FIELDS, check_field, load_answers
from tests.variants import BASE, variant


def problems(raw) -> dict[str, str]:
    result = load_answers(raw)
    assert not result.ok
    return {p.path: str(p) for p in result.problems}


def warnings(raw) -> dict[str, str]:
    result = load_answers(raw)
    assert result.ok, [str(p) for p in result.problems]
    return {w.path: str(w) for w in result.warnings}


def test_defaults_fill_what_is_left_out():
    settings = load_answers(BASE).settings
    assert settings.network.binder_host == "binder.example.org"
    assert settings.network.hub_host == "hub.example.org"
    assert settings.cluster.namespace == "binder" and settings.cluster.release == "binder"
    assert settings.storage.storage_class == "openebs-hostpath"
    assert settings.tls.acme_server == "production"
    assert settings.auth.client_id == "binderhub"
    assert settings.hub.user_storage.capacity == "10Gi"


def test_every_problem_is_listed_at_once_with_path_why_and_allowed():
    raw = copy.deepcopy(BASE)
    raw["network"]["public_ip"] = "127.0.0.1"
    raw["tls"]["acme_email"] = "not-an-email"
    raw["cluster"] = {"namespace": "Bad_NS"}
    raw["hub"] = {"user_storage": {"capacity": "10GB"}, "named_server_limit": "five"}
    raw["auth"]["keycloak_url"] = "http://sso.example.org"
    found = problems(raw)
    assert set(found) == {"network.public_ip", "tls.acme_email", "cluster.namespace",
                          "hub.user_storage.capacity", "hub.named_server_limit", "auth.keycloak_url"}
    assert "loopback" in found["network.public_ip"] and "allowed:" in found["network.public_ip"]
    assert "'127.0.0.1'" in found["network.public_ip"]


def test_unknown_keys_are_named_with_the_known_ones():
    raw = copy.deepcopy(BASE)
    raw["network"]["publicip"] = "1.2.3.4"
    raw["hub"] = {"cull": {"timeot": 10}}
    raw["extras"] = {}
    found = problems(raw)
    assert "public_ip" in found["network.publicip"]
    assert "timeout" in found["hub.cull.timeot"]
    assert "extras" in found


def test_secrets_are_never_echoed():
    raw = copy.deepcopy(BASE)
    raw["auth"]["client_secret"] = "line\nbreak-SECRET-VALUE"
    raw["registry"]["password"] = ["SECRET-IN-A-LIST"]
    raw["hub"] = {"database": {"type": "postgres", "url": "postgresql://u:SECRET-PW@db/hub"}}
    result = load_answers(raw)
    text = "\n".join(str(p) for p in result.problems)
    assert {"auth.client_secret", "registry.password", "hub.database.url"} <= {p.path for p in result.problems}
    for secret in ("SECRET-VALUE", "SECRET-IN-A-LIST", "SECRET-PW"):
        assert secret not in text
    assert "(hidden)" in text


def test_required_fields_depend_on_choices():
    raw = copy.deepcopy(BASE)
    del raw["registry"]["password"], raw["auth"]["client_secret"]
    found = problems(raw)
    assert set(found) == {"registry.password", "auth.client_secret"}
    anonymous = variant("anonymous")
    del anonymous["registry"]
    assert set(problems(anonymous)) == {"registry.url", "registry.password", "registry.image_prefix",
                                        "registry.username"}


def test_stored_secrets_fill_missing_ones():
    raw = copy.deepcopy(BASE)
    del raw["auth"]["client_secret"]
    result = load_answers(raw, {"auth.client_secret": "from-secret-yaml"})
    assert result.ok and result.settings.auth.client_secret == "from-secret-yaml"


def test_an_allow_rule_is_required_with_login():
    raw = copy.deepcopy(BASE)
    raw["auth"] = dict(raw["auth"], allow_all=False, admin_users=[])
    assert "nobody could log in" in problems(raw)["auth.allow_all"]
    raw["auth"]["admin_users"] = ["admin"]
    assert "only the admin users" in warnings(raw)["auth.allow_all"]
    raw["auth"]["allowed_groups"] = ["staff"]
    assert "auth.allow_all" not in warnings(raw)


def test_hosts_must_differ():
    raw = copy.deepcopy(BASE)
    raw["network"].update(binder_host="x.example.org", hub_host="X.example.org")
    assert "same as network.binder_host" in problems(raw)["network.hub_host"]


def test_registry_none_warns_on_containerd_only():
    none = variant("no-registry-docker")
    assert "registry.type" not in warnings(none)
    none["cluster"]["runtime"] = "containerd"
    assert "containerd" in warnings(none)["registry.type"]


@pytest.mark.parametrize("server", ["staging", "https://acme-staging-v02.api.letsencrypt.org/directory"])
def test_staging_certificates_are_refused_with_the_in_cluster_registry(server):
    raw = variant("in-cluster-registry")
    raw["tls"]["acme_server"] = server
    problem = problems(raw)["tls.acme_server"]
    assert "containerd" in problem and "dind" in problem and "every push and pull" in problem
    assert "production" in problem and "registry.type external" in problem  # the two ways out
    external = variant("production-keycloak-traefik")
    external["tls"]["acme_server"] = server
    assert load_answers(external).ok, "an external registry has its own certificate"


def test_culling_is_on_by_default_and_off_without_login_warns():
    assert load_answers(BASE).settings.hub.cull.enabled is True
    anonymous = variant("anonymous")
    assert "hub.cull.enabled" not in warnings(anonymous)
    anonymous["hub"] = {"cull": {"enabled": False}}
    assert "nothing stops" in warnings(anonymous)["hub.cull.enabled"]
    with_login = copy.deepcopy(BASE)
    with_login["hub"] = {"cull": {"enabled": False}}
    assert "hub.cull.enabled" not in warnings(with_login)


@pytest.mark.parametrize("auth", ["keycloak", "none"])
@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("named_servers", [True, False])
def test_why_culling_matters_fits_the_hub_screen_and_names_the_limit(auth, enabled, named_servers):
    from wizard.render.values import culling_why

    short = culling_why(auth, enabled, 3600, named_servers, 5, short=True)
    long = culling_why(auth, enabled, 3600, named_servers, 5)
    assert 0 < len(short) <= 62, "one line of the hub screen at 80 columns"
    assert short.startswith("Off") == (not enabled) and long.startswith("Culling is off") == (not enabled)
    limited = auth == "keycloak" and named_servers
    assert ("5" in short) == limited and ("5 per user" in long or "with 5" in long) == limited


def test_the_ingress_nginx_warning_names_the_fixed_cves():
    warning = warnings(variant("ingress-nginx-staging"))["ingress.controller"]
    for text in ("retired", "March 2026", "4.14.5", "CVE-2026-1580", "CVE-2026-24512", "1.14.3",
                 "CVE-2026-3288", "1.14.4"):
        assert text in warning


def test_guarantees_may_not_exceed_limits():
    raw = copy.deepcopy(BASE)
    raw["hub"] = {"resources": {"memory_limit": "1Gi", "memory_guarantee": "2G", "cpu_limit": 1, "cpu_guarantee": 2}}
    found = problems(raw)
    assert "hub.resources.memory_guarantee" in found and "hub.resources.cpu_guarantee" in found


def test_local_profile_needs_no_domain_and_says_what_it_is():
    local = variant("local-profile")
    result = load_answers(local)
    assert result.ok and not result.settings.production
    assert "not for production" in {w.path: str(w) for w in result.warnings}["profile"]
    local["network"]["domain"] = "example.org"
    assert "network.domain" in problems(local)


def test_production_needs_domain_and_email():
    raw = copy.deepcopy(BASE)
    del raw["network"]["domain"], raw["tls"]["acme_email"]
    assert {"network.domain", "tls.acme_email"} <= set(problems(raw))


def test_versions_and_chart_sources():
    raw = dict(copy.deepcopy(BASE), versions={"cert-manager": "v1.21.2"},
               charts={"binderhub": "./charts/binderhub.tgz", "traefik": "oci://ghcr.io/traefik/helm/traefik"})
    settings = load_answers(raw).settings
    assert settings.answers["versions"] == {"cert-manager": "v1.21.2"}
    bad = dict(copy.deepcopy(BASE), versions={"nginx": "1.0.0", "binderhub": "latest"})
    assert {"versions.nginx", "versions.binderhub"} <= set(problems(bad))


def test_check_field_is_the_one_the_ui_uses():
    assert check_field("network.domain", "Example.ORG").value == "example.org"
    assert check_field("auth.keycloak_url", "http://sso.example.org", {"auth": {"allow_http": True}}).value
    every_path = {f.path for f in FIELDS}
    assert {"network.public_ip", "auth.client_secret", "hub.resources.memory_limit"} <= every_path


def test_public_answers_hold_no_secret():
    settings = load_answers(variant("postgres-existing-storage")).settings
    public = str(settings.public_answers())
    for secret in ("registry-pass", "client-secret-value", "db-pass"):
        assert secret not in public
    assert settings.public_answers()["hub"]["database"]["url"].startswith("postgresql://")
