"""The real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler built from source (scripts/build-control-plane.sh), and kwok for nodes and pods.

No kubelet, kube-proxy or CNI runs: kwok writes what a kubelet would (node status and lease, pod
status, pod IPs out of POD_CIDR), nothing routes to a Service's ClusterIP or a pod IP, and nothing
pulls an image. The API server's own calls into the cluster (admission webhooks) go to the pod IP of
a Ready endpoint (`--enable-aggregator-routing`) through ClusterNetwork (clusternet.py), where a
test-side server may play that pod.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .clusternet import ClusterNetwork
from .nodes import KWOK_NODE_ANNOTATION
from .pki import SERVICE_CIDR, ClusterPKI
from .processes import Process, StartupError, wait_until

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-control-plane.sh"
KWOK_STAGES = Path(__file__).with_name("kwok-stages.yaml")
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
BINARIES_ENV = "BINDERHUB_WIZARD_CONTROL_PLANE"  # set by scripts/test.sh to the build's directory
POD_CIDR = "10.244.0.0/16"
# kubeadm, which the bootstrap runs, enables this on top of the API server's default plugins.
DEFAULT_ADMISSION_PLUGINS = ("NodeRestriction",)
START_TIMEOUT = 60.0


def find_binaries() -> tuple[Path | None, str]:
    """The directory with every binary, or None and why not."""
    directory = os.environ.get(BINARIES_ENV)
    if not directory:
        where = subprocess.run([str(BUILD_SCRIPT), "--where"], capture_output=True, text=True)
        directory = where.stdout.strip()
        if where.returncode != 0:
            return None, (f"the control plane is not built ({directory or 'no cache directory'}): "
                          "run ./scripts/test.sh, or ./scripts/build-control-plane.sh (needs Go)")
    missing = [name for name in BINARIES if not os.access(Path(directory, name), os.X_OK)]
    if missing:
        return None, f"{directory} lacks {', '.join(missing)}: run ./scripts/build-control-plane.sh"
    return Path(directory), ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, context: ssl.SSLContext | None = None) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as answer:
            return answer.read().decode()
    except (urllib.error.URLError, OSError):
        return None


class Etcd:
    def __init__(self, binaries: Path, directory: Path):
        self.binaries, self.directory = binaries, directory
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.process: Process | None = None

    def start(self) -> "Etcd":
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.process = Process("etcd", [
            str(self.binaries / "etcd"), "--name=realkube", f"--data-dir={self.directory / 'etcd'}",
            f"--listen-client-urls={self.url}", f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=realkube={peer}", "--log-level=warn",
            # Test data is thrown away with the run: skip the fsyncs that make etcd slow on a busy disk.
            "--unsafe-no-fsync",
        ], self.directory)
        return self

    def wait_ready(self) -> None:
        wait_until(lambda: '"health":"true"' in (_get(f"{self.url}/health") or ""), "etcd /health",
                   START_TIMEOUT, self.process)

    def stop(self) -> None:
        if self.process:
            self.process.stop()


class APIServer:
    """One kube-apiserver over `etcd` under its own key prefix: a cluster of its own."""

    def __init__(self, binaries: Path, directory: Path, pki: ClusterPKI, etcd: Etcd, *, name: str = "kube-apiserver",
                 etcd_prefix: str = "/registry", enable_admission_plugins: tuple[str, ...] = (),
                 disable_admission_plugins: tuple[str, ...] = ()):
        self.binaries, self.directory, self.pki, self.etcd = binaries, directory, pki, etcd
        self.name, self.etcd_prefix = name, etcd_prefix
        self.enable_admission_plugins = tuple(dict.fromkeys(DEFAULT_ADMISSION_PLUGINS + enable_admission_plugins))
        self.disable_admission_plugins = disable_admission_plugins
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.admin = pki.client(f"{name}-admin", "realkube-admin", ("system:masters",))
        self.kubeconfig = pki.kubeconfig(directory / f"{name}-admin.kubeconfig", self.url, self.admin)
        self.process: Process | None = None
        self.network = ClusterNetwork(directory / f"{name}-network")

    def start(self) -> "APIServer":
        pki = self.pki
        self.network.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.network.start()
        args = [
            str(self.binaries / "kube-apiserver"),
            f"--etcd-servers={self.etcd.url}", f"--etcd-prefix={self.etcd_prefix}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
            f"--cert-dir={self.directory / (self.name + '-certs')}",
            f"--tls-cert-file={pki.api_server.cert}", f"--tls-private-key-file={pki.api_server.key}",
            f"--client-ca-file={pki.ca.cert}",
            f"--requestheader-client-ca-file={pki.front_proxy_ca.cert}",
            "--requestheader-allowed-names=front-proxy-client", "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group", "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki.front_proxy_client.cert}",
            f"--proxy-client-key-file={pki.front_proxy_client.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.service_account_public}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC", "--allow-privileged=true",
            f"--enable-admission-plugins={','.join(self.enable_admission_plugins)}",
            # The default reconciler refuses a loopback address for the `kubernetes` Service's endpoints;
            # nothing runs in the cluster to dial them, so that Service keeps no endpoints here.
            "--endpoint-reconciler-type=none", "--profiling=false",
            # Webhook Services resolve to a Ready endpoint, reached through the test's cluster network.
            "--enable-aggregator-routing=true", f"--egress-selector-config-file={self.network.config_path}",
        ]
        if self.disable_admission_plugins:
            args.append(f"--disable-admission-plugins={','.join(self.disable_admission_plugins)}")
        self.process = Process(self.name, args, self.directory)
        return self

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca.cert))
        context.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return context

    def wait_ready(self) -> None:
        context = self.ssl_context()
        wait_until(lambda: _get(f"{self.url}/readyz", context) == "ok", f"{self.name} /readyz",
                   START_TIMEOUT, self.process)

    def request(self, path: str, body: dict | None = None) -> dict:
        """GET `path`, or POST `body` to it, as the admin."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10, context=self.ssl_context()) as answer:
            return json.load(answer)

    def stop(self) -> None:
        if self.process:
            self.process.stop()
        self.network.stop()


