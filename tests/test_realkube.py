"""The real control plane (tests/realkube) does what a cluster does, through the real clients.

Each test proves one behaviour of real Kubernetes the wizard's tests will rely on, read back through
the API, kubectl or helm. What none of them can prove: anything a kubelet, kube-proxy or a CNI does
(kwok writes pod and node status; nothing routes to a Service or pod IP; no image is pulled).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.conftest import upstream
from tests.realkube import nodes, pods, standins
from tests.realkube.waiting import wait_for


def run(env: dict, *args: str, check: bool = True, timeout: float = 120,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    tool = shutil.which(args[0], path=env["PATH"])
    assert tool, f"{args[0]} not on PATH"
    proc = subprocess.run([tool, *args[1:]], env=env, capture_output=True, text=True, timeout=timeout, input=stdin)
    if check:
        assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def deployment(name: str, replicas: int = 1, annotations: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}, "annotations": annotations or {}},
                                  "spec": {"containers": [{"name": "main", "image": "registry.invalid/app:1"}]}}}}


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def as_dict(api: client.ApiClient, model) -> dict:
    return api.sanitize_for_serialization(model)


def pods_of(api: client.ApiClient, namespace: str, app: str) -> list[dict]:
    found = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"app={app}")
    return [as_dict(api, pod) for pod in found.items]


def available(api: client.ApiClient, namespace: str, name: str) -> bool:
    found = as_dict(api, client.AppsV1Api(api).read_namespaced_deployment(name, namespace))
    return condition(found, "Available").get("status") == "True"


def test_namespace_deletion_waits_for_a_finalizer(real_kube, real_namespace):
    """The namespace controller empties a Terminating namespace and keeps it while an object's
    finalizer remains, reporting which; removing the finalizer lets it go. A store that deletes
    namespaces at once (as the home-made fake API server the tests once used did) fails the
    Terminating checks."""
    core = client.CoreV1Api(real_kube.api)
    namespace = real_namespace("fin")
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "held",
                                                               "finalizers": ["realkube.test/hold"]}})
    core.delete_namespace(namespace)

    def remaining() -> dict:
        found = as_dict(real_kube.api, core.read_namespace(namespace))
        assert found["status"]["phase"] == "Terminating"
        return condition(found, "NamespaceFinalizersRemaining").get("status") == "True" and found

    held = wait_for(remaining, "the namespace controller to report the remaining finalizer")
    assert "realkube.test/hold" in condition(held, "NamespaceFinalizersRemaining")["message"]
    assert core.read_namespaced_config_map("held", namespace).metadata.deletion_timestamp is not None

    core.patch_namespaced_config_map("held", namespace, [{"op": "remove", "path": "/metadata/finalizers"}])

    def gone() -> bool:
        try:
            core.read_namespace(namespace)
            return False
        except ApiException as error:
            return error.status == 404
    wait_for(gone, f"namespace {namespace} to be deleted")


def test_nodes_report_the_runtime_and_capacity_the_test_chose(real_kube, real_kube_env):
    """kwok makes a registered node Ready and keeps its lease, so the node lifecycle controller
    leaves it alone; the runtime and capacity are the ones the test registered. (Tainted, and
    removed afterwards, so no other test's pods land on it.)"""
    name = "realkube-extra-node"
    taint = {"key": "realkube.test/extra", "value": "true", "effect": "NoSchedule"}
    pods.add_node(real_kube.api, name, runtime="containerd://1.7.24", cpu="2", memory="4Gi", taints=[taint])
    try:
        node = json.loads(run(real_kube_env, "kubectl", "get", "node", name, "-o", "json").stdout)
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "containerd://1.7.24"
        assert (node["status"]["capacity"]["cpu"], node["status"]["allocatable"]["memory"]) == ("2", "4Gi")
        assert condition(node, "Ready")["status"] == "True"
        leases = client.CoordinationV1Api(real_kube.api).list_namespaced_lease("kube-node-lease")
        assert name in {lease.metadata.name for lease in leases.items}, "kwok holds no lease for the node"
        session_node = client.CoreV1Api(real_kube.api).read_node(real_kube.node)
        assert session_node.status.node_info.container_runtime_version == nodes.DEFAULT_RUNTIME
    finally:
        client.CoreV1Api(real_kube.api).delete_node(name)


def test_deployment_rolls_out_through_the_real_controllers(real_kube, real_namespace):
    """The deployment controller makes a ReplicaSet, the ReplicaSet controller the pods, the real
    scheduler binds them to the kwok node, and the Deployment turns Available only after the
    readiness delay the pod template chose (kwok honours it)."""
    api, namespace = real_kube.api, real_namespace("roll")
    began = time.monotonic()
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace, deployment("web", replicas=2, annotations=pods.pod_annotations(ready_after=2)))

    wait_for(lambda: available(api, namespace, "web"), "Deployment web to be Available")
    assert time.monotonic() - began >= 2, "Available before the pods' 2 s readiness delay"

    replica_sets = client.AppsV1Api(api).list_namespaced_replica_set(namespace).items
    assert [rs.metadata.owner_references[0].name for rs in replica_sets] == ["web"]
    web_pods = pods_of(api, namespace, "web")
    assert len(web_pods) == 2
    for pod in web_pods:
        assert pod["metadata"]["ownerReferences"][0]["name"] == replica_sets[0].metadata.name
        assert pod["spec"]["nodeName"] == real_kube.node
        assert condition(pod, "PodScheduled")["status"] == "True"
        assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"].startswith("10.244.")
    events = client.CoreV1Api(api).list_namespaced_event(namespace, field_selector="reason=Scheduled").items
    assert len(events) == 2 and {e.source.component or e.reporting_component for e in events} == {"default-scheduler"}


