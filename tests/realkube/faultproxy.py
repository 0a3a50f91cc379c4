"""A small HTTPS proxy in front of a real API server, for the faults a healthy server never shows:
error answers (500, 409, 429 ...), slow or held requests, and an API that stops listening.

Clients reach it with the kubeconfig it writes (its own test CA, a token it drops); it forwards
each request to the real API server as the admin (client certificate) and streams the answer
back, watches included (chunked, flushed as each event arrives). HTTP/1.1 only (it offers no h2),
and no upgrades (exec, attach, port-forward are refused with a Status).

    proxy = FaultProxy.in_front_of(real_kube.control_plane.api, tmp_path / "proxy").start()
    proxy.inject("GET", r"^/api/v1/nodes$", status=500, times=2)   # the next two such GETs
    held = proxy.hold(r"/configmaps$", method="POST")              # until held.release() or stop()
    proxy.slow(r"/deployments", 0.3, times=6)
    proxy.stop(); proxy.start()                                     # the same port again

Everything else is the real server: what the proxy adds is only what a test asked for.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from tests.tls_standin import TestCA
from tests.toolenv import kube_tool_env

# Not forwarded either way: they describe one connection, not the request.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "host", "content-length", "authorization"}
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           409: "Conflict", 410: "Expired", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}


def status_body(code: int, message: str | None = None, reason: str | None = None) -> dict:
    """A Kubernetes Status, as the API server answers an error."""
    reason = reason or REASONS.get(code, "InternalError")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message or f"injected by the test's fault proxy ({reason})", "reason": reason, "code": code}


@dataclass(eq=False)
class Fault:
    """One rule: requests whose method (None: any) and path (re.search on the path, no query)
    match are answered with `status`, or delayed by `seconds`, or held (`hold`) until released.
    `times` counts down as requests meet it (None: every matching request); `hits` counts up."""

    method: str | None
    pattern: re.Pattern
    status: int | None = None
    message: str | None = None
    seconds: float | None = None
    held: bool = False
    times: int | None = None
    hits: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    met: threading.Event = field(default_factory=threading.Event)  # set on the first request it meets

    def take(self, method: str, path: str, lock: threading.Lock) -> bool:
        if self.method not in (None, method) or not self.pattern.search(path):
            return False
        with lock:
            if self.times is not None:
                if self.times <= 0:
                    return False
                self.times -= 1
            self.hits += 1
        self.met.set()
        return True

    def release(self) -> None:
        """Let the held requests (and any later ones) through."""
        self.released.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, proxy: "FaultProxy"):
        self.proxy = proxy
        self.connections: set = set()
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake in the connection's own thread, not in the accepting one.
        try:
            request = self.proxy.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            self.connections.discard(request)
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            request.close()

    def handle_error(self, request, client_address):  # a client that went away: not worth a traceback
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):
        pass

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _send_status(self, code: int, message: str | None) -> None:
        data = json.dumps(status_body(code, message)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _any(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        path = urlsplit(self.path).path
        proxy.seen.append((self.command, path))
        if "upgrade" in (self.headers.get("Connection") or "").lower():
            self._send_status(400, "the test's fault proxy does not forward upgrades (exec, attach, port-forward)")
            return
        for fault in list(proxy.faults):
            if not fault.take(self.command, path, proxy.lock):
                continue
            if fault.status is not None:
                self._send_status(fault.status, fault.message)
                return
            if fault.held:
                while not (fault.released.wait(0.05) or proxy.stopping.is_set()):
                    pass
            elif fault.seconds:
                proxy.stopping.wait(fault.seconds)
            if proxy.stopping.is_set():
                self.close_connection = True
                return
        self._forward(body)

    def _forward(self, body: bytes | None) -> None:
        proxy = self.server.proxy
        upstream = http.client.HTTPSConnection(proxy.upstream_host, proxy.upstream_port, context=proxy.upstream_tls)
        proxy.upstreams.add(upstream)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            upstream.putheader("Host", f"{proxy.upstream_host}:{proxy.upstream_port}")
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    upstream.putheader(name, value)
            if body is not None:
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            answer = upstream.getresponse()
            self.send_response_only(answer.status, answer.reason)  # the server's own Date, not a second one
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            length = answer.getheader("Content-Length")
            if self.command == "HEAD" or answer.status in (204, 304):
                self.end_headers()
            elif length is not None:
                data = answer.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:  # a watch, or any streamed answer: pass each piece on as it arrives
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while data := answer.read1(65536):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            self.close_connection = True  # the client, the upstream or stop() ended it
        finally:
            proxy.upstreams.discard(upstream)
            upstream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any


class FaultProxy:
    def __init__(self, upstream_url: str, upstream_ca: Path, client_cert: Path, client_key: Path, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        parts = urlsplit(upstream_url)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 443
        self.upstream_tls = ssl.create_default_context(cafile=str(upstream_ca))
        self.upstream_tls.load_cert_chain(str(client_cert), str(client_key))
        self.ca = TestCA(directory, "binderhub-wizard fault proxy CA")
        cert, key = self.ca.issue(["127.0.0.1", "localhost"])
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.tls.set_alpn_protocols(["http/1.1"])
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.upstreams: set[http.client.HTTPSConnection] = set()
        self.port = 0
        self._server: _Server | None = None
        self.kubeconfig = directory / "proxy.kubeconfig"

    @classmethod
    def in_front_of(cls, api_server, directory: Path) -> "FaultProxy":
        """In front of a tests.realkube.controlplane.APIServer, as its admin."""
        return cls(api_server.url, api_server.pki.ca.cert, api_server.admin.cert, api_server.admin.key, directory)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> "FaultProxy":
        """Listen (again, after `stop`, on the same port: the kubeconfig stays valid)."""
        self.stopping.clear()
        self._server = _Server(("127.0.0.1", self.port), self)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name=f"faultproxy:{self.port}",
                         daemon=True).start()
        self._write_kubeconfig()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (held requests and watches too): clients
        then see "connection refused", as with an API server that went away."""
        if self._server is None:
            return
        server, self._server = self._server, None
        self.stopping.set()
        server.shutdown()
        server.server_close()
        for connection in list(server.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for upstream in list(self.upstreams):
            try:
                upstream.sock and upstream.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def inject(self, method: str | None = None, path_regex: str = "", status: int = 500, times: int | None = 1,
               message: str | None = None) -> Fault:
        """Answer the next `times` matching requests (None: all) with a Status of code `status`."""
        return self._add(Fault(method, re.compile(path_regex), status=status, message=message, times=times))

    def slow(self, path_regex: str, seconds: float, method: str | None = None, times: int | None = None) -> Fault:
        """Delay matching requests by `seconds`, then forward them."""
        return self._add(Fault(method, re.compile(path_regex), seconds=seconds, times=times))

    def hold(self, path_regex: str = "", method: str | None = None, times: int | None = None) -> Fault:
        """Hold matching requests until `release()` (then forward them) or `stop()` (then cut them)."""
        return self._add(Fault(method, re.compile(path_regex), held=True, times=times))

    def clear(self) -> None:
        """No more faults; held requests go through."""
        for fault in self.faults:
            fault.release()
        self.faults.clear()

    def _add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def env(self, state: Path) -> dict[str, str]:
        """For kubectl, helm and the wizard as subprocesses, pointed at the proxy."""
        return kube_tool_env(self.kubeconfig, state)

    def _write_kubeconfig(self) -> None:
        ca = base64.b64encode(self.ca.ca_path.read_bytes()).decode()
        document = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "faultproxy", "cluster": {"server": self.url, "certificate-authority-data": ca}}],
            # The proxy authenticates upstream as the admin and drops this token (kubectl asks for
            # a password on a terminal when a user has no credentials at all).
            "users": [{"name": "faultproxy", "user": {"token": "fault-proxy-client"}}],
            "contexts": [{"name": "faultproxy", "context": {"cluster": "faultproxy", "user": "faultproxy"}}],
            "current-context": "faultproxy",
        }
        self.kubeconfig.write_text(yaml.safe_dump(document, sort_keys=False))
