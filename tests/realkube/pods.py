"""What the pods on kwok's nodes do (kwok-stages.yaml reads it), and adding nodes.

A pod's behaviour is a set of annotations. A test that writes its own pod template sets them there
(`pod_annotations`); for pods it does not write (a chart's), `PodBehaviours` has the API server add
them when the pod is created, with a real MutatingAdmissionPolicy bound to the pods' labels. So a
test or the benchmark picks, per Deployment, how long its pods take to become Ready, or that they
never do, before anything is installed.
"""

from __future__ import annotations

import itertools
import json
import time

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .nodes import node_manifest

READY_AFTER = "realkube.test/ready-after"        # "5s": from bound to Running and Ready
COMPLETE_AFTER = "realkube.test/complete-after"  # "2s": run-once pods, from Running to Succeeded
FAULT = "realkube.test/fault"
NOT_READY = "not-ready"    # Running, containers started, never Ready
CRASH_LOOP = "crash-loop"  # Running, CrashLoopBackOff, the restart count climbing every 5 s
FAULTS = (NOT_READY, CRASH_LOOP)


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def pod_annotations(ready_after: float | None = None, fault: str | None = None,
                    complete_after: float | None = None) -> dict[str, str]:
    """The annotations for a pod template a test writes itself."""
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"fault must be one of {', '.join(FAULTS)}, not {fault!r}")
    annotations = {}
    if ready_after is not None:
        annotations[READY_AFTER] = _duration(ready_after)
    if complete_after is not None:
        annotations[COMPLETE_AFTER] = _duration(complete_after)
    if fault is not None:
        annotations[FAULT] = fault
    return annotations


def add_node(api: client.ApiClient, name: str, timeout: float = 30, **options) -> dict:
    """Registers a node and waits until kwok reports it Ready."""
    core = client.CoreV1Api(api)
    core.create_node(node_manifest(name, **options))
    deadline = time.monotonic() + timeout
    while True:
        node = api.sanitize_for_serialization(core.read_node(name))
        if any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", [])):
            return node
        if time.monotonic() > deadline:
            raise TimeoutError(f"node {name} is not Ready after {timeout}s: is kwok running?")
        time.sleep(0.1)


class PodBehaviours:
    """Per-workload pod behaviour, chosen by label selector before the pods exist.

        behaviours.set({"app.kubernetes.io/name": "binderhub"}, namespace="binder", ready_after=5)
        behaviours.set({"component": "hub"}, namespace="binder", fault=CRASH_LOOP)

    Each call adds one MutatingAdmissionPolicy and its binding, and returns once the API server
    applies it (checked with a dry-run pod). Selectors of two calls should not match the same pod."""

    _ids = itertools.count(1)

    def __init__(self, api: client.ApiClient):
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.names: list[str] = []

    def set(self, labels: dict[str, str], *, namespace: str | None = None, ready_after: float | None = None,
            fault: str | None = None, complete_after: float | None = None, timeout: float = 15) -> str:
        annotations = pod_annotations(ready_after, fault, complete_after)
        if not annotations or not labels:
            raise ValueError("set needs labels to select pods and a behaviour (ready_after, fault or complete_after)")
        name = f"realkube-pods-{next(self._ids)}-{int(time.time() * 1000) % 100000}"
        # Literal annotations in a CEL object: JSON strings are valid CEL string literals.
        fields = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in annotations.items())
        policy = {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                        "operations": ["CREATE"], "resources": ["pods"]}]},
                "failurePolicy": "Fail", "reinvocationPolicy": "Never",
                "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {
                    "expression": f"Object{{metadata: Object.metadata{{annotations: {{{fields}}}}}}}"}}],
            },
        }
        match: dict = {"objectSelector": {"matchLabels": labels}}
        if namespace:
            match["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
        binding = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
                   "metadata": {"name": name}, "spec": {"policyName": name, "matchResources": match}}
        group = ("admissionregistration.k8s.io", "v1")
        self.custom.create_cluster_custom_object(*group, "mutatingadmissionpolicies", policy)
        self.names.append(name)
        self.custom.create_cluster_custom_object(*group, "mutatingadmissionpolicybindings", binding)
        self._wait_effective(labels, namespace or "default", annotations, timeout)
        return name

    def _wait_effective(self, labels: dict[str, str], namespace: str, expected: dict[str, str], timeout: float) -> None:
        probe = {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"generateName": "realkube-probe-", "labels": labels},
                 "spec": {"containers": [{"name": "probe", "image": "registry.invalid/probe"}]}}
        deadline = time.monotonic() + timeout
        while True:
            try:
                created = self.core.create_namespaced_pod(namespace, probe, dry_run="All")
                if expected.items() <= (created.metadata.annotations or {}).items():
                    return
            except ApiException as error:
                if error.status != 403:  # the namespace's ServiceAccount may not exist yet
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API server did not apply the pod behaviour {expected} within {timeout}s")
            time.sleep(0.1)

    def clear(self) -> None:
        group = ("admissionregistration.k8s.io", "v1")
        for name in self.names:
            for plural in ("mutatingadmissionpolicybindings", "mutatingadmissionpolicies"):
                try:
                    self.custom.delete_cluster_custom_object(*group, plural, name)
                except ApiException as error:
                    if error.status != 404:
                        raise
        self.names.clear()
