"""Each check fails when its condition is broken, with the message the user sees; and passes
when it holds. In-process, against the real control plane (tests/realkube).

What the real server proves here: the checks' list/watch/read calls parse real answers (the
python client's strict models), Deployments turn Available through the real deployment
controller, scheduler and kwok's pods, a dry run goes through real admission (a real
ValidatingWebhookConfiguration, the real cert-manager CRD schemas) and stores nothing, RBAC
answers the access review for a user without rights. What it cannot: cert-manager, an ingress
controller and a kubelet do not run. The conditions and addresses they would write are set with
the named helpers of tests/realkube/standins.py, kwok plays the kubelet (on the API server
without nodes, standins.register_node writes what a kubelet would post), and the admission
webhook's server is a stand-in that allows everything once it listens.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.http_standin import IngressControllerStandin
from tests.realkube import nodes, objects, standins
from tests.realkube.waiting import wait_for
from tests.test_realkube import available, deployment
from tests.variants import BASE
from wizard import checks
from wizard.context import CheckFailed, Context, Options, PreflightRefused
from wizard.kube import Cluster
from wizard.runner import Runner
from wizard.settings import load_answers

# The namespaces the wizard names itself (INGRESS_DEPLOYMENTS, cert_manager_api, the in-cluster registry).
FIXED_NAMESPACES = ("traefik", "cert-manager", "ingress-nginx", "registry")


def context(kubeconfig: Path | None, tmp_path, changes: dict | None = None, timeout: float = 2,
            resolve: dict[str, str] | None = None) -> Context:
    """A check's context over `kubeconfig`; None for a check that must not touch the cluster."""
    raw = copy.deepcopy(BASE)
    for section, values in (changes or {}).items():
        raw.setdefault(section, {}).update(values)
    settings = load_answers(raw).settings
    notes: list[str] = []

    def cluster() -> Cluster:
        assert kubeconfig is not None, "this check should not need the cluster"
        return Cluster(str(kubeconfig))
    ctx = Context(settings, tmp_path, Runner(tmp_path / "install.log"),
                  Options(timeout=timeout, resolve=resolve or {}),
                  notify=lambda stage, message: notes.append(message), cluster_factory=cluster)
    ctx.notes = notes
    return ctx


def failure(check, ctx) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        check(ctx)
    return info.value


@pytest.fixture(scope="module", autouse=True)
def fixed_namespaces(real_kube):
    """Made once for the module, removed (and waited for) after it."""
    made = [name for name in FIXED_NAMESPACES if objects.ensure_namespace(real_kube.api, name)]
    yield
    for name in made:  # all at once, then wait: the namespace controller takes ~5 s over each
        objects.delete_namespace(real_kube.api, name, wait=False)
    for name in made:
        objects.delete_namespace(real_kube.api, name)


@pytest.fixture
def undo():
    """Deletions to run after the test (404 ignored): the next test finds the cluster as it was."""
    steps: list = []
    yield steps.append
    for step in reversed(steps):
        try:
            step()
        except ApiException as error:
            if error.status != 404:
                raise


# --- storage ---------------------------------------------------------------------------------------

def _storage(name: str) -> dict:
    return {"storage": {"provisioner": "existing", "storage_class": name}}


def _storage_class(api, undo, name: str, default: bool) -> None:
    storage = client.StorageV1Api(api)
    storage.create_storage_class({
        "metadata": {"name": name, "annotations": {"storageclass.kubernetes.io/is-default-class":
                                                   "true" if default else "false"}},
        "provisioner": "openebs.io/local", "volumeBindingMode": "WaitForFirstConsumer"})
    undo(lambda: storage.delete_storage_class(name))


def test_storage_needs_the_class(real_kube, tmp_path):
    err = failure(checks.storage, context(real_kube.kubeconfig, tmp_path, _storage("wanted-missing"), timeout=0.5))
    assert "wanted-missing" in str(err) and "does not exist" in str(err)


def test_storage_needs_it_default(real_kube, tmp_path, undo):
    _storage_class(real_kube.api, undo, "wanted-plain", default=False)
    ctx = context(real_kube.kubeconfig, tmp_path, _storage("wanted-plain"))
    assert "not marked default" in str(failure(checks.storage, ctx))