class ControlPlane:
    """etcd, an API server, the controller-manager, the scheduler and kwok, started together.

    `etcd` shares another control plane's etcd (with its own prefix) instead of starting one;
    `controllers=False` leaves out the controller-manager, scheduler and kwok (admission tests);
    `node` (a Node manifest, see nodes.py) is registered at start and waited for until Ready."""

    _prefixes = itertools.count(1)

    def __init__(self, binaries: Path, directory: Path, *, etcd: Etcd | None = None, controllers: bool = True,
                 enable_admission_plugins: tuple[str, ...] = (), disable_admission_plugins: tuple[str, ...] = (),
                 node: dict | None = None):
        self.binaries, self.directory = binaries, directory
        directory.mkdir(parents=True, exist_ok=True)
        self.owns_etcd = etcd is None
        self.etcd = etcd or Etcd(binaries, directory)
        self.pki = ClusterPKI(directory / "pki")
        # Not "/registry-1": the API server's key ranges must not take in another cluster's keys.
        prefix = "/registry" if self.owns_etcd else f"/extra-{next(self._prefixes)}/registry"
        self.api = APIServer(binaries, directory, self.pki, self.etcd, etcd_prefix=prefix,
                             enable_admission_plugins=enable_admission_plugins,
                             disable_admission_plugins=disable_admission_plugins)
        self.controllers = controllers
        self.node = node if controllers else None
        self.processes: list[Process] = []
        self.startup_seconds = 0.0

    @property
    def kubeconfig(self) -> Path:
        return self.api.kubeconfig

    def start(self) -> "ControlPlane":
        began = time.monotonic()
        try:
            if self.owns_etcd:
                self.etcd.start()
                self.processes.append(self.etcd.process)
            # The API server retries etcd until it answers: start both, then wait.
            self.processes.append(self.api.start().process)
            if self.owns_etcd:
                self.etcd.wait_ready()
            self.api.wait_ready()
            if self.controllers:
                self._start_controllers()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _component(self, name: str, user: str, groups: tuple[str, ...] = ()) -> Path:
        return self.pki.kubeconfig(self.directory / f"{name}.kubeconfig", self.api.url,
                                   self.pki.client(name, user, groups))

    def _serving(self, name: str, kubeconfig: Path) -> tuple[int, list[str]]:
        port = free_port()
        return port, [f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
                      f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
                      f"--secure-port={port}", f"--cert-dir={self.directory / (name + '-certs')}",
                      "--leader-elect=false"]

    def _start_controllers(self) -> None:
        pki = self.pki
        manager_port, manager_args = self._serving(
            "kube-controller-manager", self._component("kube-controller-manager", "system:kube-controller-manager"))
        manager = Process("kube-controller-manager", [
            str(self.binaries / "kube-controller-manager"), *manager_args,
            "--controllers=*", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.service_account_key}", f"--root-ca-file={pki.ca.cert}",
            f"--cluster-signing-cert-file={pki.ca.cert}", f"--cluster-signing-key-file={pki.ca.key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--cluster-name=realkube", "--profiling=false",
            # Its default, /usr/libexec/kubernetes/..., would be created on this machine.
            f"--flex-volume-plugin-dir={self.directory / 'flexvolume'}",
        ], self.directory)
        self.processes.append(manager)
        scheduler_port, scheduler_args = self._serving(
            "kube-scheduler", self._component("kube-scheduler", "system:kube-scheduler"))
        scheduler = Process("kube-scheduler", [str(self.binaries / "kube-scheduler"), *scheduler_args,
                                               "--profiling=false"], self.directory)
        self.processes.append(scheduler)
        kwok_home = self.directory / "kwok-home"  # kwok also reads ~/.kwok/kwok.yaml: keep it out
        kwok_home.mkdir(exist_ok=True)
        kwok = Process("kwok", [
            str(self.binaries / "kwok"), f"--kubeconfig={self._component('kwok', 'kwok', ('system:masters',))}",
            f"--config={KWOK_STAGES}", f"--cidr={POD_CIDR}", "--node-lease-duration-seconds=40",
            f"--manage-nodes-with-annotation-selector={'='.join(KWOK_NODE_ANNOTATION)}",
        ], self.directory, env={**os.environ, "HOME": str(kwok_home)})
        self.processes.append(kwok)
        if self.node:  # while the others start: kwok takes a second or two over its first node
            self.api.request("/api/v1/nodes", self.node)
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE  # their self-signed serving certs
        for process, port in ((manager, manager_port), (scheduler, scheduler_port)):
            wait_until(lambda port=port: _get(f"https://127.0.0.1:{port}/healthz", insecure) == "ok",
                       f"{process.name} /healthz", START_TIMEOUT, process)
        # The service-account controller is the controller-manager at work: pods need `default`.
        wait_until(lambda: self._exists("/api/v1/namespaces/default/serviceaccounts/default"),
                   "the default ServiceAccount (kube-controller-manager)", START_TIMEOUT, manager)
        if self.node:
            path = f"/api/v1/nodes/{self.node['metadata']['name']}"
            wait_until(lambda: any(c["type"] == "Ready" and c["status"] == "True"
                                   for c in self.api.request(path).get("status", {}).get("conditions", [])),
                       f"node {self.node['metadata']['name']} to be Ready (kwok)", START_TIMEOUT, kwok)
        elif not kwok.alive():
            raise StartupError("kwok exited", kwok)

    def _exists(self, path: str) -> bool:
        try:
            self.api.request(path)
            return True
        except (urllib.error.URLError, OSError):
            return False

    def logs(self) -> dict[str, Path]:
        return {process.name: process.log_path for process in self.processes}

    def stop(self) -> None:
        # Clients first, so none logs a storm of connection errors while the API server goes away.
        for process in reversed(self.processes):
            process.stop()
