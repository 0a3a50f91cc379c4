"""Each check fails when its condition is broken, with the message the user sees; and passes
when it holds. In-process against the fake API server."""

from __future__ import annotations

import base64
import copy
import json
import threading

import pytest

from tests.variants import BASE
from wizard import checks
from wizard.context import CheckFailed, Context, Options, PreflightRefused
from wizard.kube import Cluster
from wizard.runner import Runner
from wizard.settings import load_answers


def context(fake, tmp_path, changes: dict | None = None, timeout: float = 2) -> Context:
    raw = copy.deepcopy(BASE)
    for section, values in (changes or {}).items():
        raw.setdefault(section, {}).update(values)
    settings = load_answers(raw).settings
    notes: list[str] = []
    ctx = Context(settings, tmp_path, Runner(tmp_path / "install.log"), Options(timeout=timeout),
                  notify=lambda stage, message: notes.append(message),
                  cluster_factory=lambda: Cluster(str(fake.kubeconfig_path)))
    ctx.notes = notes
    return ctx


def storage_class(name: str, default: bool) -> dict:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true" if default else "false"}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "openebs.io/local",
            "metadata": {"name": name, "annotations": annotations}}


def failure(check, ctx) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        check(ctx)
    return info.value


def test_storage_needs_the_class(fake_kube, tmp_path):
    err = failure(checks.storage, context(fake_kube, tmp_path, timeout=0.5))
    assert "openebs-hostpath" in str(err) and "does not exist" in str(err)


def test_storage_needs_it_default(fake_kube, tmp_path):
    fake_kube.create(storage_class("openebs-hostpath", default=False))
    assert "not marked default" in str(failure(checks.storage, context(fake_kube, tmp_path)))


def test_storage_refuses_two_defaults_and_names_the_other(fake_kube, tmp_path):
    fake_kube.create(storage_class("openebs-hostpath", default=True))
    fake_kube.create(storage_class("local-path", default=True))
    ctx = context(fake_kube, tmp_path)
    assert "local-path" in str(failure(checks.storage, ctx))
    assert checks.other_defaults(ctx) == ["local-path"]


def test_storage_passes_with_one_default(fake_kube, tmp_path):
    fake_kube.create(storage_class("openebs-hostpath", default=True))
    fake_kube.create(storage_class("local-path", default=False))
    checks.storage(context(fake_kube, tmp_path))


def _ingress_objects(fake, external_ips):
    fake.create({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "traefik", "namespace": "traefik"},
                 "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "t"}},
                          "template": {"metadata": {"labels": {"app": "t"}},
                                       "spec": {"containers": [{"name": "t", "image": "traefik"}]}}}}, "traefik")
    fake.mark_deployment_available("traefik", "traefik")
    fake.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "traefik", "namespace": "traefik"},
                 "spec": {"type": "ClusterIP", "externalIPs": external_ips,
                          "ports": [{"name": "web", "port": 80}]}}, "traefik")
    fake.create({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "traefik"},
                 "spec": {"controller": "traefik.io/ingress-controller"}})


def test_ingress_needs_the_public_ip_in_external_ips(fake_kube, tmp_path):
    fake_kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "traefik"}})
    _ingress_objects(fake_kube, ["198.51.100.99"])
    err = failure(checks.ingress, context(fake_kube, tmp_path))
    assert err.check == "ingress-external-ip" and "203.0.113.10" in err.problem


def test_ingress_passes(fake_kube, tmp_path):
    fake_kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "traefik"}})
    _ingress_objects(fake_kube, ["203.0.113.10"])
    checks.ingress(context(fake_kube, tmp_path))


def _install_issuer_crd(fake):
    import yaml

    from tests.conftest import upstream

    fake.create(yaml.safe_load(upstream("cert-manager.io_clusterissuers.yaml").read_text()))
    fake.create(yaml.safe_load(upstream("cert-manager.io_certificates.yaml").read_text()))


def _issuer(fake):
    fake.create({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "letsencrypt-prod"},
                 "spec": {"acme": {"server": "https://acme.invalid", "privateKeySecretRef": {"name": "k"},
                                   "solvers": []}}})


def test_issuer_false_shows_its_message(fake_kube, tmp_path):
    _install_issuer_crd(fake_kube)
    _issuer(fake_kube)
    fake_kube.set_condition("clusterissuers.cert-manager.io", None, "letsencrypt-prod", "Ready", "False",
                            reason="ErrRegisterACMEAccount", message="Failed to register ACME account: invalid email")
    err = failure(checks.issuer, context(fake_kube, tmp_path))
    assert "invalid email" in err.problem and "acme_email" in err.next_step


def test_issuer_ready_is_noticed_when_it_happens(fake_kube, tmp_path):
    _install_issuer_crd(fake_kube)
    _issuer(fake_kube)
    ctx = context(fake_kube, tmp_path, timeout=10)
    timer = threading.Timer(0.3, fake_kube.set_condition, ("clusterissuers.cert-manager.io", None,
                                                           "letsencrypt-prod", "Ready", "True"))
    timer.start()
    checks.issuer(ctx)
    assert any("waiting up to 10s, until" in note and "ClusterIssuer letsencrypt-prod" in note for note in ctx.notes)


