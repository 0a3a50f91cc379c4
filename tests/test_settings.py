"""The answers model: defaults, every problem at once, checks across fields, secrets never shown."""

from __future__ import annotations

import copy

import pytest

from tests.variants import BASE, variant
from wizard import validate as v
from wizard.settings import (
    FIELDS,
    FIELDS_BY_PATH,
    KINDS,
    FieldError,
    check_field,
    load_answers,
    problem_paths,
)
from wizard.settings import REQUIRED as REQUIRED_DEFAULT
from wizard.settings import problems as field_problems


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


# --- fields with a kind: parsed from text and formatted back by the core ---------------------------


# (path, text as typed, the value it parses to)
TYPED = [
    ("cluster.namespace", "binderhub", "binderhub"),
    ("auth.client_secret", " spaced secret ", " spaced secret "),
    ("cluster.nodes", "3", 3),
    ("cluster.nodes", " 12 ", 12),
    ("hub.resources.cpu_limit", "2", 2),
    ("hub.resources.cpu_guarantee", "0.5", 0.5),
    ("hub.resources.cpu_guarantee", "500m", 0.5),
    ("auth.allow_all", "yes", True),
    ("auth.allow_all", "False", False),
    ("auth.admin_users", "alice, bob carol", ["alice", "bob", "carol"]),
    ("auth.admin_users", "", []),
    ("hub.user_storage.capacity", "10Gi", "10Gi"),
    ("auth.type", "none", "none"),
]


@pytest.mark.parametrize("path,text,value", TYPED)
def test_each_kind_parses_typed_text_and_formats_it_back(path, text, value):
    """Proves the core turns text into the value of the field's kind and back (round trip). It
    cannot prove an editor shows that text: the TUI and prompt tests do."""
    spec = FIELDS_BY_PATH[path]
    parsed = spec.parse(text)
    assert parsed == value and type(parsed) is type(value)
    assert spec.parse(spec.format(parsed)) == parsed


# (path, refused text, what the message says is allowed)
REFUSED = [
    ("cluster.nodes", "three", "a whole number from 1 to 5000"),
    ("cluster.nodes", "2.5", "a whole number from 1 to 5000"),
    ("hub.cull.timeout", "", "a whole number from 60 to 31536000 seconds"),
    ("hub.resources.cpu_limit", "two", "a number of CPUs greater than 0"),
    ("auth.pass_tokens", "maybe", "true or false"),
    ("registry.type", "harbor", "external | in-cluster | none"),
]


@pytest.mark.parametrize("path,text,allowed", REFUSED)
def test_text_a_kind_cannot_take_is_refused_naming_the_field_and_what_is_allowed(path, text, allowed):
    with pytest.raises(FieldError) as refused:
        FIELDS_BY_PATH[path].parse(text)
    assert str(refused.value).startswith(f"{path}: ") and allowed in str(refused.value)


def test_every_field_declares_a_kind_that_fits_its_validator():
    """The kinds are declared by hand: a choice must have the validator's choices, a bool the
    boolean validator, a secret the secret validator, and each default must parse back from its text."""
    for spec in FIELDS:
        assert spec.kind in KINDS
        assert (spec.kind == "choice") == bool(spec.choices), spec.path
        assert (spec.kind == "bool") == (spec.check is v.boolean), spec.path
        assert (spec.kind == "secret") == (spec.check is v.secret_text), spec.path
        if not callable(spec.default) and spec.default is not None and spec.default is not REQUIRED_DEFAULT:
            assert spec.parse(spec.format(spec.default)) == spec.default, spec.path


def test_read_parses_and_checks_as_a_prompt_does():
    assert FIELDS_BY_PATH["cluster.nodes"].read("3").value == 3
    with pytest.raises(FieldError, match="cluster.nodes: is out of range"):
        FIELDS_BY_PATH["cluster.nodes"].read("0")


@pytest.mark.parametrize("url", ["https://sso.example.org/realms/binder",
                                 "https://sso.example.org/auth/realms/binder/protocol/openid-connect/auth",
                                 "https://sso.example.org/admin/master/console/"])
def test_a_pasted_realm_url_is_refused_with_the_fix(url):
    raw = copy.deepcopy(BASE)
    raw["auth"]["keycloak_url"] = url
    found = problems(raw)["auth.keycloak_url"]
    assert "https://HOST/auth" in found and "the realm goes in auth.realm" in found
    raw["auth"]["keycloak_url"] = "https://sso.example.org/auth"
    assert load_answers(raw).ok


