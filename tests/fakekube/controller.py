"""Test hooks that play the parts of a cluster's controllers and kubelets.

The fake runs no controllers: nothing becomes ready on its own. A test calls the helpers here
(`mark_deployment_available`, `set_condition`, `bind_pvc`, ...) when it wants a change, or turns on
the auto mode for a kind with `auto(kind, delay=...)`: every object of that kind then becomes
ready `delay` seconds after it is created or its spec changes (per-name delays override it), on
a `threading.Timer`, so a benchmark can script how long each stage of an install takes.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from .defaults import now
from .errors import ApiError
from .store import Event

if TYPE_CHECKING:
    from .server import FakeKube


@dataclass
class _Rule:
    delay: float
    per_name: dict[str, float] = field(default_factory=dict)
    action: Callable[[str | None, str], None] | None = None


def _condition(type_: str, status: str, reason: str, message: str, old: list | None, **extra) -> list:
    """`conditions` with `type_` set; lastTransitionTime moves only when the status changes."""
    conditions = [c for c in old or [] if c.get("type") != type_]
    previous = next((c for c in old or [] if c.get("type") == type_), None)
    t = now()
    changed = previous is None or previous.get("status") != status
    cond = {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": t if changed else previous.get("lastTransitionTime", t), **extra}
    return conditions + [cond]


def node_object(name: str, runtime: str, ready: bool, addresses: list[dict] | None,
                kubelet_version: str) -> dict:
    """A Node as a kubeadm node's kubelet registers it, with every field the client models need."""
    t = now()
    addresses = addresses or [{"type": "InternalIP", "address": "10.0.0.10"}]
    pressure = [(c, "False", f"KubeletHas{r}", m) for c, r, m in (
        ("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"))]
    ready_cond = ("Ready", "True", "KubeletReady", "kubelet is posting ready status") if ready else \
        ("Ready", "False", "KubeletNotReady", "container runtime network not ready")
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/control-plane": ""}},
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "addresses": addresses + [{"type": "Hostname", "address": name}],
            "allocatable": {"cpu": "2", "memory": "3900Mi", "pods": "110", "ephemeral-storage": "45Gi"},
            "capacity": {"cpu": "2", "memory": "4000Mi", "pods": "110", "ephemeral-storage": "50Gi"},
            "conditions": [{"type": c, "status": s, "reason": r, "message": m,
                            "lastHeartbeatTime": t, "lastTransitionTime": t}
                           for c, s, r, m in pressure + [ready_cond]],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": str(uuid.uuid4()),
                "containerRuntimeVersion": runtime, "kernelVersion": "6.1.0-27-amd64",
                "kubeProxyVersion": kubelet_version, "kubeletVersion": kubelet_version,
                "machineID": uuid.uuid4().hex, "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)", "systemUUID": str(uuid.uuid4()),
            },
        },
    }