def test_cert_manager_webhook_down_is_explained(fake_kube, tmp_path):
    fake_kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}})
    err = failure(checks.cert_manager_api, context(fake_kube, tmp_path, timeout=0.5))
    assert "cert-manager-webhook" in str(err)


def test_cert_manager_without_crds_is_explained(fake_kube, tmp_path):
    fake_kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}})
    fake_kube.create({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "cert-manager-webhook", "namespace": "cert-manager"},
                      "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "w"}},
                               "template": {"metadata": {"labels": {"a": "w"}},
                                            "spec": {"containers": [{"name": "w", "image": "w"}]}}}}, "cert-manager")
    fake_kube.mark_deployment_available("cert-manager", "cert-manager-webhook")
    err = failure(checks.cert_manager_api, context(fake_kube, tmp_path, timeout=1))
    assert "CRDs are missing" in err.problem
    # Retried until the deadline: accepted once the CRDs appear (as cainjector's CA would).
    ctx = context(fake_kube, tmp_path, timeout=20)
    timer = threading.Timer(0.5, _install_issuer_crd, (fake_kube,))
    timer.start()
    checks.cert_manager_api(ctx)
    timer.join()
    assert any("dry-run Certificate" in note for note in ctx.notes)


def test_ingress_nginx_admission_is_retried_until_it_accepts_an_ingress(fake_kube, tmp_path):
    """The fake has no webhook to call: a namespace that appears late stands in for a webhook that
    answers late (both make the dry-run create fail, then succeed)."""
    nginx = {"ingress": {"controller": "ingress-nginx"}}
    err = failure(checks.ingress_admission, context(fake_kube, tmp_path, nginx, timeout=1))
    assert err.check == "ingress-admission" and "BinderHub's Ingresses would be refused" in err.problem
    assert "ingress-nginx-controller" in err.next_step
    ctx = context(fake_kube, tmp_path, nginx, timeout=20)
    timer = threading.Timer(0.5, fake_kube.create, ({"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": "ingress-nginx"}},))
    timer.start()
    checks.ingress_admission(ctx)
    timer.join()
    assert any("admission webhook to accept a dry-run Ingress" in note for note in ctx.notes)
    assert fake_kube.list("ingresses", "ingress-nginx") == [], "a dry run stores nothing"


def _pull_secret(fake, registry: str) -> None:
    config = {"auths": {registry: {"username": "robot", "password": "registry-pass"}}}
    fake.create({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                 "metadata": {"name": "image-pull-secret", "namespace": "binder"},
                 "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}, "binder")


def test_the_pull_secret_must_exist_for_the_image_prefix_host(fake_kube, tmp_path):
    fake_kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "binder"}})
    err = failure(checks.pull_secret, context(fake_kube, tmp_path))
    assert err.check == "pull-secret" and "is missing" in err.problem and "ErrImagePull" in err.problem
    assert "imagePullSecret" in err.next_step and "binderhub" in err.next_step
    _pull_secret(fake_kube, "other.example.org")
    err = failure(checks.pull_secret, context(fake_kube, tmp_path))
    assert "no credentials for registry.example.org" in err.problem and "registry-pass" not in str(err)
    fake_kube.store.delete(fake_kube.kind("secrets"), "binder", "image-pull-secret")
    _pull_secret(fake_kube, "registry.example.org")
    checks.pull_secret(context(fake_kube, tmp_path))


def test_preflight_refuses_registry_none_on_containerd(fake_kube, tmp_path):
    fake_kube.add_node("node-1", runtime="containerd://2.0.5")
    ctx = context(fake_kube, tmp_path, {"registry": {"type": "none"}})
    with pytest.raises(PreflightRefused) as info:
        checks.nodes_ready(ctx)
    assert "containerd://2.0.5" in info.value.problem
    assert "external" in info.value.next_step and "in-cluster" in info.value.next_step


def test_preflight_reads_the_runtime(fake_kube, tmp_path):
    fake_kube.add_node("node-1", runtime="docker://24.0.7")
    ctx = context(fake_kube, tmp_path, {"registry": {"type": "none"}, "cluster": {"runtime": "docker"}})
    checks.nodes_ready(ctx)
    assert ctx.facts["runtime"] == "docker"


def test_preflight_needs_a_ready_node_and_permissions(fake_kube, tmp_path):
    fake_kube.add_node("node-1", ready=False)
    with pytest.raises(PreflightRefused, match="no node is Ready"):
        checks.nodes_ready(context(fake_kube, tmp_path))
    fake_kube.deny(verb="create")
    with pytest.raises(PreflightRefused, match="cluster-scoped"):
        checks.may_create_cluster_objects(context(fake_kube, tmp_path))


