"""A whole install on the real control plane (tests/realkube) with the real chart archives of
shared/upstream/charts. Used by the end-to-end tests and the benchmark.

`InstallCluster` is a cluster of its own for installs: an API server, controller-manager, scheduler
and kwok over the session's etcd (an empty cluster under its own key prefix, so the charts'
cluster-scoped objects, their webhooks above all, never reach other tests), plus what runs in a
real cluster but not here, each a named stand-in (tests/realkube/standins.py):
- the pods' readiness: kwok, with a delay per workload (`pod_delays`, a MutatingAdmissionPolicy by
  label: tests/realkube/pods.py);
- the two admission webhooks with failurePolicy Fail (cert-manager's, ingress-nginx's), and the CA
  injection that makes the API server trust them: WebhookStandin;
- cert-manager's issuer, certificate and ingress-shim controllers, the ingress controller's
  Ingress status, the hostpath provisioner: ClusterControllers, after chosen delays (`delays`).
Then `make_real_install` adds the HTTPS stand-in for the two hosts and the external registry.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLE_ANSWERS, REPO
from tests.http_standin import IngressControllerStandin
from tests.registry_standin import Behaviour, RegistryStandin, make_ca
from tests.tls_standin import HubStandin, TestCA
from tests.toolenv import kube_tool_env

# Every chart the wizard installs, from its real archive.
CHART_KEYS = ("localpv-provisioner", "traefik", "ingress-nginx", "cert-manager", "binderhub")
PUBLIC_IP = "203.0.113.10"  # the example answers'
NODE_IP = "10.0.0.10"  # the node's InternalIP, as a kubelet reports it (kwok has none of its own)
# Pods by workload (labels of the real charts' pod templates), for readiness delays.
WORKLOADS = {
    "ingress-nginx-controller": {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
    "cert-manager-webhook": {"app.kubernetes.io/name": "webhook", "app.kubernetes.io/component": "webhook"},
    "hub": {"app": "jupyterhub", "component": "hub"},
    "proxy": {"app": "jupyterhub", "component": "proxy"},
    "binder": {"app": "binder", "component": "binder"},
}


def chart_sources() -> dict[str, str]:
    """`charts:` for the answers: the real archive of every chart."""
    from tests.real_charts import archive

    return {key: str(archive(key)) for key in CHART_KEYS}


def write_answers(directory: Path, charts: dict[str, str], changes: dict | None = None,
                  name: str = "answers-test.yaml") -> Path:
    raw = yaml.safe_load(EXAMPLE_ANSWERS.read_text())
    raw["charts"] = charts
    for section, values in (changes or {}).items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(copy.deepcopy(values))
        else:
            raw[section] = values
    path = directory / name
    path.write_text(yaml.safe_dump(raw))
    return path


class InstallCluster:
    """An empty cluster of the real control plane, with the stand-ins an install needs."""

    def __init__(self, binaries: Path, directory: Path, *, etcd=None, delays: dict[str, float] | None = None,
                 pod_delays: dict[str, float] | None = None, volume_delay: float = 0.0):
        """`etcd`: the session's (an empty cluster under a key prefix of its own), or None for one of
        its own; `delays` for ClusterControllers, `pod_delays` (seconds) by WORKLOADS name, and
        `volume_delay` before the hub's claim gets its volume."""
        from tests.realkube.controlplane import ControlPlane
        from tests.realkube.fixtures import NODE_NAME, _start
        from tests.realkube.nodes import node_manifest
        from tests.realkube.pods import PodBehaviours
        from tests.realkube.standins import ClusterControllers, WebhookStandin

        self.directory = directory
        node = node_manifest(NODE_NAME)
        node["status"]["addresses"] = [{"type": "InternalIP", "address": NODE_IP},
                                       {"type": "Hostname", "address": NODE_NAME}]
        self.kube = _start(ControlPlane(binaries, directory / "control-plane", etcd=etcd, controllers=True,
                                        node=node))
        self.api = self.kube.api
        network = self.kube.control_plane.api.network
        self.webhooks = {
            "cert-manager": WebhookStandin(self.api, network, directory / "cert-manager-webhook", "cert-manager",
                                           "cert-manager-webhook", validating=("cert-manager-webhook",),
                                           mutating=("cert-manager-webhook",)).start(),
            "ingress-nginx": WebhookStandin(self.api, network, directory / "ingress-nginx-admission", "ingress-nginx",
                                            "ingress-nginx-controller-admission",
                                            validating=("ingress-nginx-admission",)).start(),
        }
        try:
            self.controllers = ClusterControllers(self.api, ingress_ip=PUBLIC_IP, delays=delays,
                                                  volume_delay=volume_delay).start()
            self.behaviours = PodBehaviours(self.api)
            for workload, delay in (pod_delays or {}).items():
                self.behaviours.set(WORKLOADS[workload], ready_after=delay)
        except BaseException:
            self.stop()
            raise

    def env(self, state: Path) -> dict[str, str]:
        return kube_tool_env(self.kube.kubeconfig, state)

    def stop(self) -> None:
        if getattr(self, "controllers", None):
            self.controllers.stop()
        for webhook in self.webhooks.values():
            webhook.stop()
        self.kube.control_plane.stop()


