"""What controllers that do not run here would write, written by name and as narrowly as possible.

On a real cluster cert-manager sets its issuers' and certificates' Ready conditions, the ingress
controller fills an Ingress's status.loadBalancer, a load-balancer implementation (MetalLB) fills a
Service's, and the local-path provisioner (openebs-hostpath) creates a PersistentVolume for a claim.
None of them runs against the test control plane, so a test calls these helpers for exactly the
objects it names, and everything else (binding a claim to the volume, endpoints, rollouts) is left
to the real controllers. The code under test never calls them.
"""

from __future__ import annotations

import datetime
import threading

from kubernetes import client
from kubernetes.client.exceptions import ApiException

CERT_MANAGER = ("cert-manager.io", "v1")
SELECTED_NODE = "volume.kubernetes.io/selected-node"  # the scheduler's choice for a WaitForFirstConsumer claim


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ready_condition(ready: bool, reason: str, message: str) -> dict:
    return {"type": "Ready", "status": "True" if ready else "False", "reason": reason, "message": message,
            "lastTransitionTime": _now(), "observedGeneration": 1}


def set_cluster_issuer_ready(api: client.ApiClient, name: str, ready: bool = True,
                             reason: str = "ACMEAccountRegistered",
                             message: str = "The ACME account was registered with the ACME server") -> dict:
    """The Ready condition cert-manager's issuer controller sets once the ACME account exists."""
    body = {"status": {"conditions": [_ready_condition(ready, reason, message)],
                       "acme": {"uri": "https://acme.invalid/acct/1"} if ready else {}}}
    return client.CustomObjectsApi(api).patch_cluster_custom_object_status(
        *CERT_MANAGER, "clusterissuers", name, body)