def test_pod_behaviours_per_workload_through_admission(real_kube, real_namespace, pod_behaviours):
    """Pods a test does not write (a chart's) get their behaviour by label, from a real
    MutatingAdmissionPolicy: one workload held NotReady, one crash-looping, one Ready after 1 s."""
    api, namespace = real_kube.api, real_namespace("faults")
    apps = client.AppsV1Api(api)
    pod_behaviours.set({"app": "stuck"}, namespace=namespace, fault=pods.NOT_READY)
    pod_behaviours.set({"app": "crashy"}, namespace=namespace, fault=pods.CRASH_LOOP)
    pod_behaviours.set({"app": "slow"}, namespace=namespace, ready_after=1)
    for name in ("stuck", "crashy", "slow"):
        apps.create_namespaced_deployment(namespace, deployment(name))

    wait_for(lambda: available(api, namespace, "slow"), "Deployment slow to be Available")
    assert pods_of(api, namespace, "slow")[0]["metadata"]["annotations"][pods.READY_AFTER] == "1000ms"

    stuck = wait_for(lambda: [p for p in pods_of(api, namespace, "stuck") if p["status"]["phase"] == "Running"],
                     "the stuck pod to run")[0]
    assert condition(stuck, "Ready")["status"] == "False"

    def restarted_twice() -> dict | None:  # kwok restarts it every 5 s
        found = pods_of(api, namespace, "crashy")
        statuses = found and found[0]["status"].get("containerStatuses") or []
        return statuses and statuses[0]["restartCount"] >= 2 and statuses[0]
    status = wait_for(restarted_twice, "the crashy pod to restart twice", timeout=20)
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["lastState"]["terminated"]["exitCode"] == 1
    for name in ("stuck", "crashy"):
        assert not available(api, namespace, name)


def test_admission_plugins_chosen_per_test(real_kube, real_api_server, real_namespace):
    """DenyServiceExternalIPs, enabled on an API server of this test's own, refuses a Service with
    externalIPs with the plugin's message; the session's API server (kubeadm's plugins) accepts it."""
    service = {"metadata": {"name": "edge"},
               "spec": {"ports": [{"port": 80}], "externalIPs": ["192.0.2.10"]}}
    strict = real_api_server(enable_admission_plugins=("DenyServiceExternalIPs",))
    strict_core = client.CoreV1Api(strict.api)
    with pytest.raises(ApiException) as refused:
        strict_core.create_namespaced_service("default", service)
    assert refused.value.status == 403
    assert "Use of external IPs is denied by admission control" in json.loads(refused.value.body)["message"]

    namespace = real_namespace("ext")
    accepted = client.CoreV1Api(real_kube.api).create_namespaced_service(namespace, service)
    assert accepted.spec.external_ips == ["192.0.2.10"]


def test_server_side_apply_conflict_then_force(real_kube, real_namespace):
    """A second field manager applying a field another owns gets 409 Conflict naming the owner;
    with force it takes the field over."""
    api, namespace = real_kube.api, real_namespace("ssa")
    core = client.CoreV1Api(api)

    def apply(manager: str, value: str, force: bool | None = None):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
                "data": {"mode": value}}
        return core.patch_namespaced_config_map("settings", namespace, body, field_manager=manager, force=force,
                                                _content_type="application/apply-patch+yaml")

    apply("wizard", "a")
    with pytest.raises(ApiException) as conflict:
        apply("operator", "b")
    assert conflict.value.status == 409
    assert 'conflict with "wizard"' in json.loads(conflict.value.body)["message"]

    assert apply("operator", "b", force=True).data == {"mode": "b"}
    stored = core.read_namespaced_config_map("settings", namespace)
    assert stored.data == {"mode": "b"}
    owners = {entry.manager for entry in stored.metadata.managed_fields if "f:data" in json.dumps(entry.fields_v1)}
    assert owners == {"operator"}