def test_storage_refuses_two_defaults_and_names_the_other(real_kube, tmp_path, undo):
    _storage_class(real_kube.api, undo, "wanted-default", default=True)
    _storage_class(real_kube.api, undo, "local-path", default=True)
    ctx = context(real_kube.kubeconfig, tmp_path, _storage("wanted-default"))
    assert "local-path" in str(failure(checks.storage, ctx))
    assert checks.other_defaults(ctx) == ["local-path"]


def test_storage_passes_with_one_default(real_kube, tmp_path, undo):
    _storage_class(real_kube.api, undo, "wanted-only", default=True)
    _storage_class(real_kube.api, undo, "local-path", default=False)
    checks.storage(context(real_kube.kubeconfig, tmp_path, _storage("wanted-only")))


# --- ingress ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def traefik(real_kube, fixed_namespaces):
    """traefik's Deployment (rolled out by the real controllers and kwok) and IngressClass."""
    apps, net = client.AppsV1Api(real_kube.api), client.NetworkingV1Api(real_kube.api)
    apps.create_namespaced_deployment("traefik", deployment("traefik"))
    net.create_ingress_class({"metadata": {"name": "traefik"}, "spec": {"controller": "traefik.io/ingress-controller"}})
    yield
    net.delete_ingress_class("traefik")
    apps.delete_namespaced_deployment("traefik", "traefik")


def _traefik_service(api, undo, external_ips: list[str]) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_service("traefik", {
        "metadata": {"name": "traefik"},
        "spec": {"type": "ClusterIP", "externalIPs": external_ips, "selector": {"app": "traefik"},
                 "ports": [{"name": "web", "port": 80}]}})
    undo(lambda: core.delete_namespaced_service("traefik", "traefik"))


def test_ingress_needs_the_public_ip_in_external_ips(real_kube, tmp_path, traefik, undo):
    _traefik_service(real_kube.api, undo, ["198.51.100.99"])
    err = failure(checks.ingress, context(real_kube.kubeconfig, tmp_path, timeout=30))
    assert err.check == "ingress-external-ip" and "203.0.113.10" in err.problem and "198.51.100.99" in err.problem


def test_ingress_passes(real_kube, tmp_path, traefik, undo):
    """The check waits (a watch) until the real rollout makes the Deployment Available."""
    _traefik_service(real_kube.api, undo, ["203.0.113.10"])
    with IngressControllerStandin() as controller:  # answers http://203.0.113.10/ through --resolve
        checks.ingress(context(real_kube.kubeconfig, tmp_path, timeout=30,
                               resolve={"203.0.113.10": controller.target()}))
    assert "203.0.113.10" in controller.seen


# --- cert-manager and the issuer ---------------------------------------------------------------

@pytest.fixture
def issuer(real_kube, cert_manager_crds, undo):
    """The ClusterIssuer of the example answers, accepted by the real CRD's schema."""
    custom = client.CustomObjectsApi(real_kube.api)
    custom.create_cluster_custom_object("cert-manager.io", "v1", "clusterissuers", {
        "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "letsencrypt-prod"},
        "spec": {"acme": {"server": "https://acme.invalid", "privateKeySecretRef": {"name": "k"}, "solvers": []}}})
    undo(lambda: custom.delete_cluster_custom_object("cert-manager.io", "v1", "clusterissuers", "letsencrypt-prod"))
    return "letsencrypt-prod"


def test_issuer_false_shows_its_message(real_kube, tmp_path, issuer):
    standins.set_cluster_issuer_ready(real_kube.api, issuer, ready=False, reason="ErrRegisterACMEAccount",
                                      message="Failed to register ACME account: invalid email")
    err = failure(checks.issuer, context(real_kube.kubeconfig, tmp_path))
    assert "invalid email" in err.problem and "acme_email" in err.next_step


def test_issuer_ready_is_noticed_when_it_happens(real_kube, tmp_path, issuer):
    ctx = context(real_kube.kubeconfig, tmp_path, timeout=10)
    timer = threading.Timer(0.3, standins.set_cluster_issuer_ready, (real_kube.api, issuer))
    timer.start()
    checks.issuer(ctx)
    timer.join()
    assert any("waiting up to 10s, until" in note and f"ClusterIssuer {issuer}" in note for note in ctx.notes)


