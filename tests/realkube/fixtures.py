"""pytest fixtures for the real control plane (imported by tests/conftest.py):

- `real_kube` (session): etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
  with one Ready node (`real_kube.node`). Missing binaries skip the test locally and fail it in CI.
- `real_kube_env`: an environment for kubectl, helm and the wizard pointed at it, with private caches.
- `real_namespace`: `real_namespace()` makes a namespace of its own (deleted after the test).
- `pod_behaviours`: per-workload pod readiness delays and faults (see tests/realkube/pods.py).
- `real_api_server`: `real_api_server(enable_admission_plugins=("DenyServiceExternalIPs",))` starts
  another API server (an empty cluster over the same etcd) with other admission plugins; stopped
  after the test. `controllers=True` gives it a controller-manager, scheduler, kwok and node too.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.toolenv import kube_tool_env

from .controlplane import ControlPlane, find_binaries
from .nodes import node_manifest
from .waiting import wait_for

NODE_NAME = "realkube-node"
started: list[ControlPlane] = []  # for the start-up line in the terminal summary (tests/conftest.py)


@dataclass
class RealKube:
    control_plane: ControlPlane
    node: str | None
    api: object = field(repr=False)  # a kubernetes.client.ApiClient for the admin

    @property
    def kubeconfig(self) -> Path:
        return self.control_plane.kubeconfig

    def env(self, state: Path) -> dict[str, str]:
        """For kubectl, helm and the wizard as subprocesses, with private caches under `state`."""
        return kube_tool_env(self.kubeconfig, state)


def _binaries() -> Path:
    binaries, why = find_binaries()
    if binaries is None:
        message = f"the real Kubernetes control plane is unavailable: {why}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binaries


def _start(control_plane: ControlPlane) -> RealKube:
    from kubernetes import config

    control_plane.start()
    started.append(control_plane)
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    return RealKube(control_plane, control_plane.node["metadata"]["name"] if control_plane.node else None, api)


@pytest.fixture(scope="session")
def real_kube(tmp_path_factory):
    kube = _start(ControlPlane(_binaries(), tmp_path_factory.mktemp("realkube"), node=node_manifest(NODE_NAME)))
    try:
        yield kube
    finally:
        kube.control_plane.stop()


@pytest.fixture
def real_kube_env(real_kube: RealKube, tmp_path: Path) -> dict[str, str]:
    return real_kube.env(tmp_path / "kube-state")


@pytest.fixture
def real_namespace(real_kube: RealKube):
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(real_kube.api)
    made: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        core.create_namespace({"metadata": {"name": name}})
        made.append(name)

        def has_service_account() -> bool:  # pods are refused until the controller made `default`
            try:
                return bool(core.read_namespaced_service_account("default", name))
            except ApiException as error:
                if error.status == 404:
                    return False
                raise
        wait_for(has_service_account, f"the default ServiceAccount in {name}", timeout=15, interval=0.05)
        return name

    yield make
    for name in made:
        try:
            core.delete_namespace(name)
        except ApiException as error:
            if error.status != 404:
                raise


@pytest.fixture
def pod_behaviours(real_kube: RealKube):
    from .pods import PodBehaviours

    behaviours = PodBehaviours(real_kube.api)
    yield behaviours
    behaviours.clear()


@pytest.fixture
def real_api_server(real_kube: RealKube, tmp_path: Path):
    extra: list[RealKube] = []

    def start(*, enable_admission_plugins: tuple[str, ...] = (), disable_admission_plugins: tuple[str, ...] = (),
              controllers: bool = False) -> RealKube:
        control_plane = ControlPlane(
            real_kube.control_plane.binaries, tmp_path / f"control-plane-{len(extra) + 1}",
            etcd=real_kube.control_plane.etcd, controllers=controllers,
            enable_admission_plugins=enable_admission_plugins, disable_admission_plugins=disable_admission_plugins,
            node=node_manifest(NODE_NAME))
        extra.append(_start(control_plane))
        return extra[-1]

    yield start
    for kube in extra:
        kube.control_plane.stop()


@pytest.fixture
def fault_proxy(real_kube: RealKube, tmp_path: Path):
    """A started FaultProxy (faultproxy.py) in front of the session's API server; stopped after the test."""
    from .faultproxy import FaultProxy

    proxy = FaultProxy.in_front_of(real_kube.control_plane.api, tmp_path / "fault-proxy").start()
    yield proxy
    proxy.clear()
    proxy.stop()


@pytest.fixture
def fault_proxy_env(fault_proxy, tmp_path: Path) -> dict[str, str]:
    """Like real_kube_env, pointed at the fault proxy."""
    return fault_proxy.env(tmp_path / "proxy-kube-state")


@pytest.fixture(scope="session")
def real_kube_without_nodes(real_kube: RealKube, tmp_path_factory):
    """Another cluster with no node until a test registers one: its own API server over the
    session's etcd, alone (no controllers, no kwok: 3 s to start instead of 10), for tests that need
    every node to be of their choosing (standins.register_node writes what their kubelet would).
    Started once per session, when a test first asks: each test removes the nodes it added."""
    control_plane = ControlPlane(real_kube.control_plane.binaries, tmp_path_factory.mktemp("without-nodes"),
                                 etcd=real_kube.control_plane.etcd, controllers=False)
    kube = _start(control_plane)
    try:
        yield kube
    finally:
        control_plane.stop()


@pytest.fixture(scope="session")
def cert_manager_crds(real_kube: RealKube, tmp_path_factory) -> None:
    """cert-manager's ClusterIssuer and Certificate CRDs (the real ones) on the session's cluster,
    from the first test that asks until the end: deleting CRDs is slow and can stall (objects.py).
    A test that removes them must leave them installed again."""
    from .objects import ensure_cert_manager_crds

    ensure_cert_manager_crds(real_kube.api, real_kube.env(tmp_path_factory.mktemp("crds")))