@dataclass
class Install:
    directory: Path
    answers: Path
    env: dict
    hub: HubStandin
    ca: TestCA
    registry: RegistryStandin
    ca_bundle: Path
    cluster: InstallCluster | None = field(default=None, repr=False)
    # Answers http://PUBLIC_IP/ for the ingress check (through --resolve; see tests/http_standin.py).
    controller: IngressControllerStandin = field(default_factory=lambda: IngressControllerStandin().start(),
                                                 repr=False)

    def stop(self) -> None:
        self.hub.stop()
        self.registry.__exit__(None, None, None)
        self.controller.stop()

    def resolve(self) -> dict[str, str]:
        """Host -> ADDR:PORT for every stand-in the install's checks ask (`--resolve`)."""
        hub = dict(arg.split(":", 1) for arg in self.hub.resolve_args() if arg != "--resolve")
        return {**hub, **self.registry.resolve, PUBLIC_IP: self.controller.target()}

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "wizard", *args, "--dir", str(self.directory)],
                              env=self.env, capture_output=True, text=True, timeout=timeout, cwd=REPO)

    def cluster_options(self, wait: float = 60) -> list[str]:
        resolve = [arg for host, target in self.resolve().items() for arg in ("--resolve", f"{host}:{target}")]
        return [*resolve, "--ca-bundle", str(self.ca_bundle), "--timeout", str(wait)]

    def install(self, *extra: str, wait: float = 60) -> subprocess.CompletedProcess:
        return self.run("install", "--answers", str(self.answers), "--yes", *self.cluster_options(wait), *extra)

    def verify(self) -> subprocess.CompletedProcess:
        return self.run("verify", *self.cluster_options())


def standins(tmp_path: Path) -> tuple[HubStandin, TestCA, RegistryStandin, Path]:
    """The HTTPS stand-in for the example's two hosts, and its external registry with its credentials."""
    ca = TestCA(tmp_path)
    hub = HubStandin(ca, "binder.example.org", "hub.example.org",
                     "https://sso.example.org/realms/binder/protocol/openid-connect/auth", "binderhub").start()
    registry_ca = make_ca(tmp_path / "registry-ca")
    registry = RegistryStandin(registry_ca, Behaviour(username="robot", password="example-registry-password"))
    registry.__enter__()
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(ca.ca_path.read_bytes() + registry_ca.ca_path.read_bytes())
    return hub, ca, registry, bundle


def make_real_install(tmp_path: Path, cluster: InstallCluster, changes: dict | None = None,
                      through=None) -> Install:
    """`through`: a FaultProxy (tests/realkube/faultproxy.py) in front of the cluster's API server
    (the `install_fault_proxy` fixture): helm, kubectl and the wizard then reach the cluster through it."""
    hub, ca, registry, bundle = standins(tmp_path)
    env = (through or cluster).env(tmp_path / "kube-state")
    return Install(tmp_path / "setup", write_answers(tmp_path, chart_sources(), changes), env, hub, ca, registry,
                   bundle, cluster)


@pytest.fixture(scope="module")
def install_cluster(real_kube, tmp_path_factory):
    """An InstallCluster for one test module (import it into the module)."""
    cluster = InstallCluster(real_kube.control_plane.binaries, tmp_path_factory.mktemp("install-cluster"),
                             etcd=real_kube.control_plane.etcd)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def install_fault_proxy(install_cluster, tmp_path):
    """A FaultProxy in front of the module's InstallCluster's API server, for one test (import it
    with install_cluster); pass it to make_real_install as `through`."""
    from tests.realkube.faultproxy import FaultProxy

    proxy = FaultProxy.in_front_of(install_cluster.kube.control_plane.api, tmp_path / "fault-proxy").start()
    try:
        yield proxy
    finally:
        proxy.stop()  # first: requests still held are cut, not sent on to the server after the test
        proxy.clear()


def helm_releases(api, namespaces=("openebs", "ingress-nginx", "cert-manager", "binder")) -> dict[str, list[str]]:
    """Release name -> the status of each revision helm keeps for it (its release Secrets)."""
    from kubernetes import client

    found: dict[str, list[str]] = {}
    for namespace in namespaces:
        for secret in client.CoreV1Api(api).list_namespaced_secret(namespace, label_selector="owner=helm").items:
            labels = secret.metadata.labels
            found.setdefault(labels["name"], []).append(labels["status"])
    return found
