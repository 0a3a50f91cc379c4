"""A test CA, and a local HTTPS server that answers as BinderHub and JupyterHub do at the URLs the
endpoints checks probe (health, and the redirects of the sign-in chain). 127.0.0.1 only."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class TestCA:
    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, name: str = "binderhub-wizard hub stand-in CA"):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_path = directory / "ca.pem"
        self.ca_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, hosts: list[str], issuer_name: str | None = None) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        names = [x509.IPAddress(ipaddress.ip_address(h)) if h.replace(".", "").isdigit() else x509.DNSName(h)
                 for h in hosts]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)])
                             if issuer_name else self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .sign(self.key, hashes.SHA256()))
        stem = self.directory / hosts[0].replace("*", "star")
        cert_path, key_path = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path


class HubStandin:
    """Answers as BinderHub (on binder_host) and JupyterHub with GenericOAuthenticator (on hub_host)."""

    def __init__(self, ca: TestCA, binder_host: str, hub_host: str, authorize_url: str, client_id: str,
                 *, health_status: int = 200, issuer_name: str | None = None):
        self.binder_host, self.hub_host = binder_host, hub_host
        self.authorize_url, self.client_id = authorize_url, client_id
        self.health_status = health_status
        cert, key = ca.issue([binder_host, hub_host], issuer_name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                host = (self.headers.get("Host") or "").split(":")[0]
                status, location = standin.answer(host, self.path)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, host: str, path: str) -> tuple[int, str | None]:
        parts = urlsplit(path)
        hub = f"https://{self.hub_host}/"
        if host == self.binder_host:
            if parts.path == "/health":
                return self.health_status, None
            # BinderHub with auth_enabled sends an anonymous browser to the hub's OAuth endpoint.
            query = urlencode({"client_id": "service-binderhub", "response_type": "code",
                               "redirect_uri": f"https://{self.binder_host}/oauth_callback"})
            return 302, f"{hub}hub/api/oauth2/authorize?{query}"
        if host == self.hub_host:
            if parts.path == "/hub/health":
                return self.health_status, None
            if parts.path == "/hub/api/oauth2/authorize":
                return 302, f"/hub/login?next={quote(path, safe='')}"
            if parts.path == "/hub/login":
                return 200, None
            if parts.path == "/hub/oauth_login":
                query = urlencode({"response_type": "code", "client_id": self.client_id,
                                   "redirect_uri": f"{hub}hub/oauth_callback", "scope": "openid profile email",
                                   "state": "abc"})
                return 302, f"{self.authorize_url}?{query}"
        return 404, None

    def start(self) -> "HubStandin":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def resolve_args(self) -> list[str]:
        return [arg for host in (self.binder_host, self.hub_host)
                for arg in ("--resolve", f"{host}:127.0.0.1:{self.port}")]


__all__ = ["TestCA", "HubStandin"]