class Controller:
    # The address auto mode gives Ingresses (a documentation address, RFC 5737); tests may set it.
    ingress_ip = "192.0.2.10"

    def __init__(self, fake: FakeKube):
        self.fake = fake
        self._rules: dict[tuple[str, str], _Rule] = {}
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        fake.store.listeners.append(self._on_event)

    # ---- auto mode -------------------------------------------------------------------------

    def auto(self, resource: str, delay: float = 0.0, per_name: dict[str, float] | None = None,
             action: Callable[[str | None, str], None] | None = None) -> None:
        """Make objects of `resource` (`Deployment`, `pvc`, `clusterissuers.cert-manager.io`, ...)
        ready `delay` seconds after each create or spec change; `per_name` overrides the delay by
        object name; `action(namespace, name)` replaces the built-in readiness for the kind.
        The resource need not exist yet (a CRD installed later is fine) if given as Kind.group."""
        kind, _, group = resource.partition(".")
        try:
            k = self.fake.registry.resolve(resource)
            kind, group = k.kind, k.group
        except KeyError:
            pass  # a custom resource whose CRD arrives later: match on the names given
        self._rules[(group, kind)] = _Rule(delay, dict(per_name or {}), action)

    def stop(self) -> None:
        with self._lock:
            for t in self._timers:
                t.cancel()
            self._timers.clear()

    def _on_event(self, event: Event) -> None:
        rule = self._rules.get((event.group, event.obj.get("kind", "")))
        if rule is None or event.type == "DELETED":
            return
        # Controllers react to creation and to spec changes (a new generation); status writes,
        # including the ones made here, do not trigger them again.
        if event.type == "MODIFIED" and (event.old or {}).get("metadata", {}).get("generation") == \
                event.obj["metadata"].get("generation"):
            return
        ns, name = event.namespace, event.obj["metadata"]["name"]
        resource = f"{event.obj['kind']}.{event.group}" if event.group else event.obj["kind"]
        action = rule.action or (lambda n, m: self.mark_ready(resource, n, m))
        timer = threading.Timer(rule.per_name.get(name, rule.delay), self._fire, (action, ns, name))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _fire(self, action, ns, name) -> None:
        with self._lock:
            self._timers.discard(threading.current_thread())  # type: ignore[arg-type]
        try:
            action(ns, name)
        except ApiError as e:
            if e.code != 404:  # deleted before its controller got to it: nothing to do
                raise

    def mark_ready(self, resource: str, namespace: str | None, name: str) -> None:
        """The built-in notion of ready for a kind; custom resources get condition Ready=True."""
        kind = self.fake.registry.resolve(resource)
        builtin = {
            ("apps", "Deployment"): self.mark_deployment_available,
            ("apps", "DaemonSet"): self.mark_daemonset_ready,
            ("apps", "StatefulSet"): self.mark_statefulset_ready,
            ("", "PersistentVolumeClaim"): self.bind_pvc,
            ("", "Pod"): self.mark_pod_ready,
            ("networking.k8s.io", "Ingress"): lambda ns, n: self.set_ingress_ip(ns, n, self.ingress_ip),
        }.get((kind.group, kind.kind))
        if builtin:
            builtin(namespace, name)
        else:
            self.set_condition(resource, namespace, name, "Ready", "True", "Ready", "ready (fake)")

    # ---- direct helpers ----------------------------------------------------------------------

    def _mutate(self, resource: str, namespace: str | None, name: str, change) -> dict:
        kind = self.fake.registry.resolve(resource)
        return self.fake.store.mutate(kind, namespace if kind.namespaced else None, name, change)

    def set_condition(self, resource: str, namespace: str | None, name: str, type: str,  # noqa: A002
                      status: str, reason: str = "", message: str = "") -> dict:
        def change(obj):
            st = obj.setdefault("status", {})
            extra = {"observedGeneration": obj["metadata"].get("generation", 1)}
            if obj["kind"] == "Deployment":
                extra = {"lastUpdateTime": now()}
            st["conditions"] = _condition(type, status, reason, message, st.get("conditions"), **extra)
        return self._mutate(resource, namespace, name, change)

    def mark_deployment_available(self, namespace: str, name: str) -> dict:
        def change(d):
            n, gen = d["spec"].get("replicas", 1), d["metadata"].get("generation", 1)
            conds = d.setdefault("status", {}).get("conditions")
            t = {"lastUpdateTime": now()}
            conds = _condition("Available", "True", "MinimumReplicasAvailable",
                               "Deployment has minimum availability.", conds, **t)
            conds = _condition("Progressing", "True", "NewReplicaSetAvailable",
                               f'ReplicaSet "{name}-{_template_hash(d)}" has successfully progressed.',
                               conds, **t)
            d["status"] = {"observedGeneration": gen, "replicas": n, "updatedReplicas": n,
                           "readyReplicas": n, "availableReplicas": n, "conditions": conds}
        obj = self._mutate("Deployment", namespace, name, change)
        self._run_pods(obj, obj["spec"].get("replicas", 1))
        return obj

    def mark_statefulset_ready(self, namespace: str, name: str) -> dict:
        def change(s):
            n, rev = s["spec"].get("replicas", 1), f"{name}-{_template_hash(s)}"
            s["status"] = {"observedGeneration": s["metadata"].get("generation", 1), "replicas": n,
                           "readyReplicas": n, "currentReplicas": n, "updatedReplicas": n,
                           "availableReplicas": n, "currentRevision": rev, "updateRevision": rev,
                           "collisionCount": 0}
        obj = self._mutate("StatefulSet", namespace, name, change)
        self._run_pods(obj, obj["spec"].get("replicas", 1))
        return obj

    def mark_daemonset_ready(self, namespace: str, name: str) -> dict:
        nodes = max(1, len(self.fake.store.list(self.fake.registry.resolve("Node"), None, lambda o: True)[0]))

        def change(d):
            d["status"] = {"observedGeneration": d["metadata"].get("generation", 1),
                           "currentNumberScheduled": nodes, "desiredNumberScheduled": nodes,
                           "numberMisscheduled": 0, "numberReady": nodes, "numberAvailable": nodes,
                           "updatedNumberScheduled": nodes}
        obj = self._mutate("DaemonSet", namespace, name, change)
        self._run_pods(obj, nodes)
        return obj

    def _run_pods(self, owner: dict, count: int) -> None:
        """Replace the owner's pods with `count` Ready ones from its current template."""
        store, pod_kind = self.fake.store, self.fake.registry.resolve("Pod")
        ns, name = owner["metadata"]["namespace"], owner["metadata"]["name"]

        def owned(p):
            return any(r.get("uid") == owner["metadata"]["uid"] for r in p["metadata"].get("ownerReferences", []))
        for old in store.list(pod_kind, ns, owned)[0]:
            store.delete(pod_kind, ns, old["metadata"]["name"])
        template, digest = owner["spec"]["template"], _template_hash(owner)
        for _ in range(count):
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
                "generateName": f"{name}-{digest}-",
                "labels": {**template.get("metadata", {}).get("labels", {}), "pod-template-hash": digest},
                "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": name,
                                     "uid": owner["metadata"]["uid"], "controller": True,
                                     "blockOwnerDeletion": True}]},
                "spec": json.loads(json.dumps(template.get("spec", {})))}
            created = store.create(pod_kind, ns, pod)
            self.mark_pod_ready(ns, created["metadata"]["name"])

    def mark_pod_ready(self, namespace: str, name: str) -> dict:
        nodes = self.fake.store.list(self.fake.registry.resolve("Node"), None, lambda o: True)[0]
        node = nodes[0]["metadata"]["name"] if nodes else "node-1"
        ip = f"10.244.0.{random.randint(2, 254)}"

        def change(p):
            t = now()
            p["spec"].setdefault("nodeName", node)
            p["status"] = {
                "phase": "Running", "hostIP": "10.0.0.10", "hostIPs": [{"ip": "10.0.0.10"}],
                "podIP": ip, "podIPs": [{"ip": ip}], "startTime": t, "qosClass": "BestEffort",
                "conditions": [{"type": c, "status": "True", "lastProbeTime": None, "lastTransitionTime": t}
                               for c in ("PodReadyToStartContainers", "Initialized", "Ready",
                                         "ContainersReady", "PodScheduled")],
                "containerStatuses": [{
                    "name": c["name"], "image": c.get("image", ""), "imageID": f"{c.get('image', '')}@sha256:"
                    + hashlib.sha256(c.get("image", "").encode()).hexdigest(), "ready": True,
                    "started": True, "restartCount": 0, "containerID": f"containerd://{uuid.uuid4().hex}",
                    "state": {"running": {"startedAt": t}}} for c in p["spec"].get("containers", [])],
            }
        return self._mutate("Pod", namespace, name, change)

    def bind_pvc(self, namespace: str, name: str) -> dict:
        """Bind the claim as a provisioner would: a new PersistentVolume, claim Bound to it."""
        pvc = self.fake.store.get(self.fake.registry.resolve("pvc"), namespace, name)
        spec, pv_name = pvc["spec"], f"pvc-{pvc['metadata']['uid']}"
        size = spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
        self.fake.store.create(self.fake.registry.resolve("PersistentVolume"), None, {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": "openebs.io/local"}},
            "spec": {"capacity": {"storage": size}, "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
                     "storageClassName": spec.get("storageClassName", ""),
                     "persistentVolumeReclaimPolicy": "Delete", "volumeMode": spec.get("volumeMode", "Filesystem"),
                     "hostPath": {"path": f"/var/openebs/local/{pv_name}", "type": ""},
                     "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace,
                                  "name": name, "uid": pvc["metadata"]["uid"]}}})
        self._mutate("PersistentVolume", None, pv_name, lambda pv: pv["status"].update(phase="Bound"))

        def change(c):
            c["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bind-completed"] = "yes"
            c["spec"]["volumeName"] = pv_name
            c["status"] = {"phase": "Bound", "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
                           "capacity": {"storage": size}}
        return self._mutate("pvc", namespace, name, change)

    def set_ingress_ip(self, namespace: str, name: str, ip: str) -> dict:
        return self._mutate("Ingress", namespace, name,
                            lambda i: i.setdefault("status", {}).update(loadBalancer={"ingress": [{"ip": ip}]}))


def _template_hash(obj: dict) -> str:
    """A stand-in for pod-template-hash: stable for one template, different for another."""
    digest = hashlib.sha256(json.dumps(obj["spec"].get("template", {}), sort_keys=True).encode())
    return digest.hexdigest()[:10]
