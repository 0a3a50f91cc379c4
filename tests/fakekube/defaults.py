"""The defaulting kube-apiserver does on every write, so objects come back as complete as a real
cluster's: the `kubernetes` python client parses into strict models and fails on shapes a real
server never sends (a DaemonSet status without its four counters, for one)."""

from __future__ import annotations

import base64
import calendar
import time
import uuid

from .resources import Kind


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def age(timestamp: str | None) -> str:
    """`5s`, `3m`, `2h`: the short form kubectl shows in the AGE column."""
    if not timestamp:
        return "<unknown>"
    seconds = int(time.time() - calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _container(c: dict) -> None:
    c.setdefault("imagePullPolicy", "Always" if str(c.get("image", "")).endswith(":latest")
                 or ":" not in str(c.get("image", "")).rsplit("/", 1)[-1] else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        p.setdefault("protocol", "TCP")


def pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    if "serviceAccountName" in spec or "serviceAccount" in spec:
        name = spec.get("serviceAccountName") or spec.get("serviceAccount")
        spec["serviceAccountName"] = spec["serviceAccount"] = name
    for c in spec.get("containers") or []:
        _container(c)
    for c in spec.get("initContainers") or []:
        _container(c)


def _template(spec: dict) -> None:
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    pod_spec(template.setdefault("spec", {}))


def _service(obj: dict, seq: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if spec["type"] != "ExternalName":
        spec.setdefault("clusterIP", f"10.96.{seq // 250 % 250}.{seq % 250 + 1}")
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("sessionAffinity", "None")
    for i, p in enumerate(spec.get("ports") or []):
        p.setdefault("protocol", "TCP")
        p.setdefault("targetPort", p.get("port"))
        if spec["type"] in ("NodePort", "LoadBalancer"):
            p.setdefault("nodePort", 30000 + (seq * 7 + i) % 2767)
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _crd(obj: dict) -> None:
    spec = obj.get("spec", {})
    storage = [v["name"] for v in spec.get("versions", []) if v.get("storage")]
    status = obj.setdefault("status", {})
    status.setdefault("acceptedNames", spec.get("names", {}))
    status.setdefault("storedVersions", storage)
    # The API server itself (not a separate controller) accepts the names and establishes the
    # CRD, within milliseconds; clients such as helm wait for Established before using it.
    if not status.get("conditions"):
        t = now()
        status["conditions"] = [
            {"type": t_, "status": "True", "reason": r, "message": m, "lastTransitionTime": t}
            for t_, r, m in (("NamesAccepted", "NoConflicts", "no conflicts found"),
                             ("Established", "InitialNamesAccepted", "the initial names have been accepted"))
        ]


def _webhooks(obj: dict) -> None:
    for w in obj.get("webhooks") or []:
        w.setdefault("timeoutSeconds", 10)
        w.setdefault("failurePolicy", "Fail")
        w.setdefault("matchPolicy", "Equivalent")
        w.setdefault("namespaceSelector", {})
        w.setdefault("objectSelector", {})


def apply_defaults(kind: Kind, obj: dict, seq: int) -> None:
    """Fill what the real API server fills; `seq` is a per-server counter used to hand out
    unique cluster IPs and node ports."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    k = (kind.group, kind.kind)
    if k == ("", "Namespace"):
        obj.setdefault("metadata", {}).setdefault("labels", {})["kubernetes.io/metadata.name"] = (
            obj["metadata"]["name"])
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif k == ("", "Secret"):
        obj.setdefault("type", "Opaque")
        # stringData is write-only: the API server merges it into data, base64-encoded.
        for key, value in (obj.pop("stringData", None) or {}).items():
            obj.setdefault("data", {})[key] = base64.b64encode(str(value).encode()).decode()
    elif k == ("", "Service"):
        _service(obj, seq)
    elif k == ("", "Pod"):
        pod_spec(obj.setdefault("spec", {}))
        obj.setdefault("status", {}).setdefault("phase", "Pending")
        obj["status"].setdefault("qosClass", "BestEffort")
    elif k == ("", "PersistentVolumeClaim"):
        obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        obj.setdefault("status", {}).setdefault("phase", "Pending")
    elif k == ("", "PersistentVolume"):
        obj.setdefault("spec", {}).setdefault("persistentVolumeReclaimPolicy", "Retain")
        obj["spec"].setdefault("volumeMode", "Filesystem")
        obj.setdefault("status", {}).setdefault("phase", "Available")
    elif k == ("apps", "Deployment"):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        _template(spec)
        obj.setdefault("status", {})
    elif k == ("apps", "DaemonSet"):
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        _template(spec)
        status = obj.setdefault("status", {})
        for field in ("currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled",
                      "numberReady"):
            status.setdefault(field, 0)
    elif k in (("apps", "StatefulSet"), ("apps", "ReplicaSet")):
        spec.setdefault("replicas", 1)
        if kind.kind == "StatefulSet":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"partition": 0}})
        _template(spec)
        obj.setdefault("status", {}).setdefault("replicas", 0)
    elif k == ("batch", "Job"):
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        _template(spec)
        obj.setdefault("status", {})
    elif k == ("batch", "CronJob"):
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        _template(spec.setdefault("jobTemplate", {}).setdefault("spec", {}))
        obj.setdefault("status", {})
    elif k == ("policy", "PodDisruptionBudget"):
        status = obj.setdefault("status", {})
        for field in ("currentHealthy", "desiredHealthy", "disruptionsAllowed", "expectedPods"):
            status.setdefault(field, 0)
    elif k == ("storage.k8s.io", "StorageClass"):
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")
    elif k == ("networking.k8s.io", "Ingress"):
        obj.setdefault("status", {}).setdefault("loadBalancer", {})
    elif k == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        _crd(obj)
    elif kind.group == "admissionregistration.k8s.io":
        _webhooks(obj)


def carry_over(kind: Kind, old: dict, new: dict) -> None:
    """Fields the API server keeps from the stored object when an update leaves them out."""
    if (kind.group, kind.kind) == ("", "Service"):
        old_spec, spec = old.get("spec", {}), new.setdefault("spec", {})
        for field in ("clusterIP", "clusterIPs"):
            if field in old_spec and not spec.get(field):
                spec[field] = old_spec[field]


def new_metadata(obj: dict, kind: Kind, namespace: str | None, rv: int) -> dict:
    meta = obj.setdefault("metadata", {})
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    meta["resourceVersion"] = str(rv)
    if kind.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if kind.tracks_generation:
        meta["generation"] = 1
    for field in ("selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
        meta.pop(field, None)
    return meta
