"""The fake Kubernetes API server (tests/fakekube) against the real clients it stands in for:
the `kubernetes` python client, kubectl 1.37 and helm 3.17, plus the stand-in charts."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import urllib3
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.conftest import UPSTREAM
from tests.fakekube import FakeKube
from tests.fakekube.patch import strategic_merge

HERE = Path(__file__).parent
CHARTS = HERE / "charts"


def api(fake: FakeKube) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(fake.kubeconfig_path), context="fake")


def run(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    tool = shutil.which(args[0], path=env["PATH"])
    assert tool, f"{args[0]} not on PATH"
    proc = subprocess.run([tool, *args[1:]], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def deployment(name: str, image: str = "nginx:1.27") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}]}}}}


def status_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


CLUSTER_ISSUER = {
    "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "letsencrypt"},
    "spec": {"acme": {"server": "https://acme-staging-v02.api.letsencrypt.org/directory",
                      "email": "admin@example.org", "privateKeySecretRef": {"name": "le-account"},
                      "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]}},
}


def clusterissuer_crd() -> dict:
    return yaml.safe_load((UPSTREAM / "cert-manager.io_clusterissuers.yaml").read_text())


# ---- the python client ----------------------------------------------------------------------


def test_python_client_crud_and_errors(fake_kube):
    v1 = client.CoreV1Api(api(fake_kube))
    v1.create_namespace({"metadata": {"name": "demo"}})
    created = v1.create_namespaced_config_map(
        "demo", {"metadata": {"name": "settings", "labels": {"app": "demo"}}, "data": {"a": "1"}})
    assert created.metadata.uid and int(created.metadata.resource_version) > 0
    assert created.metadata.namespace == "demo" and created.metadata.creation_timestamp
    v1.create_namespaced_config_map("demo", {"metadata": {"name": "other"}})

    with pytest.raises(ApiException) as dup:
        v1.create_namespaced_config_map("demo", {"metadata": {"name": "settings"}})
    body = status_of(dup.value)
    assert dup.value.status == 409 and body["kind"] == "Status" and body["reason"] == "AlreadyExists"
    assert body["details"] == {"name": "settings", "kind": "configmaps"}

    assert [c.metadata.name for c in v1.list_namespaced_config_map("demo", label_selector="app=demo").items] \
        == ["settings"]
    assert [c.metadata.name for c in v1.list_namespaced_config_map(
        "demo", field_selector="metadata.name!=settings").items] == ["other"]
    assert v1.read_namespaced_config_map("settings", "demo").data == {"a": "1"}

    patched = v1.patch_namespaced_config_map("settings", "demo", {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}
    patched = v1.patch_namespaced_config_map("settings", "demo", [{"op": "remove", "path": "/data/a"}])
    assert patched.data == {"b": "2"}

    stale = created.to_dict()
    stale["data"] = {"c": "3"}
    with pytest.raises(ApiException) as conflict:
        v1.replace_namespaced_config_map("settings", "demo", stale)
    assert conflict.value.status == 409 and status_of(conflict.value)["reason"] == "Conflict"
    fresh = v1.read_namespaced_config_map("settings", "demo")
    fresh.data = {"c": "3"}
    assert v1.replace_namespaced_config_map("settings", "demo", fresh).data == {"c": "3"}

    v1.delete_namespaced_config_map("settings", "demo")
    with pytest.raises(ApiException) as gone:
        v1.read_namespaced_config_map("settings", "demo")
    assert gone.value.status == 404 and status_of(gone.value)["reason"] == "NotFound"
    with pytest.raises(ApiException) as no_ns:
        v1.create_namespaced_config_map("missing", {"metadata": {"name": "x"}})
    assert no_ns.value.status == 404 and 'namespaces "missing" not found' in status_of(no_ns.value)["message"]


def test_python_client_watch_sees_changes_at_once(fake_kube):
    v1 = client.CoreV1Api(api(fake_kube))
    seen: list[tuple[str, str, float]] = []
    started = threading.Event()

    def follow():
        stream = watch.Watch().stream(v1.list_namespaced_config_map, "default", timeout_seconds=3)
        started.set()
        for event in stream:
            seen.append((event["type"], event["object"].metadata.name, time.monotonic()))
            if event["type"] == "DELETED":
                return

    thread = threading.Thread(target=follow)
    thread.start()
    started.wait(2)
    time.sleep(0.2)  # let the watch request reach the server
    t0 = time.monotonic()
    v1.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    v1.patch_namespaced_config_map("c", "default", {"data": {"k": "v"}})
    v1.delete_namespaced_config_map("c", "default")
    thread.join(5)
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "c"), ("MODIFIED", "c"), ("DELETED", "c")]
    assert seen[-1][2] - t0 < 1.0, "watch events must arrive without polling delays"


def test_node_parses_in_the_strict_client_models(fake_kube):
    fake_kube.add_node("node-1", runtime="containerd://2.0.5",
                       addresses=[{"type": "InternalIP", "address": "10.1.2.3"}])
    fake_kube.add_node("node-2", runtime="docker://27.3.1", ready=False)
    nodes = client.CoreV1Api(api(fake_kube)).list_node().items
    assert [n.status.node_info.container_runtime_version for n in nodes] == \
        ["containerd://2.0.5", "docker://27.3.1"]
    ready = {n.metadata.name: next(c.status for c in n.status.conditions if c.type == "Ready") for n in nodes}
    assert ready == {"node-1": "True", "node-2": "False"}
    assert nodes[0].status.addresses[0].address == "10.1.2.3"


def test_objects_are_complete_enough_for_the_client_models(fake_kube):
    """Each kind the wizard reads, as created and after a controller helper, parses."""
    c = api(fake_kube)
    core, apps = client.CoreV1Api(c), client.AppsV1Api(c)
    net, storage, ext = client.NetworkingV1Api(c), client.StorageV1Api(c), client.ApiextensionsV1Api(c)
    fake_kube.add_node("node-1")
    apps.create_namespaced_deployment("default", deployment("web"))
    apps.create_namespaced_daemon_set("default", {"metadata": {"name": "ds"}, "spec": deployment("ds")["spec"]})
    apps.create_namespaced_stateful_set("default", {"metadata": {"name": "sts"}, "spec": deployment("sts")["spec"]})
    core.create_namespaced_service("default", {"metadata": {"name": "svc"}, "spec": {
        "type": "LoadBalancer", "ports": [{"port": 80}], "externalIPs": ["203.0.113.7"]}})
    core.create_namespaced_persistent_volume_claim("default", {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}})
    net.create_namespaced_ingress("default", {"metadata": {"name": "ing"}, "spec": {"rules": [
        {"host": "x.example.org", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
            "service": {"name": "svc", "port": {"number": 80}}}}]}}]}})
    storage.create_storage_class({"metadata": {"name": "sc"}, "provisioner": "openebs.io/local"})
    client.PolicyV1Api(c).create_namespaced_pod_disruption_budget(
        "default", {"metadata": {"name": "pdb"}, "spec": {"minAvailable": 1}})
    ext.create_custom_resource_definition(clusterissuer_crd())

    assert apps.read_namespaced_daemon_set("ds", "default").status.number_ready == 0
    fake_kube.mark_deployment_available("default", "web")
    fake_kube.controller.mark_daemonset_ready("default", "ds")
    fake_kube.controller.mark_statefulset_ready("default", "sts")
    fake_kube.bind_pvc("default", "data")
    fake_kube.set_ingress_ip("default", "ing", "203.0.113.7")

    web = apps.read_namespaced_deployment("web", "default")
    assert web.status.available_replicas == 1 and web.status.observed_generation == web.metadata.generation
    assert {cond.type: cond.status for cond in web.status.conditions} == {"Available": "True", "Progressing": "True"}
    pods = core.list_namespaced_pod("default", label_selector="app=web").items
    assert len(pods) == 1 and pods[0].status.container_statuses[0].ready
    assert apps.read_namespaced_daemon_set("ds", "default").status.number_ready == 1
    assert apps.read_namespaced_stateful_set("sts", "default").status.ready_replicas == 1
    svc = core.read_namespaced_service("svc", "default")
    assert svc.spec.cluster_ip and svc.spec.ports[0].node_port and svc.spec.external_ips == ["203.0.113.7"]
    pvc = core.read_namespaced_persistent_volume_claim("data", "default")
    assert pvc.status.phase == "Bound" and core.read_persistent_volume(pvc.spec.volume_name).status.phase == "Bound"
    assert net.read_namespaced_ingress("ing", "default").status.load_balancer.ingress[0].ip == "203.0.113.7"
    assert storage.read_storage_class("sc").volume_binding_mode == "Immediate"
    crd = ext.read_custom_resource_definition("clusterissuers.cert-manager.io")
    assert {cond.type for cond in crd.status.conditions} == {"NamesAccepted", "Established"}
    assert client.VersionApi(c).get_code().git_version.startswith("v1.33.")


# ---- kubectl ----------------------------------------------------------------------------------


def test_kubectl_create_apply_patch_wait_delete(fake_kube, kube_env, tmp_path):
    run(kube_env, "kubectl", "create", "namespace", "apps")
    assert fake_kube.get("ns", "apps")["status"]["phase"] == "Active"
    # kubectl's create generators send protobuf bodies; the fake decodes them.
    run(kube_env, "kubectl", "create", "secret", "generic", "creds", "-n", "apps", "--from-literal=token=s3cret")
    assert fake_kube.get("secret", "creds", "apps")["data"] == {"token": "czNjcmV0"}
    assert any(r.content_type == "application/vnd.kubernetes.protobuf" for r in fake_kube.requests)

    manifest = tmp_path / "stack.yaml"
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "apps"},
         "data": {"a": "1"}},
        dict(deployment("web"), metadata={"name": "web", "namespace": "apps"}),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "apps"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        clusterissuer_crd(),
        CLUSTER_ISSUER,
    ]
    manifest.write_text(yaml.safe_dump_all(docs))
    # As against a real server, the custom resource cannot be mapped in the same apply that
    # creates its CRD; everything else is applied, and the second run creates the ClusterIssuer.
    first = run(kube_env, "kubectl", "apply", "-f", str(manifest), check=False)
    assert first.returncode == 1 and "ensure CRDs are installed first" in first.stderr
    assert "customresourcedefinition.apiextensions.k8s.io/clusterissuers.cert-manager.io created" in first.stdout
    second = run(kube_env, "kubectl", "apply", "-f", str(manifest))
    assert "clusterissuer.cert-manager.io/letsencrypt created" in second.stdout
    assert "deployment.apps/web unchanged" in second.stdout

    issuer = json.loads(run(kube_env, "kubectl", "get", "clusterissuer", "letsencrypt", "-o", "json").stdout)
    assert issuer["spec"]["acme"]["email"] == "admin@example.org"
    assert "letsencrypt" in run(kube_env, "kubectl", "get", "ciss").stdout  # short name, Table output

    run(kube_env, "kubectl", "patch", "configmap", "settings", "-n", "apps", "--type", "merge",
        "-p", '{"data": {"b": "2"}}')
    assert fake_kube.get("cm", "settings", "apps")["data"] == {"a": "1", "b": "2"}
    manifest.write_text(manifest.read_text().replace("nginx:1.27", "nginx:1.28"))
    run(kube_env, "kubectl", "apply", "-f", str(manifest))
    web = fake_kube.get("deploy", "web", "apps")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert web["metadata"]["generation"] == 2

    waiter = subprocess.Popen(
        [shutil.which("kubectl", path=kube_env["PATH"]), "wait", "--for=condition=Ready",
         "clusterissuer/letsencrypt", "--timeout=10s"],
        env=kube_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert waiter.poll() is None, "kubectl wait returned before the condition was set"
    threading.Thread(target=fake_kube.set_condition,
                     args=("clusterissuer", None, "letsencrypt", "Ready", "True", "ACMEAccountRegistered")).start()
    out, err = waiter.communicate(timeout=15)
    assert waiter.returncode == 0, err
    assert "condition met" in out

    run(kube_env, "kubectl", "delete", "clusterissuer", "letsencrypt")
    # The CRD goes at once here (no finalizers), and the ClusterIssuer was deleted above.
    run(kube_env, "kubectl", "delete", "-f", str(manifest), "--ignore-not-found")
    assert fake_kube.list("deploy", "apps") == []
    with pytest.raises(KeyError):
        fake_kube.kind("clusterissuer")  # the CRD's deletion unregistered the kind


# ---- helm -------------------------------------------------------------------------------------


def helm_releases(env) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(run(env, "helm", "list", "-A", "-o", "json").stdout)}


def test_helm_installs_upgrades_and_uninstalls_the_stand_in_charts(fake_kube, kube_env, tmp_path):
    def install(release: str, chart: Path | str, namespace: str, *values: str):
        run(kube_env, "helm", "upgrade", "--install", release, str(chart), "-n", namespace,
            "--create-namespace", *values)

    # OpenEBS from a packaged archive, as an air-gapped install would use it.
    run(kube_env, "helm", "package", str(CHARTS / "openebs"), "-d", str(tmp_path))
    install("openebs", tmp_path / "openebs-4.3.2.tgz", "openebs",
            "--set", "localpv-provisioner.hostpathClass.isDefaultClass=true",
            "--set", "engines.replicated.mayastor.enabled=false", "--set", "loki.enabled=false")
    sc = fake_kube.get("sc", "openebs-hostpath")
    assert sc["provisioner"] == "openebs.io/local" and sc["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    deployments = {d["metadata"]["name"] for d in fake_kube.list("deploy", "openebs")}
    assert "openebs-localpv-provisioner" in deployments and "openebs-agent-core" not in deployments

    install("ingress-nginx", CHARTS / "ingress-nginx", "ingress-nginx",
            "--set", "controller.service.externalIPs={203.0.113.7}", "--set", "controller.service.type=ClusterIP")
    svc = fake_kube.get("svc", "ingress-nginx-controller", "ingress-nginx")
    assert svc["spec"]["externalIPs"] == ["203.0.113.7"] and svc["spec"]["type"] == "ClusterIP"
    assert fake_kube.get("deploy", "ingress-nginx-controller", "ingress-nginx")
    assert fake_kube.get("ingressclass", "nginx")["spec"]["controller"] == "k8s.io/ingress-nginx"

    install("traefik", CHARTS / "traefik", "traefik", "--set", "service.externalIPs={203.0.113.8}")
    assert fake_kube.get("svc", "traefik", "traefik")["spec"]["externalIPs"] == ["203.0.113.8"]
    assert fake_kube.get("deploy", "traefik", "traefik") and fake_kube.get("ingressclass", "traefik")

    install("cert-manager", CHARTS / "cert-manager", "cert-manager", "--set", "crds.enabled=true")
    assert {d["metadata"]["name"] for d in fake_kube.list("deploy", "cert-manager")} == \
        {"cert-manager", "cert-manager-webhook", "cert-manager-cainjector"}
    fake_kube.create(CLUSTER_ISSUER)  # the CRDs registered their kinds
    assert fake_kube.kind("certificates.cert-manager.io").namespaced

    values = tmp_path / "binderhub.yaml"
    values.write_text(yaml.safe_dump({
        "service": {"type": "ClusterIP"},
        "ingress": {"enabled": True, "ingressClassName": "nginx", "hosts": ["binder.example.org"],
                    "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                    "tls": [{"secretName": "binder-tls", "hosts": ["binder.example.org"]}]},
        "jupyterhub": {"proxy": {"service": {"type": "ClusterIP"}},
                       "hub": {"db": {"type": "sqlite-pvc", "pvc": {"storageClassName": "openebs-hostpath"}}},
                       "ingress": {"enabled": True, "ingressClassName": "nginx", "hosts": ["hub.example.org"],
                                   "tls": [{"secretName": "hub-tls", "hosts": ["hub.example.org"]}]}},
    }))
    install("binderhub", CHARTS / "binderhub", "binderhub", "-f", str(values))
    assert {d["metadata"]["name"] for d in fake_kube.list("deploy", "binderhub")} == {"binder", "hub", "proxy"}
    assert {s["metadata"]["name"] for s in fake_kube.list("svc", "binderhub")} == \
        {"binder", "hub", "proxy-public", "proxy-api"}
    assert fake_kube.get("pvc", "hub-db-dir", "binderhub")["spec"]["storageClassName"] == "openebs-hostpath"
    hub_ing = fake_kube.get("ing", "jupyterhub", "binderhub")["spec"]
    assert hub_ing["ingressClassName"] == "nginx" and hub_ing["rules"][0]["host"] == "hub.example.org"
    assert hub_ing["tls"] == [{"secretName": "hub-tls", "hosts": ["hub.example.org"]}]
    binder_ing = fake_kube.get("ing", "binderhub", "binderhub")
    assert binder_ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"

    install("binderhub", CHARTS / "binderhub", "binderhub", "-f", str(values),
            "--set", "jupyterhub.hub.db.type=postgres")
    releases = helm_releases(kube_env)
    assert releases["binderhub"]["revision"] == "2" and releases["binderhub"]["status"] == "deployed"
    assert set(releases) == {"openebs", "ingress-nginx", "traefik", "cert-manager", "binderhub"}
    assert fake_kube.list("pvc", "binderhub") == []  # no longer rendered, so helm deleted it
    secret = fake_kube.get("secret", "binder-secret", "binderhub")
    stored = yaml.safe_load(base64.b64decode(secret["data"]["values.yaml"]))  # stringData became data
    assert stored["jupyterhub"]["hub"]["db"]["type"] == "postgres"

    run(kube_env, "helm", "uninstall", "binderhub", "-n", "binderhub")
    assert "binderhub" not in helm_releases(kube_env)
    assert fake_kube.list("deploy", "binderhub") == [] and fake_kube.list("secret", "binderhub") == []


# ---- test hooks -------------------------------------------------------------------------------


def test_fault_injection_slowness_and_connection_refused(fake_kube):
    v1 = client.CoreV1Api(api(fake_kube))
    fake_kube.inject("GET", r"/configmaps", status=503, times=1, message="etcd is sulking")
    with pytest.raises(ApiException) as failed:
        v1.list_namespaced_config_map("default")
    assert failed.value.status == 503
    assert status_of(failed.value) == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                       "status": "Failure", "message": "etcd is sulking",
                                       "reason": "ServiceUnavailable", "code": 503}
    assert v1.list_namespaced_config_map("default").items == []  # only once

    fake_kube.slow(r"/namespaces/default/secrets", 0.5)
    t0 = time.monotonic()
    v1.list_namespaced_secret("default")
    assert time.monotonic() - t0 >= 0.5

    before = fake_kube.count("GET", r"/configmaps$")
    fake_kube.stop()
    refused = config.new_client_from_config(config_file=str(fake_kube.kubeconfig_path), context="fake")
    refused.configuration.retries = 0
    with pytest.raises(urllib3.exceptions.MaxRetryError) as down:
        client.CoreV1Api(refused).list_namespaced_config_map("default")
    assert isinstance(down.value.reason, urllib3.exceptions.NewConnectionError)
    fake_kube.start()  # same port, same kubeconfig
    assert v1.list_namespaced_config_map("default").items == []
    assert fake_kube.count("GET", r"/configmaps$") == before + 1


def test_auto_controller_uses_the_chosen_delays(fake_kube):
    fake_kube.controller.auto("Deployment", delay=0.3, per_name={"slow": 1.0})
    fake_kube.controller.auto("ClusterIssuer.cert-manager.io", delay=0.2)  # before its CRD exists
    apps = client.AppsV1Api(api(fake_kube))
    ready_at: dict[str, float] = {}

    def follow():
        for event in watch.Watch().stream(apps.list_namespaced_deployment, "default", timeout_seconds=4):
            d = event["object"]
            if d.status.available_replicas and d.metadata.name not in ready_at:
                ready_at[d.metadata.name] = time.monotonic()
            if len(ready_at) == 2:
                return

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    apps.create_namespaced_deployment("default", deployment("fast"))
    apps.create_namespaced_deployment("default", deployment("slow"))
    thread.join(5)
    assert 0.25 <= ready_at["fast"] - t0 < 0.8
    assert 0.95 <= ready_at["slow"] - t0 < 1.6

    # A spec change makes the deployment unavailable-until-observed again, then available.
    apps.patch_namespaced_deployment("fast", "default", {"spec": {"replicas": 3}})
    d = apps.read_namespaced_deployment("fast", "default")
    assert d.metadata.generation == 2 and d.status.observed_generation == 1
    time.sleep(0.6)
    d = apps.read_namespaced_deployment("fast", "default")
    assert d.status.observed_generation == 2 and d.status.available_replicas == 3

    fake_kube.create(clusterissuer_crd())
    fake_kube.create(CLUSTER_ISSUER)
    time.sleep(0.5)
    conditions = fake_kube.get("clusterissuer", "letsencrypt")["status"]["conditions"]
    assert [(c["type"], c["status"]) for c in conditions] == [("Ready", "True")]


def test_watch_list_bookmark_and_selection_changes(fake_kube):
    fake_kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "a", "namespace": "default", "labels": {"team": "x"}}})
    url = (f"{fake_kube.url}/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true"
           "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&labelSelector=team%3Dx"
           "&timeoutSeconds=1")

    def relabel():
        time.sleep(0.3)
        kind = fake_kube.kind("cm")
        fake_kube.store.patch(kind, "default", "a", "application/merge-patch+json",
                              {"metadata": {"labels": {"team": "y"}}})

    threading.Thread(target=relabel).start()
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        events = [json.loads(line) for line in response]
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK", "DELETED"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_namespace_deletion_cascades_and_dry_run_stores_nothing(fake_kube):
    c = api(fake_kube)
    v1, apps = client.CoreV1Api(c), client.AppsV1Api(c)
    v1.create_namespace({"metadata": {"name": "doomed"}})
    apps.create_namespaced_deployment("doomed", deployment("web"), dry_run="All")
    assert fake_kube.list("deploy", "doomed") == []
    apps.create_namespaced_deployment("doomed", deployment("web"))
    v1.create_namespaced_secret("doomed", {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    v1.delete_namespace("doomed")
    assert fake_kube.list("deploy") == [] and fake_kube.list("secret") == []
    assert "doomed" not in {n["metadata"]["name"] for n in fake_kube.list("ns")}


def test_access_reviews_allow_unless_denied(fake_kube, kube_env):
    authz = client.AuthorizationV1Api(api(fake_kube))

    def allowed(verb: str, resource: str, group: str = "") -> bool:
        review = {"spec": {"resourceAttributes": {"verb": verb, "resource": resource, "group": group}}}
        return authz.create_self_subject_access_review(review).status.allowed

    fake_kube.deny(verb="create", resource="clusterroles", group="rbac.authorization.k8s.io")
    assert allowed("create", "namespaces")
    assert not allowed("create", "clusterroles", "rbac.authorization.k8s.io")
    # kubectl sends its review as protobuf
    assert run(kube_env, "kubectl", "auth", "can-i", "create", "namespaces").stdout.strip() == "yes"
    denied = run(kube_env, "kubectl", "auth", "can-i", "create", "clusterroles.rbac.authorization.k8s.io",
                 check=False)
    assert denied.returncode == 1 and denied.stdout.strip() == "no"


def test_strategic_merge_merges_named_lists():
    current = {"spec": {"containers": [{"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                                       {"name": "b", "image": "b:1"}]}}
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                      "containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]},
                                     {"name": "b", "$patch": "delete"}]}}
    assert strategic_merge(current, patch) == {"spec": {"containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}}
