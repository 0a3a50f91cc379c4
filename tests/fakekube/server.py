"""`FakeKube`: a local Kubernetes API server for tests, on 127.0.0.1, over plain HTTP.

    fake = FakeKube().start()
    subprocess.run(["kubectl", "--kubeconfig", fake.kubeconfig_path, "get", "ns"])
    fake.stop()

Plain HTTP without credentials is what kubectl, helm and the python client all accept without
certificate set-up (kubectl 1.37 does not send a bearer token over plain HTTP, so the fake asks
for none).
"""

from __future__ import annotations

import re
import socket
import tempfile
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

import yaml

from .controller import Controller, node_object
from .errors import injected
from .handler import Handler
from .resources import Kind, Registry
from .store import Store

# Namespaces every cluster starts with.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    content_type: str


@dataclass
class _Fault:
    method: str | None
    path: re.Pattern
    status: int | None  # None: only a delay
    delay: float
    times: int | None  # None: every matching request
    message: str | None


class Faults:
    """Errors and delays a test asks for, matched on method and a regex searched in the path."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def apply(self, method: str, path: str, stopping: threading.Event) -> None:
        with self._lock:
            hits = [f for f in self._faults
                    if f.method in (None, method) and f.path.search(path) and f.times != 0]
            for f in hits:
                if f.times is not None:
                    f.times -= 1
        for f in hits:
            if f.delay:
                stopping.wait(f.delay)  # a stopping server does not keep the client waiting
        for f in hits:
            if f.status is not None:
                raise injected(f.status, f.message)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, fake: FakeKube):
        self.fake = fake
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        super().__init__(address, Handler)


class FakeKube:
    def __init__(self, directory: str | Path | None = None):
        self.registry = Registry()
        self.store = Store(self.registry)
        self.faults = Faults()
        self.requests: list[Request] = []
        self.port = 0
        self.directory = Path(directory or tempfile.mkdtemp(prefix="fakekube-"))
        self.kubeconfig_path = self.directory / "kubeconfig"
        # SelfSubjectAccessReview answers allowed=True unless one of these matches (see `deny`).
        self._denials: list[dict] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for ns in INITIAL_NAMESPACES:
            self.store.create(self.kind("Namespace"), None,
                              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self.controller = Controller(self)
        # The helpers tests use most, also reachable on the fake itself.
        self.set_condition = self.controller.set_condition
        self.mark_deployment_available = self.controller.mark_deployment_available
        self.bind_pvc = self.controller.bind_pvc
        self.set_ingress_ip = self.controller.set_ingress_ip

    # ---- life cycle ----------------------------------------------------------------------

    def start(self) -> FakeKube:
        """Listen (again, after `stop`, on the same port, so the kubeconfig stays valid)."""
        self._server = _Server(("127.0.0.1", self.port), self)
        self.port = self._server.server_address[1]
        # A short poll interval makes `stop` (which waits for the serving loop) quick.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name=f"fakekube:{self.port}", daemon=True)
        self._thread.start()
        self._write_kubeconfig()
        return self

    def stop(self) -> None:
        """Stop listening and drop open connections: clients then get "connection refused".
        The store and the auto-controller's timers live on, for a later `start`; `close` ends all."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.stopping.set()
        self.store.wake()  # end the watches blocked on the store
        server.shutdown()
        for conn in list(server.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client
        server.server_close()

    def close(self) -> None:
        """Stop, and cancel the auto-controller's pending timers."""
        self.stop()
        self.controller.stop()

    def __enter__(self) -> FakeKube:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "fake", "preferences": {},
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake",
                                                      "namespace": "default"}}],
        }
        self.kubeconfig_path.write_text(yaml.safe_dump(config))
        self.kubeconfig_path.chmod(0o600)  # helm warns about group/world-readable kubeconfigs

    # ---- requests, faults and access reviews ----------------------------------------------

    def record(self, method: str, path: str, query: dict[str, str], content_type: str) -> None:
        self.requests.append(Request(method, path, query, content_type))

    def count(self, method: str | None = None, path_regex: str = "") -> int:
        """How many requests matched, e.g. `count("GET", r"/deployments")`."""
        pattern = re.compile(path_regex)
        return sum(1 for r in list(self.requests)
                   if method in (None, r.method) and pattern.search(r.path))

    def inject(self, method: str | None = None, path_regex: str = "", status: int = 500,
               times: int | None = 1, message: str | None = None) -> None:
        """Answer the next `times` matching requests (None: all of them) with an error Status."""
        self.faults.add(_Fault(method, re.compile(path_regex), status, 0.0, times, message))

    def slow(self, path_regex: str, seconds: float, method: str | None = None,
             times: int | None = None) -> _Fault:
        """Delay matching requests by `seconds` before they are served. The fault's `times` counts
        down as requests are delayed, so a test can tell that its delays were met."""
        fault = _Fault(method, re.compile(path_regex), None, seconds, times, None)
        self.faults.add(fault)
        return fault

    def deny(self, verb: str | None = None, resource: str | None = None, group: str | None = None,
             namespace: str | None = None) -> None:
        """Make SelfSubjectAccessReviews matching these attributes (None matches any) answer
        allowed=False."""
        self._denials.append({"verb": verb, "resource": resource, "group": group, "namespace": namespace})

    def access_review(self, body: dict) -> dict:
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        denied = any(all(v is None or attrs.get(k, "") == v for k, v in d.items()) for d in self._denials)
        review = dict(body, apiVersion="authorization.k8s.io/v1", kind="SelfSubjectAccessReview")
        review.setdefault("metadata", {})
        # An RBAC denial carries no reason: `kubectl auth can-i` then prints a bare "no".
        review["status"] = {"allowed": not denied}
        return review

    # ---- direct access for tests -----------------------------------------------------------

    def kind(self, resource: str) -> Kind:
        """`Deployment`, `deploy`, `deployments.apps`, `clusterissuer.cert-manager.io`, ..."""
        return self.registry.resolve(resource)

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict:
        return self.store.get(self.kind(resource), namespace, name)

    def list(self, resource: str, namespace: str | None = None) -> list[dict]:
        return self.store.list(self.kind(resource), namespace, lambda o: True)[0]

    def create(self, obj: dict, namespace: str | None = None) -> dict:
        kind = self.kind(f"{obj['kind']}.{obj['apiVersion'].rpartition('/')[0]}".rstrip("."))
        return self.store.create(kind, namespace or obj.get("metadata", {}).get("namespace"), obj)

    def add_node(self, name: str, runtime: str = "containerd://2.0.5", ready: bool = True,
                 addresses: list[dict] | None = None, kubelet_version: str = "v1.33.2") -> dict:
        """Register a Node as a kubelet does: create it, then post its status."""
        node = node_object(name, runtime, ready, addresses, kubelet_version)
        kind = self.kind("Node")
        self.store.create(kind, None, node)
        return self.store.mutate(kind, None, name, lambda n: n.update(status=node["status"]))


