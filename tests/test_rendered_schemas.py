"""What we render is what the real charts, CRDs and Kubernetes accept (shared/upstream)."""

from __future__ import annotations

import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.conftest import upstream
from tests.helm_merge import merge
from tests.rendering import documents_of, render, yaml_of
from tests.variants import VARIANTS, variant

K8S_VERSION = "1.33.0"


def _load(name: str):
    return yaml.safe_load(upstream(name).read_text())


def _validator(schema: dict):
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _errors(validator, instance) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance))


@pytest.fixture(scope="module")
def binderhub_schema():
    return _validator(_load("binderhub-schema.yaml"))


@pytest.fixture(scope="module")
def z2jh_schema():
    return _validator(_load("z2jh-4.2.0-values.schema.yaml"))


def chart_values(files) -> tuple[dict, dict]:
    """(binderhub values, jupyterhub subchart values) as helm would merge them."""
    config, secret = yaml_of(files, "config.yaml"), yaml_of(files, "secret.yaml")
    binderhub_defaults = _load("binderhub-values.yaml")
    merged = merge(binderhub_defaults, config, secret)
    subchart = merge(_load("z2jh-4.2.0-values.yaml"), binderhub_defaults["jupyterhub"],
                     config.get("jupyterhub", {}), secret.get("jupyterhub", {}))
    return merged, subchart


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_chart_values_pass_the_upstream_schemas(name, binderhub_schema, z2jh_schema):
    files = render(variant(name))
    merged, subchart = chart_values(files)
    assert _errors(binderhub_schema, merged) == []
    assert _errors(z2jh_schema, subchart) == []


def test_the_schema_check_catches_an_outdated_key(binderhub_schema, z2jh_schema):
    """The original notes' HTTPS layout and a misspelt z2jh key must fail: the check can fail."""
    files = render(variant("production-keycloak-traefik"))
    merged, subchart = chart_values(files)
    merged["ingress"]["https"]["letsencrypt"] = {"contactEmail": "ops@example.org"}
    subchart["hub"]["allowNamedServer"] = True
    assert any("letsencrypt" in e for e in _errors(binderhub_schema, merged))
    assert any("allowNamedServer" in e for e in _errors(z2jh_schema, subchart))


def test_no_secret_in_config_yaml():
    raw = variant("postgres-existing-storage")
    files = render(raw, token=iter(["a" * 64, "b" * 64, "c" * 64]).__next__)
    config = files["config.yaml"].content
    for secret in ("registry-pass", "client-secret-value", "db-pass", "a" * 64, "b" * 64, "c" * 64):
        assert secret not in config
        assert secret in files["secret.yaml"].content
    assert files["secret.yaml"].mode == 0o600


@pytest.mark.parametrize("name", ["production-keycloak-traefik", "custom-acme-groups", "ingress-nginx-staging"])
def test_cluster_issuers_pass_the_cert_manager_crd(name):
    crd = _load("cert-manager.io_clusterissuers.yaml")
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    validator = _validator(version["schema"]["openAPIV3Schema"])
    issuers = documents_of(render(variant(name)), "binderhub-issuer.yaml")
    assert {i["metadata"]["name"] for i in issuers} >= {"letsencrypt-prod", "letsencrypt-staging"}
    for issuer in issuers:
        assert _errors(validator, issuer) == []
        assert issuer["apiVersion"] == "cert-manager.io/v1" and issuer["kind"] == "ClusterIssuer"
    broken = dict(issuers[0], spec={"acme": {"email": "ops@example.org"}})
    assert _errors(validator, broken), "an ACME issuer without server and solvers must fail"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_plain_manifests_pass_kubernetes_validate_strict(name):
    files = render(variant(name))
    manifests = [f for f in files if f.endswith("_configmap.yaml")]
    assert len(manifests) == 4
    for filename in manifests:
        for document in documents_of(files, filename):
            kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    bad = dict(documents_of(files, manifests[0])[0], datta={})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_install_script_passes_shellcheck(name, tmp_path):
    script = tmp_path / "install.sh"
    script.write_text(render(variant(name))["install.sh"].content)
    run = subprocess.run(["shellcheck", "--severity=style", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_python_snippet_compiles():
    for name in sorted(VARIANTS):
        files = render(variant(name))
        config = yaml_of(files, "config.yaml")
        for key, snippet in config["jupyterhub"]["hub"].get("extraConfig", {}).items():
            compile(snippet, f"{name}:{key}", "exec")
        for filename in files:
            if filename.endswith("_configmap.yaml"):
                for key, text in documents_of(files, filename)[0]["data"].items():
                    if key.endswith(".py"):
                        compile(text, f"{filename}:{key}", "exec")


@pytest.mark.parametrize("name", ["production-keycloak-traefik", "custom-acme-groups", "no-tokens-no-storage",
                                  "local-profile", "anonymous"])
def test_rendered_hub_configuration_loads_in_jupyterhub_without_warnings(name):
    """The hub configuration, as the chart merges it, loads in JupyterHub 5.3 with oauthenticator
    17.3 with no unknown or deprecated trait, and every role scope exists."""
    from tests.hubconfig import load_hub_config

    _merged, subchart = chart_values(render(variant(name)))
    report = load_hub_config(subchart)
    assert report.problems == []
    if name != "anonymous":
        assert report.authenticator is not None
        assert report.authenticator.client_id == "binderhub"
        assert report.authenticator.oauth_callback_url.endswith("hub/oauth_callback")


def test_image_cleaner_cordons_only_when_there_are_several_nodes():
    one = yaml_of(render(variant("production-keycloak-traefik")), "config.yaml")
    raw = variant("production-keycloak-traefik")
    raw["cluster"] = {"nodes": 3}
    several = yaml_of(render(raw), "config.yaml")
    assert one["imageCleaner"]["cordon"] is False and several["imageCleaner"]["cordon"] is True