def test_cert_manager_webhook_down_is_explained(real_kube, tmp_path):
    err = failure(checks.cert_manager_api, context(real_kube.kubeconfig, tmp_path, timeout=0.5))
    assert "cert-manager-webhook" in str(err)


def test_cert_manager_without_crds_is_explained(real_kube, real_kube_env, tmp_path, cert_manager_crds, undo):
    """The webhook's Deployment rolls out for real; with no CRDs the real server answers the
    dry-run Certificate 404. Once the real CRDs are Established, the same dry run passes their
    schema (no cert-manager webhook is registered here, so its x509 phase is not met)."""
    objects.remove_cert_manager_crds(real_kube.api)
    undo(lambda: objects.ensure_cert_manager_crds(real_kube.api, real_kube_env))  # the session's, after all
    apps = client.AppsV1Api(real_kube.api)
    apps.create_namespaced_deployment("cert-manager", deployment("cert-manager-webhook"))
    undo(lambda: apps.delete_namespaced_deployment("cert-manager-webhook", "cert-manager"))
    wait_for(lambda: available(real_kube.api, "cert-manager", "cert-manager-webhook"), "the webhook's rollout")
    err = failure(checks.cert_manager_api, context(real_kube.kubeconfig, tmp_path, timeout=1))
    assert "CRDs are missing" in err.problem, err
    # Retried until the deadline: accepted once the CRDs appear (as cainjector's CA would).
    ctx = context(real_kube.kubeconfig, tmp_path, timeout=20)
    timer = threading.Timer(0.5, objects.ensure_cert_manager_crds, (real_kube.api, real_kube_env))
    timer.start()
    checks.cert_manager_api(ctx)
    timer.join()
    assert any("dry-run Certificate" in note for note in ctx.notes)
    certificates = client.CustomObjectsApi(real_kube.api).list_namespaced_custom_object(
        "cert-manager.io", "v1", "cert-manager", "certificates")
    assert certificates["items"] == [], "a dry run stores nothing"


def test_ingress_nginx_admission_is_retried_until_it_accepts_an_ingress(real_kube, tmp_path):
    """A real ValidatingWebhookConfiguration (failurePolicy Fail) for Ingresses in ingress-nginx:
    while its server does not listen the real API server refuses the dry run ("connection
    refused"); once it listens, the dry run is reviewed (dryRun: true) and accepted."""
    webhook = standins.AdmissionWebhook(real_kube.api, tmp_path / "webhook", "test-ingress-nginx-admission",
                                        "ingress-nginx").register()
    try:
        nginx = {"ingress": {"controller": "ingress-nginx"}}
        err = failure(checks.ingress_admission, context(real_kube.kubeconfig, tmp_path, nginx, timeout=1))
        assert err.check == "ingress-admission" and "BinderHub's Ingresses would be refused" in err.problem
        assert "failed calling webhook" in err.problem, err.problem
        assert "ingress-nginx-controller" in err.next_step
        ctx = context(real_kube.kubeconfig, tmp_path, nginx, timeout=20)
        timer = threading.Timer(0.5, webhook.start)
        timer.start()
        checks.ingress_admission(ctx)
        timer.join()
        assert any("admission webhook to accept a dry-run Ingress" in note for note in ctx.notes)
        assert webhook.reviews and all(review["dryRun"] for review in webhook.reviews)
        stored = client.NetworkingV1Api(real_kube.api).list_namespaced_ingress("ingress-nginx").items
        assert stored == [], "a dry run stores nothing"
    finally:
        webhook.close()


# --- the pull secret -------------------------------------------------------------------------------

def _pull_secret(api, namespace: str, registry: str) -> None:
    config = {"auths": {registry: {"username": "robot", "password": "registry-pass"}}}
    client.CoreV1Api(api).create_namespaced_secret(namespace, {
        "type": "kubernetes.io/dockerconfigjson", "metadata": {"name": "image-pull-secret"},
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}})


