"""What controllers that do not run here would write, written by name and as narrowly as possible.

On a real cluster cert-manager sets its issuers' and certificates' Ready conditions, the ingress
controller fills an Ingress's status.loadBalancer, a load-balancer implementation (MetalLB) fills a
Service's, and the local-path provisioner (openebs-hostpath) creates a PersistentVolume for a claim.
None of them runs against the test control plane, so a test calls these helpers for exactly the
objects it names, and everything else (binding a claim to the volume, endpoints, rollouts) is left
to the real controllers. The code under test never calls them.

For whole installs: WebhookStandin plays the pods behind an admission webhook and its CA
injection; ClusterControllers runs the status writers above (and cert-manager's ingress-shim) in a
thread, after delays a test or the benchmark chooses.
"""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.tls_standin import TestCA

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


class Polling:
    """A stand-in controller's loop: `poll()` every 0.2 s in a thread while used as a context
    manager; an error stops it and is raised on exit."""

    def __init__(self, name: str):
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self):
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
                self.poll()
            except Exception as error:  # surfaced on exit; the test's own wait times out first
                self.error = error
                return

    def poll(self) -> None:
        raise NotImplementedError


class VolumeProvisioner(Polling):
    """Plays the external provisioner of one StorageClass (openebs-hostpath, say): for each claim of
    that class that is ready to provision (Immediate binding, or WaitForFirstConsumer once the
    scheduler picked a node), it creates a hostPath PersistentVolume pre-bound to the claim. The
    real PV controller then binds the claim, and the real scheduler places the pod.

    Use as a context manager; it polls every 0.2 s in a thread."""

    def __init__(self, api: client.ApiClient, storage_class: str, provisioner: str = "openebs.io/local",
                 delay: float = 0.0):
        """`delay`: seconds from when a claim is first seen ready to provision to its volume."""
        super().__init__(f"provisioner-{storage_class}")
        self.core = client.CoreV1Api(api)
        self.delay, self._seen = delay, {}
        self.storage_class, self.provisioner = storage_class, provisioner
        self.provisioned: list[str] = []

    def __enter__(self) -> "VolumeProvisioner":
        mode = client.StorageV1Api(self.core.api_client).read_storage_class(self.storage_class).volume_binding_mode
        self.wait_for_first_consumer = mode == "WaitForFirstConsumer"
        return super().__enter__()

    def poll(self) -> None:
        self.provision_pending()

    def provision_pending(self) -> list[str]:
        made = []
        for claim in self.core.list_persistent_volume_claim_for_all_namespaces().items:
            if claim.spec.storage_class_name != self.storage_class or claim.spec.volume_name:
                continue
            node = (claim.metadata.annotations or {}).get(SELECTED_NODE)
            if self.wait_for_first_consumer and not node:
                continue
            if time.monotonic() - self._seen.setdefault(claim.metadata.uid, time.monotonic()) < self.delay:
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


