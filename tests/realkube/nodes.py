"""Nodes as a kubelet registers them, for kwok to play that kubelet (no kubernetes import: the
control plane creates its first node while the controller-manager starts)."""

from __future__ import annotations

import uuid

KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")  # the nodes kwok manages (kwok --manage-nodes-...)
DEFAULT_RUNTIME = "containerd://2.1.4"


def node_manifest(name: str, *, runtime: str = DEFAULT_RUNTIME, cpu: str = "4", memory: str = "16Gi",
                  pods: str = "110", kubelet_version: str = "v1.37.2",
                  labels: dict[str, str] | None = None, taints: list[dict] | None = None) -> dict:
    """A Node as the kubelet registers it; kwok (which manages it by the annotation) makes it Ready.
    The status is taken as given on create, so the runtime and capacity are the test's."""
    resources = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": dict([KWOK_NODE_ANNOTATION]),
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", **(labels or {})}},
        "spec": {"taints": taints or []},
        "status": {"capacity": resources, "allocatable": resources,
                   # Every field a kubelet fills: the python client refuses a NodeSystemInfo without one.
                   "nodeInfo": {"containerRuntimeVersion": runtime, "kubeletVersion": kubelet_version,
                                "kubeProxyVersion": "", "architecture": "amd64", "operatingSystem": "linux",
                                "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-28-amd64",
                                "bootID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"boot.{name}")),
                                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, f"machine.{name}").hex,
                                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"system.{name}"))}},
    }