def test_the_pull_secret_must_exist_for_the_image_prefix_host(real_kube, tmp_path, real_namespace):
    """The real server also validates the dockerconfigjson Secret type (a malformed one is refused)."""
    namespace = real_namespace("binder")
    binder = {"cluster": {"namespace": namespace}}
    err = failure(checks.pull_secret, context(real_kube.kubeconfig, tmp_path, binder))
    assert err.check == "pull-secret" and "is missing" in err.problem and "ErrImagePull" in err.problem
    assert "imagePullSecret" in err.next_step and "binderhub" in err.next_step
    _pull_secret(real_kube.api, namespace, "other.example.org")
    err = failure(checks.pull_secret, context(real_kube.kubeconfig, tmp_path, binder))
    assert "no credentials for registry.example.org" in err.problem and "registry-pass" not in str(err)
    client.CoreV1Api(real_kube.api).delete_namespaced_secret("image-pull-secret", namespace)
    _pull_secret(real_kube.api, namespace, "registry.example.org")
    checks.pull_secret(context(real_kube.kubeconfig, tmp_path, binder))


# --- preflight ---------------------------------------------------------------------------------------

def test_preflight_refuses_registry_none_on_containerd(real_kube, tmp_path):
    """The session's node, kwok's, registered with containerd (tests/realkube/nodes.py)."""
    ctx = context(real_kube.kubeconfig, tmp_path, {"registry": {"type": "none"}})
    with pytest.raises(PreflightRefused) as info:
        checks.nodes_ready(ctx)
    assert nodes.DEFAULT_RUNTIME in info.value.problem
    assert "external" in info.value.next_step and "in-cluster" in info.value.next_step


@pytest.fixture
def own_nodes(real_kube_without_nodes):
    """Nodes of the test's choosing, in a cluster that has no others (an API server alone: what
    their kubelets would post is written by standins.register_node); removed after the test."""
    api = real_kube_without_nodes.api
    added: list[str] = []

    def add(name: str, **options) -> None:
        standins.register_node(api, name, **options)
        added.append(name)

    yield add
    for name in added:
        client.CoreV1Api(api).delete_node(name)


def test_preflight_reads_the_runtime(real_kube_without_nodes, tmp_path, own_nodes):
    own_nodes("node-1", runtime="docker://24.0.7")
    ctx = context(real_kube_without_nodes.kubeconfig, tmp_path,
                  {"registry": {"type": "none"}, "cluster": {"runtime": "docker"}})
    checks.nodes_ready(ctx)
    assert ctx.facts["runtime"] == "docker"


def test_preflight_needs_a_ready_node(real_kube_without_nodes, tmp_path, own_nodes):
    own_nodes("node-1", ready=False)
    with pytest.raises(PreflightRefused, match=r"no node is Ready \(1 node\(s\) found\)"):
        checks.nodes_ready(context(real_kube_without_nodes.kubeconfig, tmp_path))


def test_preflight_needs_permission_to_create_cluster_objects(real_kube, tmp_path):
    """A user the real RBAC gives no role: its SelfSubjectAccessReview says not allowed; the admin's says allowed."""
    pki, server = real_kube.control_plane.pki, real_kube.control_plane.api.url
    limited = pki.kubeconfig(tmp_path / "limited.kubeconfig", server, pki.client("limited-user", "realkube-limited"))
    with pytest.raises(PreflightRefused, match="cluster-scoped"):
        checks.may_create_cluster_objects(context(limited, tmp_path))
    checks.may_create_cluster_objects(context(real_kube.kubeconfig, tmp_path))


def test_preflight_without_api_is_refused(fault_proxy, tmp_path):
    """The fault proxy in front of the real server, stopped: connection refused on its port."""
    checks.api_answers(context(fault_proxy.kubeconfig, tmp_path))
    fault_proxy.stop()
    with pytest.raises(PreflightRefused, match="does not answer"):
        checks.api_answers(context(fault_proxy.kubeconfig, tmp_path))


def test_preflight_warns_when_another_service_holds_the_ip(real_kube, tmp_path, real_namespace):
    namespace = real_namespace("old")
    client.CoreV1Api(real_kube.api).create_namespaced_service(namespace, {
        "metadata": {"name": "old-nginx"},
        "spec": {"type": "ClusterIP", "externalIPs": ["203.0.113.10"], "ports": [{"port": 80}]}})
    ctx = context(real_kube.kubeconfig, tmp_path)
    checks.public_ip_free(ctx)
    assert any(f"{namespace}/old-nginx" in note for note in ctx.notes)


