"""The cluster network, as the API server sees it: where a webhook call to a Service goes.

A real API server reaches a webhook's Service through the cluster network (kube-proxy, a CNI). None
runs here, so the test API server is started with `--enable-aggregator-routing=true` (it resolves a
webhook's Service to a Ready endpoint's pod IP and target port, from the EndpointSlices the real
controller-manager writes) and with an egress selector whose `cluster` network is an HTTP CONNECT
proxy on a Unix socket: this one. A test-side server that plays a pod registers the pod's
address (`route("10.244.0.7:10250", local_port)`) and the proxy tunnels the API server's TLS
connection to it. An address no server plays is refused, as a pod with nothing listening is.

Kubernetes itself decides which pod IP and port to call and verifies the webhook's certificate
against the configuration's caBundle; the proxy only carries bytes.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from pathlib import Path



class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        network: ClusterNetwork = self.server.network  # type: ignore[attr-defined]
        request = self.rfile.readline(4096).decode("latin-1").split()
        while self.rfile.readline(4096) not in (b"\r\n", b"\n", b""):
            pass  # the request's headers
        if len(request) < 2 or request[0] != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        target = request[1]
        local = network.target(target)
        if local is None:
            network.refused.append(target)
            self.wfile.write(f"HTTP/1.1 503 connection refused: nothing listens on {target} (test cluster "
                             f"network)\r\n\r\n".encode())
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", local), timeout=5)
        except OSError:
            self.wfile.write(f"HTTP/1.1 503 connection refused by {target}\r\n\r\n".encode())
            return
        network.connected.append(target)
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        _pipe(self.connection, upstream)


def _pipe(one: socket.socket, other: socket.socket) -> None:
    def copy(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    other.settimeout(None)
    back = threading.Thread(target=copy, args=(other, one), daemon=True)
    back.start()
    copy(one, other)
    back.join(30)
    other.close()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class ClusterNetwork:
    """The HTTP CONNECT proxy the API server's egress selector dials for cluster traffic."""

    def __init__(self, directory: Path):
        # A Unix socket path must be short (108 bytes): keep it out of deep temporary directories.
        self.socket_path = Path(f"/tmp/realkube-net-{id(self):x}-{threading.get_native_id()}.sock")
        self.config_path = directory / "egress-selector.yaml"
        self._routes: dict[str, int] = {}
        self._lock = threading.Lock()
        self.refused: list[str] = []
        self.connected: list[str] = []
        self._server: _Server | None = None

    def start(self) -> "ClusterNetwork":
        self.socket_path.unlink(missing_ok=True)
        self._server = _Server(str(self.socket_path), _Handler)
        self._server.network = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, name="cluster-network", daemon=True).start()
        # JSON is YAML: the API server reads it as its configuration file.
        self.config_path.write_text(json.dumps({
            "apiVersion": "apiserver.k8s.io/v1beta1", "kind": "EgressSelectorConfiguration",
            "egressSelections": [{"name": "cluster", "connection": {
                "proxyProtocol": "HTTPConnect", "transport": {"uds": {"udsName": str(self.socket_path)}}}}]}))
        return self

    def route(self, address: str, local_port: int) -> None:
        """Connections to `address` ("ip:port", a pod's) go to 127.0.0.1:`local_port`."""
        with self._lock:
            self._routes[address] = local_port

    def unroute(self, address: str) -> None:
        with self._lock:
            self._routes.pop(address, None)

    def target(self, address: str) -> int | None:
        with self._lock:
            return self._routes.get(address)

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        self.socket_path.unlink(missing_ok=True)
