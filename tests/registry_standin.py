"""A local stand-in for a container registry, for tests: HTTPS on 127.0.0.1 with a test CA.

Answers `GET /v2/` the way Distribution does (the Docker-Distribution-Api-Version header on every
answer, 401 with a challenge without credentials) with either Basic authentication or the Bearer
token flow (`/token`, which takes Basic credentials and hands out a token). Also plays things that
are not a registry, and plain HTTP, so the probe's failures can be checked one by one.

The CA and the server certificate (for registry.example.org, localhost and 127.0.0.1) are made at
test time with `cryptography`; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import secrets
import ssl
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "registry.example.org"
API_HEADER = ("Docker-Distribution-Api-Version", "registry/2.0")


@dataclass(frozen=True)
class TestCA:
    ca_path: Path       # the CA certificate, PEM: the trust store to give the probe
    cert_path: Path     # the server's certificate chain, PEM
    key_path: Path      # the server's key, PEM


def make_ca(directory: Path, names: tuple[str, ...] = (HOST, "localhost"), ips: tuple[str, ...] = ("127.0.0.1",)
            ) -> TestCA:
    """A throwaway CA and a server certificate it signed, written into `directory`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "binderhub-wizard test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca = TestCA(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    ca.ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    ca.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca.key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return ca


@dataclass
class Behaviour:
    auth: str = "basic"             # basic | bearer | open | none-challenge
    username: str = "robot"
    password: str = "s3cret-Pa55"
    api_header: bool = True         # send Docker-Distribution-Api-Version (False: "not a registry")
    v2_status: int | None = None    # answer /v2/ with this status whatever the credentials (404, 503)
    token_key: str = "token"        # token or access_token in the token answer
    tokens: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization) seen


class _Handler(BaseHTTPRequestHandler):
    server_version = "registry-standin"
    protocol_version = "HTTP/1.1"

    @property
    def behaviour(self) -> Behaviour:
        return self.server.behaviour  # type: ignore[attr-defined]

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()  # a failed handshake ends this request only
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError):
            pass

    def log_message(self, format, *args):  # noqa: A002 - quiet tests
        pass

    def _send(self, status: int, body: dict | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        if self.behaviour.api_header:
            self.send_header(*API_HEADER)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _basic_ok(self) -> bool:
        b = self.behaviour
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == b.username and password == b.password

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        b = self.behaviour
        parts = urlsplit(self.path)
        b.requests.append((parts.path, self.headers.get("Authorization", "")))
        if parts.path == "/token" and b.auth == "bearer":
            query = parse_qs(parts.query)
            if not self._basic_ok() or query.get("service") != [HOST]:
                self._send(401, {"errors": [{"code": "UNAUTHORIZED"}]})
                return
            token = secrets.token_hex(16)
            b.tokens.add(token)
            self._send(200, {b.token_key: token, "expires_in": 300})
            return
        if parts.path not in ("/v2/", "/v2"):
            self._send(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        if b.v2_status is not None:
            self._send(b.v2_status, {})
            return
        unauthorized = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        if b.auth == "open":
            self._send(200, {})
        elif b.auth == "basic":
            if self._basic_ok():
                self._send(200, {})
            else:
                self._send(401, unauthorized, {"WWW-Authenticate": 'Basic realm="Registry Realm"'})
        elif b.auth == "bearer":
            header = self.headers.get("Authorization", "")
            if header.startswith("Bearer ") and header[7:] in b.tokens:
                self._send(200, {})
            else:
                realm = f"https://{self.headers.get('Host', HOST)}/token"
                challenge = f'Bearer realm="{realm}",service="{HOST}",scope="registry:catalog:*"'
                self._send(401, unauthorized, {"WWW-Authenticate": challenge})
        else:  # a 401 without a registry challenge
            self._send(401, unauthorized)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext | None = None

    def get_request(self):
        sock, address = self.socket.accept()
        if self.context is not None:
            # The handshake happens in the request's thread (in _Handler.setup), so a client that
            # fails it or never speaks blocks nobody else.
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request, client_address) -> None:
        # A client that rejects the certificate aborts the handshake: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class RegistryStandin:
    """`with RegistryStandin(ca, Behaviour(auth="bearer")) as registry:` -> registry.port, .resolve."""

    def __init__(self, ca: TestCA | None, behaviour: Behaviour | None = None):
        self.ca = ca                  # None: plain HTTP
        self.behaviour = behaviour or Behaviour()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def resolve(self) -> dict[str, str]:
        """For probe_registry: the test host name to this server."""
        return {HOST: f"127.0.0.1:{self.port}"}

    @property
    def url(self) -> str:
        """The registry URL as an operator would give it (port 443, sent here through `resolve`)."""
        return f"https://{HOST}"

    def __enter__(self) -> "RegistryStandin":
        server = _Server(("127.0.0.1", 0), _Handler)
        server.behaviour = self.behaviour  # type: ignore[attr-defined]
        if self.ca is not None:
            server.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.context.load_cert_chain(self.ca.cert_path, self.ca.key_path)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
