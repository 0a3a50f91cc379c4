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

    def __init__(self, api: client.ApiClient, storage_class: str, provisioner: str = "openebs.io/local"):
        super().__init__(f"provisioner-{storage_class}")
        self.core = client.CoreV1Api(api)
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