def test_helm_installs_a_real_chart_and_kubectl_waits_for_it(real_kube, real_kube_env, real_namespace):
    """helm 3.17 installs the real localpv-provisioner chart into the real API server (it checks the
    chart's kubeVersion against the server's v1.37.2); the real controllers roll its Deployment out
    and `kubectl wait` sees it Available. A chart-specific StorageClass name keeps tests independent."""
    chart = upstream("charts/localpv-provisioner-4.0.0.tgz")
    namespace = real_namespace("helm")
    env = real_kube_env
    run(env, "helm", "install", "localpv", str(chart), "--namespace", namespace,
        "--set", f"hostpathClass.name=hostpath-{namespace}")
    run(env, "kubectl", "wait", "--namespace", namespace, "--for=condition=Available", "--timeout=60s",
        "deployment/localpv-localpv-provisioner")
    listed = json.loads(run(env, "helm", "list", "--namespace", namespace, "--output", "json").stdout)
    assert [(r["name"], r["status"], r["chart"]) for r in listed] == [("localpv", "deployed", "localpv-provisioner-4.0.0")]
    storage_class = json.loads(run(env, "kubectl", "get", "storageclass", f"hostpath-{namespace}", "-o", "json").stdout)
    assert storage_class["provisioner"] == "openebs.io/local"
    version = json.loads(run(env, "kubectl", "version", "--output", "json").stdout)["serverVersion"]
    assert version["gitVersion"] == "v1.37.2"
    run(env, "helm", "uninstall", "localpv", "--namespace", namespace, "--wait", "--timeout", "60s")
    assert run(env, "kubectl", "get", "storageclass", f"hostpath-{namespace}", check=False).returncode != 0


def test_volume_provisioner_standin_and_the_real_pv_controller(real_kube, real_namespace):
    """With a WaitForFirstConsumer class the real scheduler picks the node and annotates the claim;
    the stand-in provisioner creates a PV for it; the real PV controller binds the claim, and the
    pod is scheduled and runs. Without the stand-in the claim would stay Pending."""
    api, namespace = real_kube.api, real_namespace("pvc")
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    class_name = f"local-{namespace}"
    storage.create_storage_class({"metadata": {"name": class_name}, "provisioner": "openebs.io/local",
                                  "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Delete"})
    try:
        core.create_namespaced_persistent_volume_claim(namespace, {
            "metadata": {"name": "data"},
            "spec": {"storageClassName": class_name, "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}})
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": "user"},
            "spec": {"containers": [{"name": "main", "image": "registry.invalid/app:1",
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}})
        with standins.VolumeProvisioner(api, class_name) as provisioner:
            wait_for(lambda: core.read_namespaced_persistent_volume_claim("data", namespace).status.phase == "Bound",
                     "the claim to be bound")
        claim = core.read_namespaced_persistent_volume_claim("data", namespace)
        assert claim.metadata.annotations[standins.SELECTED_NODE] == real_kube.node
        assert provisioner.provisioned == [claim.spec.volume_name]
        pod = wait_for(lambda: (p := core.read_namespaced_pod("user", namespace)).status.phase == "Running" and p,
                       "the pod to run")
        assert pod.spec.node_name == real_kube.node
    finally:
        storage.delete_storage_class(class_name)


def test_cert_manager_and_network_standins_write_status_the_checks_read(real_kube, real_kube_env, real_namespace):
    """The stand-ins write through the status subresources of the real cert-manager CRDs (from the
    real chart) and of core kinds, and `kubectl wait` sees the conditions they set."""
    chart = upstream("charts/cert-manager-v1.21.1.tgz")
    env, api = real_kube_env, real_kube.api
    crds = [f"templates/crd-cert-manager.io_{plural}.yaml" for plural in ("clusterissuers", "certificates")]
    rendered = run(env, "helm", "template", "cert-manager", str(chart), "--set", "crds.enabled=true",
                   *(arg for crd in crds for arg in ("--show-only", crd))).stdout
    run(env, "kubectl", "apply", "--server-side", "-f", "-", stdin=rendered)
    # Polled, not `kubectl wait`: kubectl fails at once when its watch ends with an error before the
    # CRD has any conditions ("<nil> is of the type <nil>"), which happens on a loaded machine.
    extensions = client.ApiextensionsV1Api(api)
    for plural in ("clusterissuers", "certificates"):
        wait_for(lambda: any(c.type == "Established" and c.status == "True"
                             for c in extensions.read_custom_resource_definition(
                                 f"{plural}.cert-manager.io").status.conditions or ()),
                 f"the {plural} CRD to be Established")

    namespace = real_namespace("certs")
    issuer = f"letsencrypt-{namespace}"
    custom = client.CustomObjectsApi(api)
    custom.create_cluster_custom_object("cert-manager.io", "v1", "clusterissuers", {
        "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": issuer},
        "spec": {"acme": {"server": "https://acme.invalid/directory", "privateKeySecretRef": {"name": "acme"},
                          "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]}}})
    try:
        standins.set_cluster_issuer_ready(api, issuer)
        run(env, "kubectl", "wait", "--for=condition=Ready", f"clusterissuer/{issuer}", "--timeout=10s")
    finally:
        custom.delete_cluster_custom_object("cert-manager.io", "v1", "clusterissuers", issuer)
    custom.create_namespaced_custom_object("cert-manager.io", "v1", namespace, "certificates", {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "hub-tls"},
        "spec": {"secretName": "hub-tls", "dnsNames": ["hub.example.org"],
                 "issuerRef": {"kind": "ClusterIssuer", "name": issuer}}})
    standins.set_certificate_ready(api, namespace, "hub-tls")
    run(env, "kubectl", "wait", "--namespace", namespace, "--for=condition=Ready", "certificate/hub-tls",
        "--timeout=10s")

    client.NetworkingV1Api(api).create_namespaced_ingress(namespace, {
        "metadata": {"name": "hub"},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "hub.example.org", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "proxy", "port": {"number": 80}}}}]}}]}})
    standins.set_ingress_address(api, namespace, "hub", "192.0.2.20")
    client.CoreV1Api(api).create_namespaced_service(namespace, {
        "metadata": {"name": "ingress"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}})
    standins.set_service_load_balancer(api, namespace, "ingress", "192.0.2.21")
    ingress = json.loads(run(env, "kubectl", "get", "-n", namespace, "ingress/hub", "-o", "json").stdout)
    service = json.loads(run(env, "kubectl", "get", "-n", namespace, "service/ingress", "-o", "json").stdout)
    assert ingress["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.20"}]
    assert service["status"]["loadBalancer"]["ingress"][0]["ip"] == "192.0.2.21"
    assert service["spec"]["clusterIP"].startswith("10.")  # allocated by the real API server