def test_preflight_without_api_is_refused(fake_kube, tmp_path):
    fake_kube.stop()
    with pytest.raises(PreflightRefused, match="does not answer"):
        checks.api_answers(context(fake_kube, tmp_path))


def test_preflight_warns_when_another_service_holds_the_ip(fake_kube, tmp_path):
    fake_kube.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "old-nginx", "namespace": "default"},
                      "spec": {"type": "ClusterIP", "externalIPs": ["203.0.113.10"], "ports": [{"port": 80}]}},
                     "default")
    ctx = context(fake_kube, tmp_path)
    checks.public_ip_free(ctx)
    assert any("default/old-nginx" in note for note in ctx.notes)


# --- the registry stage against the fake cluster and a local registry over TLS ---------------

def _registry_context(fake, tmp_path, password: str, ca_bundle, resolve, changes=None):
    from wizard.secretstore import values as secret_values
    from wizard.yamlio import dumps

    ctx = context(fake, tmp_path, changes)
    (tmp_path / "secret.yaml").write_text(dumps(secret_values({"registry.password": password})))
    ctx.options.ca_bundle = str(ca_bundle) if ca_bundle else None
    ctx.options.resolve = resolve
    return ctx


@pytest.fixture
def registry(tmp_path):
    from tests.registry_standin import Behaviour, RegistryStandin, make_ca

    ca = make_ca(tmp_path / "registry-ca")
    with RegistryStandin(ca, Behaviour(username="robot", password="right-password")) as server:
        yield server, ca


def test_registry_stage_passes_with_good_credentials(fake_kube, tmp_path, registry):
    server, ca = registry
    checks.registry(_registry_context(fake_kube, tmp_path, "right-password", ca.ca_path, server.resolve))


@pytest.mark.parametrize("case,expected", [
    ("wrong-password", "registry-credentials"),
    ("untrusted", "registry-certificate"),
    ("unreachable", "registry-refused"),
])
def test_registry_stage_failures_have_their_own_message(fake_kube, tmp_path, registry, case, expected):
    server, ca = registry
    password = "wrong" if case == "wrong-password" else "right-password"
    bundle = None if case == "untrusted" else ca.ca_path
    resolve = {"registry.example.org": "127.0.0.1:9"} if case == "unreachable" else server.resolve
    err = failure(checks.registry, _registry_context(fake_kube, tmp_path, password, bundle, resolve))
    assert err.check == expected, str(err)
    assert "right-password" not in str(err) and "wrong" not in err.problem.replace("wrong password", "")


def test_in_cluster_registry_stage_waits_for_it_and_refuses_anonymous_access(fake_kube, tmp_path):
    from tests.registry_standin import Behaviour, RegistryStandin, make_ca

    _install_issuer_crd(fake_kube)
    fake_kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "registry"}})
    fake_kube.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "registry", "namespace": "registry"},
                      "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "r"}},
                               "template": {"metadata": {"labels": {"a": "r"}},
                                            "spec": {"containers": [{"name": "r", "image": "registry:3"}]}}}}, "registry")
    fake_kube.mark_deployment_available("registry", "registry")
    fake_kube.create({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                      "metadata": {"name": "registry-tls", "namespace": "registry"},
                      "spec": {"secretName": "registry-tls", "dnsNames": ["registry.example.org"],
                               "issuerRef": {"name": "letsencrypt-prod", "kind": "ClusterIssuer"}}}, "registry")
    fake_kube.set_condition("certificates.cert-manager.io", "registry", "registry-tls", "Ready", "True")
    ca = make_ca(tmp_path / "registry-ca")
    in_cluster = {"registry": {"type": "in-cluster", "username": "binder"}}
    with RegistryStandin(ca, Behaviour(username="binder", password="generated")) as server:
        ctx = _registry_context(fake_kube, tmp_path, "generated", ca.ca_path, server.resolve, in_cluster)
        assert ctx.settings.registry.url == "https://registry.example.org"
        checks.registry(ctx)
    with RegistryStandin(ca, Behaviour(auth="open")) as open_server:
        ctx = _registry_context(fake_kube, tmp_path, "generated", ca.ca_path, open_server.resolve, in_cluster)
        err = failure(checks.registry, ctx)
        assert "without credentials" in err.problem


def test_preflight_corrects_runtime_and_node_count_from_the_cluster(fake_kube, tmp_path):
    fake_kube.add_node("node-1", runtime="docker://24.0.7")
    fake_kube.add_node("node-2", runtime="docker://24.0.7")
    ctx = context(fake_kube, tmp_path)
    asked: list[dict] = []

    def rerender(overrides: dict):
        asked.append(overrides)
        return context(fake_kube, tmp_path, overrides).settings

    ctx.rerender = rerender
    checks.nodes_ready(ctx)
    assert asked == [{"cluster": {"runtime": "docker", "nodes": 2}}]
    assert ctx.settings.cluster.runtime == "docker" and ctx.settings.cluster.nodes == 2
    assert any("2 node(s) running docker" in note for note in ctx.notes)