class WebhookStandin:
    """Plays the pods behind an admission webhook Service, and the CA injection that makes the API
    server trust them (cert-manager's cainjector; kube-webhook-certgen's patch Job for ingress-nginx).

    For each Ready endpoint of `service` (EndpointSlices written by the real controller-manager from
    the pods kwok runs), it routes that pod IP and port in the cluster network (clusternet.py) to
    one local HTTPS server, whose certificate names `SERVICE.NAMESPACE.svc` and is signed by a CA of
    its own; that CA goes into the caBundle of the named webhook configurations (the chart's). The
    server answers every AdmissionReview with allowed=true and records what it was asked.

    What this proves: the real API server calls the chart's webhooks (failurePolicy Fail) through
    the Service, only once a pod is Ready, and trusts them only once the CA is injected; until then
    it refuses the objects, as a cluster does. What it cannot: the real webhook's validation or
    mutation of an object (every review is allowed unchanged).
    """

    def __init__(self, api: client.ApiClient, network, directory, namespace: str, service: str, *,
                 validating: tuple[str, ...] = (), mutating: tuple[str, ...] = ()):
        self.api, self.network = api, network
        self.namespace, self.service = namespace, service
        self.validating, self.mutating = validating, mutating
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = TestCA(directory, f"{service} stand-in CA")
        cert, key = self.ca.issue([f"{service}.{namespace}.svc"])
        self.ca_bundle = self.ca.ca_path.read_bytes()
        self.reviews: list[dict] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                review = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                request = review.get("request") or {}
                standin.reviews.append({"path": self.path, "kind": (request.get("kind") or {}).get("kind"),
                                        "operation": request.get("operation"), "dryRun": request.get("dryRun")})
                body = json.dumps({"apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                                   "kind": "AdmissionReview",
                                   "response": {"uid": request.get("uid", ""), "allowed": True}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.routed: set[str] = set()
        self._stop = threading.Event()

    def start(self) -> "WebhookStandin":
        threading.Thread(target=self.server.serve_forever, name=f"webhook-{self.service}", daemon=True).start()
        threading.Thread(target=self._run, name=f"webhook-endpoints-{self.service}", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for address in self.routed:
            self.network.unroute(address)
        self.server.shutdown()
        self.server.server_close()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.sync()
            except Exception:  # noqa: BLE001 - the API server restarting, a CRD not there yet: next pass
                continue

    def sync(self) -> None:
        slices = client.DiscoveryV1Api(self.api).list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"kubernetes.io/service-name={self.service}").items
        ready = {f"{address}:{port.port}" for piece in slices for port in (piece.ports or [])
                 for endpoint in (piece.endpoints or []) if endpoint.conditions and endpoint.conditions.ready
                 for address in endpoint.addresses[:1]}
        for address in ready - self.routed:
            self.network.route(address, self.port)
        for address in self.routed - ready:
            self.network.unroute(address)
        self.routed = ready
        self._inject()

    def _inject(self) -> None:
        bundle = base64.b64encode(self.ca_bundle).decode()
        registration = client.AdmissionregistrationV1Api(self.api)
        for names, read, patch in ((self.validating, registration.read_validating_webhook_configuration,
                                    registration.patch_validating_webhook_configuration),
                                   (self.mutating, registration.read_mutating_webhook_configuration,
                                    registration.patch_mutating_webhook_configuration)):
            for name in names:
                try:
                    found = read(name)
                except ApiException as error:
                    if error.status == 404:
                        continue
                    raise
                hooks = found.webhooks or []
                if all(hook.client_config.ca_bundle == bundle for hook in hooks):
                    continue
                patch(name, [{"op": "replace", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": bundle}
                             if hook.client_config.ca_bundle else
                             {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": bundle}
                             for index, hook in enumerate(hooks)])


class ClusterControllers:
    """What cert-manager's controllers, the ingress controller and the volume provisioner would
    write for an install, each after a delay the test chooses (per kind, or per object name):

    - ClusterIssuer: Ready (the ACME account registered);
    - every Ingress: status.loadBalancer with `ingress_ip`; and cert-manager's
      ingress-shim: a Certificate for each TLS secret of an Ingress annotated with a cluster issuer;
    - Certificate: Ready (the Secret itself is not written: nothing here serves TLS from it);
    - claims of `storage_class`: a PersistentVolume (VolumeProvisioner), once the class exists.

    Delays count from when the object is first seen. A poll of 0.1 s in one thread; the code under test
    never calls it. What it cannot prove: anything those controllers decide (ACME, certificates,
    routing)."""

    DEFAULTS = {"ClusterIssuer": 0.2, "Certificate": 0.2, "Ingress": 0.1}

    def __init__(self, api: client.ApiClient, *, ingress_ip: str, storage_class: str = "openebs-hostpath",
                 delays: dict[str, float] | None = None, volume_delay: float = 0.0):
        self.api, self.ingress_ip, self.storage_class = api, ingress_ip, storage_class
        self.volume_delay = volume_delay
        self.delays = {**self.DEFAULTS, **(delays or {})}
        self.custom = client.CustomObjectsApi(api)
        self.networking = client.NetworkingV1Api(api)
        self.provisioner: VolumeProvisioner | None = None
        self.done: set[tuple[str, str, str]] = set()
        self._seen: dict[tuple[str, str, str], float] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cluster-controllers", daemon=True)

    def start(self) -> "ClusterControllers":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.provisioner:
            self.provisioner.__exit__(None, None, None)

    def withhold_issuer(self, name: str) -> None:
        """Never make this ClusterIssuer Ready, and clear the status it has (as for an issuer whose
        ACME account is still being registered)."""
        self.delays[f"ClusterIssuer/{name}"] = float("inf")
        try:
            self.custom.patch_cluster_custom_object_status(*CERT_MANAGER, "clusterissuers", name, {"status": None})
        except ApiException as error:
            if error.status != 404:
                raise

    def _delay(self, kind: str, name: str) -> float:
        return self.delays.get(f"{kind}/{name}", self.delays.get(kind, 0.0))

    def _due(self, kind: str, key: tuple[str, str, str]) -> bool:
        # Timestamps have whole seconds: the delay counts from when this loop first saw the object.
        first = self._seen.setdefault(key, time.monotonic())
        return key not in self.done and time.monotonic() - first >= self._delay(kind, key[2])

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for step in (self._issuers, self._ingresses, self._certificates, self._volumes):
                try:
                    step()
                except ApiException as error:
                    if error.status != 404:  # a CRD not installed yet is not an error
                        self.errors.append(f"{step.__name__}: {error.status} {error.reason}")
                except Exception as error:  # noqa: BLE001 - recorded; the test's own wait fails first
                    self.errors.append(f"{step.__name__}: {error!r}")

    def _issuers(self) -> None:
        for issuer in self.custom.list_cluster_custom_object(*CERT_MANAGER, "clusterissuers")["items"]:
            key = ("ClusterIssuer", "", issuer["metadata"]["name"])
            if self._due("ClusterIssuer", key):
                set_cluster_issuer_ready(self.api, key[2])
                self.done.add(key)

    def _certificates(self) -> None:
        for certificate in self.custom.list_cluster_custom_object(*CERT_MANAGER, "certificates")["items"]:
            meta = certificate["metadata"]
            key = ("Certificate", meta["namespace"], meta["name"])
            if self._due("Certificate", key):
                set_certificate_ready(self.api, meta["namespace"], meta["name"])
                self.done.add(key)

    def _ingresses(self) -> None:
        for ingress in self.networking.list_ingress_for_all_namespaces().items:
            meta = ingress.metadata
            key = ("Ingress", meta.namespace, meta.name)
            if not self._due("Ingress", key):
                continue
            issuer = (meta.annotations or {}).get("cert-manager.io/cluster-issuer")
            for tls in (ingress.spec.tls or []) if issuer else []:
                self._ingress_shim(ingress, tls, issuer)
            set_ingress_address(self.api, meta.namespace, meta.name, self.ingress_ip)
            self.done.add(key)

    def _ingress_shim(self, ingress, tls, issuer: str) -> None:
        meta = ingress.metadata
        certificate = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                       "metadata": {"name": tls.secret_name, "namespace": meta.namespace,
                                    "ownerReferences": [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                                         "name": meta.name, "uid": meta.uid, "controller": True,
                                                         "blockOwnerDeletion": True}]},
                       "spec": {"secretName": tls.secret_name, "dnsNames": tls.hosts or [],
                                "issuerRef": {"name": issuer, "kind": "ClusterIssuer",
                                              "group": "cert-manager.io"}}}
        try:
            self.custom.create_namespaced_custom_object(*CERT_MANAGER, meta.namespace, "certificates", certificate)
        except ApiException as error:
            if error.status != 409:
                raise

    def _volumes(self) -> None:
        if self.provisioner is None:
            try:
                client.StorageV1Api(self.api).read_storage_class(self.storage_class)
            except ApiException as error:
                if error.status == 404:
                    return
                raise
            self.provisioner = VolumeProvisioner(self.api, self.storage_class, delay=self.volume_delay).__enter__()


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