def test_rules_across_fields_run_even_where_single_fields_fail():
    """Every problem at once: a refused field elsewhere does not hide a rule across two valid fields."""
    raw = copy.deepcopy(BASE)
    raw["network"]["public_ip"] = "127.0.0.1"
    raw["network"].update(binder_host="same.example.org", hub_host="same.example.org")
    raw["hub"] = {"resources": {"cpu_limit": 1, "cpu_guarantee": 2}, "cull": {"timeout": 5}}
    found = problems(raw)
    assert set(found) == {"network.public_ip", "network.hub_host", "hub.resources.cpu_guarantee",
                          "hub.cull.timeout"}
    assert "same as network.binder_host" in found["network.hub_host"]


def test_a_rule_whose_field_failed_waits_for_it():
    raw = copy.deepcopy(BASE)
    raw["hub"] = {"resources": {"cpu_limit": "lots", "cpu_guarantee": 2}}
    assert set(problems(raw)) == {"hub.resources.cpu_limit"}, "no guess about a limit that is not a number"


def test_problems_of_the_fields_shown_include_the_rules_that_read_them():
    raw = copy.deepcopy(BASE)
    raw["network"].update(binder_host="same.example.org", hub_host="same.example.org")
    raw["registry"] = {"type": "in-cluster", "host": "same.example.org"}
    raw["tls"]["acme_email"] = "nobody"
    network = ("profile", "network.public_ip", "network.domain", "network.binder_host", "network.hub_host",
               "tls.acme_email", "tls.acme_server")
    found = field_problems(raw, network)
    assert set(found) == {"network.hub_host", "tls.acme_email"}
    assert found["network.hub_host"].startswith("is the same as network.binder_host")
    assert "registry.host is the same as the binder or hub host" in found["network.hub_host"], \
        "a rule naming a field of another screen is shown beside the field of this one it reads"
    registry = ("registry.type", "registry.host", "registry.username")
    assert field_problems(raw, registry) == {"registry.host": "is the same as the binder or hub host "
                                                              "(allowed: a host name of its own)"}
    assert field_problems(raw, ("cluster.namespace",)) == {}
    assert problem_paths(raw) == ["network.hub_host", "tls.acme_email", "registry.host"]


def test_a_rule_naming_a_field_asked_later_waits_for_that_screen():
    """Profile local with an in-cluster registry: the network screen (profile) does not hold it
    up, since the registry screen (asked later) shows it; the registry screen does."""
    raw = copy.deepcopy(variant("local-profile"))
    raw["registry"] = {"type": "in-cluster"}
    registry = ("registry.type", "registry.host")
    assert field_problems(raw, ("profile",)) == {"profile": "registry.type in-cluster needs a domain and "
                                                 "certificates (allowed: external or none with profile: local, "
                                                 "or profile: production)"}
    assert field_problems(raw, ("profile",), later=registry) == {}
    assert "in-cluster needs a domain" in field_problems(raw, registry)["registry.type"]
    staging = variant("in-cluster-registry")
    staging["tls"]["acme_server"] = "staging"
    network = ("profile", "network.binder_host", "network.hub_host", "tls.acme_server")
    assert field_problems(staging, network, later=registry) == {}, "the rule reads registry.type: it waits"
    assert "tls.acme_server staging certificates" in field_problems(staging, registry)["registry.type"]


@pytest.mark.parametrize("path,text,allowed", [
    ("hub.user_storage.capacity", "10 gigs", "a size such as 10Gi"),
    ("auth.admin_users", "alice, bob/x", "a list of user names"),
    ("cluster.namespace", "Bad_NS", "lower-case letters, digits and '-'"),
    ("auth.client_secret", "two\nlines", "a secret of 1 to 4096 characters"),
])
def test_text_size_list_and_secret_kinds_leave_the_refusal_to_the_check_which_names_the_field(path, text, allowed):
    """These kinds take any text (a list splits it); Field.read, as the prompts use it, refuses it
    with the field's name and what is allowed, never echoing a secret."""
    with pytest.raises(FieldError) as refused:
        FIELDS_BY_PATH[path].read(text)
    assert str(refused.value).startswith(f"{path}: ") and allowed in str(refused.value)