def test_a_webhook_service_is_called_at_its_ready_pod_through_the_cluster_network(real_kube, real_namespace,
                                                                                   tmp_path):
    """A ValidatingWebhookConfiguration (failurePolicy Fail) for this namespace's ConfigMaps: with no
    Ready pod behind its Service the real API server refuses them (no endpoints); once a pod is Ready
    it resolves the Service to that pod's IP and target port (--enable-aggregator-routing), dials it
    through the cluster network, and WebhookStandin, playing that pod with its CA injected, is asked
    and allows. What it cannot show: a real webhook server's answer."""
    api, namespace = real_kube.api, real_namespace("hook")
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    registration = client.AdmissionregistrationV1Api(api)
    name = f"realkube-hook-{namespace}"
    core.create_namespaced_service(namespace, {"metadata": {"name": "hook"}, "spec": {
        "selector": {"app": "hook"}, "ports": [{"name": "https", "port": 443, "targetPort": 8443}]}})
    registration.create_validating_webhook_configuration({"metadata": {"name": name}, "webhooks": [{
        "name": "check.realkube.test", "failurePolicy": "Fail", "sideEffects": "None", "timeoutSeconds": 5,
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
        "clientConfig": {"service": {"namespace": namespace, "name": "hook", "path": "/validate", "port": 443}}}]})
    webhook = standins.WebhookStandin(api, real_kube.control_plane.api.network, tmp_path / "hook", namespace, "hook",
                                      validating=(name,)).start()
    try:
        def create(index: int):
            return core.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{index}"}})

        with pytest.raises(ApiException) as refused:
            create(0)
        assert "no endpoints available" in json.loads(refused.value.body)["message"]

        pod = deployment("hook")
        pod["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "https", "containerPort": 8443}]
        apps.create_namespaced_deployment(namespace, pod)
        attempts = iter(range(1, 1000))

        def accepted() -> bool:
            try:
                return bool(create(next(attempts)))
            except ApiException:
                return False
        wait_for(accepted, "the webhook to allow a ConfigMap", timeout=30, interval=0.2)
        pod_ip = pods_of(api, namespace, "hook")[0]["status"]["podIP"]
        assert f"{pod_ip}:8443" in real_kube.control_plane.api.network.connected
        assert {"path": "/validate?timeout=5s", "kind": "ConfigMap", "operation": "CREATE", "dryRun": False} in webhook.reviews
    finally:
        webhook.stop()
        registration.delete_validating_webhook_configuration(name)