def test_preflight_corrects_runtime_and_node_count_from_the_cluster(real_kube_without_nodes, tmp_path, own_nodes):
    own_nodes("node-1", runtime="docker://24.0.7")
    own_nodes("node-2", runtime="docker://24.0.7")
    kubeconfig = real_kube_without_nodes.kubeconfig
    ctx = context(kubeconfig, tmp_path)
    asked: list[dict] = []

    def rerender(overrides: dict):
        asked.append(overrides)
        return context(kubeconfig, tmp_path, overrides).settings

    ctx.rerender = rerender
    checks.nodes_ready(ctx)
    assert asked == [{"cluster": {"runtime": "docker", "nodes": 2}}]
    assert ctx.settings.cluster.runtime == "docker" and ctx.settings.cluster.nodes == 2
    assert any("2 node(s) running docker" in note for note in ctx.notes)


# --- the registry stage against a local registry over TLS -------------------------------------------

def _registry_context(kubeconfig, tmp_path, password: str, ca_bundle, resolve, changes=None):
    from wizard.secretstore import values as secret_values
    from wizard.yamlio import dumps

    ctx = context(kubeconfig, tmp_path, changes)
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


def test_registry_stage_passes_with_good_credentials(tmp_path, registry):
    """An external registry is only probed: the check never opens the cluster (context(None))."""
    server, ca = registry
    checks.registry(_registry_context(None, tmp_path, "right-password", ca.ca_path, server.resolve))


@pytest.mark.parametrize("case,expected", [
    ("wrong-password", "registry-credentials"),
    ("untrusted", "registry-certificate"),
    ("unreachable", "registry-refused"),
])
def test_registry_stage_failures_have_their_own_message(tmp_path, registry, case, expected):
    server, ca = registry
    password = "wrong" if case == "wrong-password" else "right-password"
    bundle = None if case == "untrusted" else ca.ca_path
    resolve = {"registry.example.org": "127.0.0.1:9"} if case == "unreachable" else server.resolve
    err = failure(checks.registry, _registry_context(None, tmp_path, password, bundle, resolve))
    assert err.check == expected, str(err)
    assert "right-password" not in str(err) and "wrong" not in err.problem.replace("wrong password", "")


def test_in_cluster_registry_stage_waits_for_it_and_refuses_anonymous_access(real_kube, tmp_path, cert_manager_crds,
                                                                            undo):
    """The registry's Deployment rolls out for real; its Certificate's Ready condition is what
    cert-manager would write (standins.set_certificate_ready)."""
    from tests.registry_standin import Behaviour, RegistryStandin, make_ca

    api = real_kube.api
    apps, custom = client.AppsV1Api(api), client.CustomObjectsApi(api)
    apps.create_namespaced_deployment("registry", deployment("registry"))
    undo(lambda: apps.delete_namespaced_deployment("registry", "registry"))
    custom.create_namespaced_custom_object("cert-manager.io", "v1", "registry", "certificates", {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "registry-tls"},
        "spec": {"secretName": "registry-tls", "dnsNames": ["registry.example.org"],
                 "issuerRef": {"name": "letsencrypt-prod", "kind": "ClusterIssuer"}}})
    undo(lambda: custom.delete_namespaced_custom_object("cert-manager.io", "v1", "registry", "certificates",
                                                        "registry-tls"))
    standins.set_certificate_ready(api, "registry", "registry-tls")
    ca = make_ca(tmp_path / "registry-ca")
    in_cluster = {"registry": {"type": "in-cluster", "username": "binder"}}
    with RegistryStandin(ca, Behaviour(username="binder", password="generated")) as server:
        ctx = _registry_context(real_kube.kubeconfig, tmp_path, "generated", ca.ca_path, server.resolve, in_cluster)
        ctx.options.timeout = 30
        assert ctx.settings.registry.url == "https://registry.example.org"
        checks.registry(ctx)
    with RegistryStandin(ca, Behaviour(auth="open")) as open_server:
        ctx = _registry_context(real_kube.kubeconfig, tmp_path, "generated", ca.ca_path, open_server.resolve,
                                in_cluster)
        err = failure(checks.registry, ctx)
        assert "without credentials" in err.problem
