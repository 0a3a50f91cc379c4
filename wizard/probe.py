"""HTTP(S) probes of the finished install: health endpoints with a trusted certificate, and the
sign-in chain (BinderHub -> hub -> Keycloak) followed as redirects, no password needed.

Stdlib only. `resolve` maps a host to "ip:port" (like curl --resolve), so the install can be
verified before DNS has spread, and the tests can point real names at a local server.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

STAGING_MARK = b"(STAGING)"  # Let's Encrypt staging issuers are named "(STAGING) ..."


@dataclass(frozen=True)
class Reply:
    url: str
    status: int
    location: str | None


class ProbeError(Exception):
    def __init__(self, problem: str, next_step: str = "", *, staging: bool = False):
        super().__init__(problem)
        self.problem = problem
        self.next_step = next_step
        self.staging = staging

    def finding(self, name: str):
        from .finding import ERROR, Finding

        return Finding(name, ERROR, self.problem, self.next_step)


class _Connection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: tuple[str, int], **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PlainConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: tuple[str, int], **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection(self._address, self.timeout)


class Prober:
    def __init__(self, resolve: dict[str, str] | None = None, ca_bundle: str | None = None, timeout: float = 10):
        self.resolve = resolve or {}
        self.timeout = timeout
        self.context = ssl.create_default_context()
        if ca_bundle:
            self.context.load_verify_locations(ca_bundle)

    def _address(self, host: str, port: int) -> tuple[str, int]:
        target = self.resolve.get(host)
        if not target:
            return host, port
        ip, _, forced = target.rpartition(":")
        return (ip or target), int(forced) if forced.isdigit() else port

    def connection(self, url: str) -> tuple[http.client.HTTPConnection, str]:
        """An unopened connection for url (its host resolved as --resolve says, verified against
        --ca-bundle), and the path with query to request; the caller closes it."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self._address(host, port)
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = _Connection(host, port, address, timeout=self.timeout,
                                                           context=self.context)
        else:
            conn = _PlainConnection(host, port, address, timeout=self.timeout)
        return conn, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def get(self, url: str) -> Reply:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self._address(host, port)
        conn, path = self.connection(url)
        try:
            conn.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "binderhub-wizard"})
            response = conn.getresponse()
            response.read(65536)
            return Reply(url, response.status, response.getheader("Location"))
        except ssl.SSLCertVerificationError as err:
            staging = self._is_staging(host, port, address)
            raise ProbeError(f"{host}: the certificate is not trusted ({err.verify_message})",
                             "Let's Encrypt staging certificates are untrusted by design: switch tls.acme_server "
                             "to production" if staging else
                             "check the Certificate and that the ingress serves it, not its default certificate",
                             staging=staging) from None
        except (OSError, http.client.HTTPException) as err:
            raise ProbeError(f"{host}:{port} did not answer ({err.__class__.__name__}: {err})",
                             "check that the host resolves to the public IP and ports 80/443 reach the node") from None
        finally:
            conn.close()

    def _is_staging(self, host: str, port: int, address: tuple[str, int]) -> bool:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection(address, self.timeout) as sock:
                with context.wrap_socket(sock, server_hostname=host) as tls:
                    der = tls.getpeercert(binary_form=True) or b""
        except OSError:
            return False
        return STAGING_MARK in der

    def follow(self, url: str, stay_on: set[str], limit: int = 10) -> list[Reply]:
        """GET url and follow redirects while they stay on our own hosts; the last reply either
        answers or points elsewhere (e.g. to Keycloak)."""
        chain = []
        for _ in range(limit):
            reply = self.get(url)
            chain.append(reply)
            if reply.status not in (301, 302, 303, 307, 308) or not reply.location:
                return chain
            url = urljoin(url, reply.location)
            if urlsplit(url).hostname not in stay_on:
                return chain
        raise ProbeError(f"more than {limit} redirects from {chain[0].url}", "check hub_url and the Ingress hosts")


def expect_health(prober: Prober, url: str) -> str | None:
    """None when url answers 200 with a trusted certificate; a warning text for a staging one."""
    try:
        reply = prober.get(url)
    except ProbeError as err:
        if err.staging:
            return f"{url} answers with a Let's Encrypt staging certificate (untrusted by browsers)"
        raise
    if reply.status != 200:
        raise ProbeError(f"{url} answered HTTP {reply.status}, not 200",
                         "the service behind the Ingress is not ready: see the binderhub stage's checks")
    return None


def expect_sign_in_chain(prober: Prober, binder_url: str, hub_url: str, client_id: str,
                         authorize_url: str, callback_url: str) -> None:
    """The BinderHub page sends the browser to the hub; the hub's login sends it to Keycloak's
    authorize URL with our client id and the hub's callback."""
    hub_host = urlsplit(hub_url).hostname
    binder_host = urlsplit(binder_url).hostname
    chain = prober.follow(binder_url, {binder_host})
    last = chain[-1]
    target = urljoin(last.url, last.location or "")
    if not last.location or urlsplit(target).hostname != hub_host:
        raise ProbeError(f"{binder_url} does not send the browser to the hub (HTTP {last.status})",
                         "check config.BinderHub.auth_enabled and hub_url")
    login = prober.get(urljoin(hub_url, "hub/oauth_login"))
    if login.status not in (301, 302, 303, 307) or not login.location:
        raise ProbeError(f"{hub_url}hub/oauth_login answered HTTP {login.status}, not a redirect to Keycloak",
                         "check JupyterHub.authenticator_class and the hub log")
    location = urlsplit(login.location)
    expected = urlsplit(authorize_url)
    if (location.scheme, location.netloc, location.path) != (expected.scheme, expected.netloc, expected.path):
        raise ProbeError(f"the hub sends the browser to {location.scheme}://{location.netloc}{location.path}, "
                         f"not {authorize_url}", "check auth.keycloak_url and auth.realm")
    query = parse_qs(location.query)
    if query.get("client_id") != [client_id]:
        raise ProbeError(f"the hub asks Keycloak for client {query.get('client_id')}, not {client_id}",
                         "check auth.client_id")
    if query.get("redirect_uri") != [callback_url]:
        raise ProbeError(f"the hub's callback is {query.get('redirect_uri')}, not {callback_url}",
                         "check the hub host and oauth_callback_url")