def set_certificate_ready(api: client.ApiClient, namespace: str, name: str, ready: bool = True,
                          reason: str = "Ready", message: str = "Certificate is up to date and has not expired") -> dict:
    """The Ready condition cert-manager's certificates controller sets once the Secret holds a valid certificate."""
    status: dict = {"conditions": [_ready_condition(ready, reason, message)]}
    if ready:
        now = datetime.datetime.now(datetime.timezone.utc)
        status.update(notBefore=_now(), notAfter=(now + datetime.timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      renewalTime=(now + datetime.timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        *CERT_MANAGER, namespace, "certificates", name, {"status": status})


def set_ingress_address(api: client.ApiClient, namespace: str, name: str, ip: str):
    """The address the ingress controller publishes on each Ingress it serves."""
    body = {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}
    return client.NetworkingV1Api(api).patch_namespaced_ingress_status(name, namespace, body)


def set_service_load_balancer(api: client.ApiClient, namespace: str, name: str, ip: str):
    """The address a load-balancer implementation (MetalLB, a cloud) gives a Service of type LoadBalancer."""
    body = {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}}
    return client.CoreV1Api(api).patch_namespaced_service_status(name, namespace, body)


class VolumeProvisioner:
    """Plays the external provisioner of one StorageClass (openebs-hostpath, say): for each claim of
    that class that is ready to provision (Immediate binding, or WaitForFirstConsumer once the
    scheduler picked a node), it creates a hostPath PersistentVolume pre-bound to the claim. The
    real PV controller then binds the claim, and the real scheduler places the pod.

    Use as a context manager; it polls every 0.2 s in a thread."""

    def __init__(self, api: client.ApiClient, storage_class: str, provisioner: str = "openebs.io/local"):
        self.core = client.CoreV1Api(api)
        self.storage_class, self.provisioner = storage_class, provisioner
        self.provisioned: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"provisioner-{storage_class}", daemon=True)
        self.error: Exception | None = None

    def __enter__(self) -> "VolumeProvisioner":
        mode = client.StorageV1Api(self.core.api_client).read_storage_class(self.storage_class).volume_binding_mode
        self.wait_for_first_consumer = mode == "WaitForFirstConsumer"
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.error and not exc[0]:
            raise self.error

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.provision_pending()
            except Exception as error:  # surfaced on exit; the test's own wait times out first
                self.error = error
                return

    def provision_pending(self) -> list[str]:
        made = []
        for claim in self.core.list_persistent_volume_claim_for_all_namespaces().items:
            if claim.spec.storage_class_name != self.storage_class or claim.spec.volume_name:
                continue
            node = (claim.metadata.annotations or {}).get(SELECTED_NODE)
            if self.wait_for_first_consumer and not node:
                continue
            made.append(self._provision(claim, node))
        return [name for name in made if name]

    def _provision(self, claim, node: str | None) -> str | None:
        name = f"pvc-{claim.metadata.uid}"
        volume: dict = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": self.provisioner}},
            "spec": {"capacity": {"storage": claim.spec.resources.requests["storage"]},
                     "accessModes": claim.spec.access_modes, "storageClassName": self.storage_class,
                     "persistentVolumeReclaimPolicy": "Delete", "volumeMode": claim.spec.volume_mode or "Filesystem",
                     "hostPath": {"path": f"/var/openebs/local/{name}"},
                     "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "uid": claim.metadata.uid,
                                  "namespace": claim.metadata.namespace, "name": claim.metadata.name}},
        }
        if node:
            volume["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
        try:
            self.core.create_persistent_volume(volume)
        except ApiException as error:
            if error.status == 409:  # made on an earlier pass, not bound yet
                return None
            raise
        self.provisioned.append(name)
        return name



class AdmissionWebhook:
    """Plays a validating admission webhook's server (ingress-nginx's controller, say) for one
    ValidatingWebhookConfiguration the real API server calls: HTTPS on 127.0.0.1 with a test CA
    (the configuration's caBundle), allowing every review and recording it. `register` creates the
    configuration before anything listens (the API server then gets "connection refused", as with
    a controller pod not ready yet); `start` listens; `close` stops and deletes the configuration.

    What the API server does with it (calling it on dry runs too, failurePolicy Fail, the
    namespaceSelector) is real; only the webhook's answer is the test's."""

    def __init__(self, api: client.ApiClient, directory, name: str, namespace: str,
                 resources: tuple[str, str, str] = ("networking.k8s.io", "v1", "ingresses")):
        import base64
        import ssl

        from tests.realkube.controlplane import free_port
        from tests.tls_standin import TestCA

        directory.mkdir(parents=True, exist_ok=True)
        self.api, self.name, self.namespace, self.resources = api, name, namespace, resources
        ca = TestCA(directory, f"{name} webhook CA")
        cert, key = ca.issue(["127.0.0.1"])
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.ca_bundle = base64.b64encode(ca.ca_path.read_bytes()).decode()
        self.port = free_port()
        self.reviews: list[dict] = []
        self._server = None

    def register(self) -> "AdmissionWebhook":
        group, version, plural = self.resources
        client.AdmissionregistrationV1Api(self.api).create_validating_webhook_configuration({
            "metadata": {"name": self.name},
            "webhooks": [{
                "name": f"{self.name}.realkube.test", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": "Fail", "timeoutSeconds": 2,
                "clientConfig": {"url": f"https://127.0.0.1:{self.port}/validate", "caBundle": self.ca_bundle},
                "rules": [{"apiGroups": [group], "apiVersions": [version], "operations": ["CREATE", "UPDATE"],
                           "resources": [plural]}],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}},
            }]})
        return self

    def start(self) -> "AdmissionWebhook":
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                review = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                webhook.reviews.append(review["request"])
                answer = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                     "response": {"uid": review["request"]["uid"], "allowed": True}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def close(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        try:
            client.AdmissionregistrationV1Api(self.api).delete_validating_webhook_configuration(self.name)
        except ApiException as error:
            if error.status != 404:
                raise


def register_node(api: client.ApiClient, name: str, *, ready: bool = True, **options) -> dict:
    """A node as its kubelet registers it and then reports it (Ready, or NotReady with the kubelet's
    reason), for an API server without kwok (fixture real_kube_without_nodes); nothing renews it,
    so only where no node lifecycle controller runs. `options` go to nodes.node_manifest."""
    from tests.realkube.nodes import node_manifest

    manifest = node_manifest(name, **options)
    del manifest["metadata"]["annotations"]  # not kwok's to manage
    reason, message = (("KubeletReady", "kubelet is posting ready status") if ready else
                       ("KubeletNotReady", "container runtime network not ready: NetworkReady=false"))
    manifest["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False", "reason": reason,
                                         "message": message, "lastHeartbeatTime": _now(),
                                         "lastTransitionTime": _now()}]
    return client.CoreV1Api(api).create_node(manifest)
