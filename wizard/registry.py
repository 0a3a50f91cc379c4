"""Does a registry answer `/v2/` with these credentials? One probe, one plain answer.

`probe_registry` speaks the Docker Registry HTTP API's version check: GET /v2/, and on 401 follows
the challenge, Basic (retry with the credentials) or Bearer (the token flow: ask the realm for a
token with the credentials, retry with it). Every failure gets its own message saying what to do
next. The password never appears in a message.

Standard library only (http.client, ssl, socket): it runs inside the CLI before anything else is
installed. `resolve` (host -> "ip:port", like curl --resolve) sends a name to another address while
TLS still checks the certificate against the name; the tests point a real name at 127.0.0.1.
"""

from __future__ import annotations

import base64
import errno
import http.client
import json
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlencode, urljoin, urlsplit

API_VERSION_HEADER = "Docker-Distribution-Api-Version"
MAX_REDIRECTS = 5
_MAX_BODY = 1 << 20  # a token response is small; never read more than this


@dataclass(frozen=True)
class RegistryProbe:
    ok: bool
    kind: str           # ok | credentials | unknown-host | refused | unreachable | timeout | certificate |
                        # tls | plain-http | not-a-registry | http-error | bad-url | ca-bundle
    message: str
    auth: str = ""      # when ok: none, basic or bearer

    def __str__(self) -> str:
        return self.message


class _Failure(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class _Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    url: str

    def header(self, name: str) -> str:
        return self.headers.get(name, "") or ""


def probe_registry(url: str, username: str, password: str, *, ca_bundle: str | None = None,
                   timeout: float = 10, resolve: Mapping[str, str] | None = None,
                   allow_http: bool = False) -> RegistryProbe:
    """Check that the registry at `url` answers /v2/ and accepts `username`/`password`."""
    try:
        result = _probe(url, username or "", password or "", ca_bundle, timeout, dict(resolve or {}), allow_http)
    except _Failure as failure:
        result = RegistryProbe(False, failure.kind, failure.message)
    return _scrubbed(result, password)


def _scrubbed(result: RegistryProbe, password: str) -> RegistryProbe:
    """A last guard: whatever a server or library put into a message, the password goes out."""
    if password and len(password) >= 3 and password in result.message:
        return RegistryProbe(result.ok, result.kind, result.message.replace(password, "(hidden)"), result.auth)
    return result


def _probe(url: str, username: str, password: str, ca_bundle: str | None, timeout: float,
           resolve: dict[str, str], allow_http: bool) -> RegistryProbe:
    base = _base_url(url, allow_http)
    context = _tls_context(ca_bundle)
    client = _Client(context, timeout, resolve, allow_http)
    v2 = base + "/v2/"
    where = urlsplit(base).netloc

    first = client.get(v2)
    seen_api_header = bool(first.header(API_VERSION_HEADER))
    if first.status == 200:
        _require_registry(first, seen_api_header, where)
        return RegistryProbe(True, "ok", f"{where} answers /v2/ without credentials (an open registry)", "none")
    if first.status != 401:
        raise _status_failure(first, where)

    challenge = first.header("WWW-Authenticate")
    scheme, params = _parse_challenge(challenge)
    if scheme == "basic":
        answer = client.get(v2, authorization=_basic(username, password))
        auth = "basic"
    elif scheme == "bearer":
        token = _bearer_token(client, params, username, password, where)
        answer = client.get(v2, authorization=f"Bearer {token}")
        auth = "bearer"
    else:
        if not seen_api_header:
            raise _not_a_registry(where, "answers 401 with no registry challenge")
        if not challenge.strip():
            raise _Failure("http-error", f"{where} answers 401 without saying how to authenticate (no "
                                         "WWW-Authenticate header); a proxy in front of the registry may drop it")
        raise _Failure("http-error", f"{where} asks for an authentication scheme this check does not know "
                                     f"({challenge.split(' ', 1)[0]}); registries use Basic or Bearer")
    seen_api_header = seen_api_header or bool(answer.header(API_VERSION_HEADER))
    if answer.status in (401, 403):
        raise _credentials(where, username, answer.status)
    if answer.status != 200:
        raise _status_failure(answer, where)
    _require_registry(answer, seen_api_header, where)
    return RegistryProbe(True, "ok", f"{where} accepts user {username!r} ({auth} authentication)", auth)


def _base_url(url: str, allow_http: bool) -> str:
    try:
        parts = urlsplit(str(url).strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _Failure("bad-url", "the registry URL is not a valid URL; use https://HOST[:PORT]") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _Failure("bad-url", "the registry URL must start with https:// and name a host, "
                                  "e.g. https://registry.example.org")
    if parts.username is not None or parts.password is not None:
        raise _Failure("bad-url", "the registry URL carries credentials; give the user name and password "
                                  "separately, and the URL as https://HOST")
    if parts.scheme == "http" and not allow_http:
        raise _Failure("plain-http", f"{parts.netloc}: the registry URL is plain http://, and credentials "
                                     "would cross the network unencrypted; use https:// (or allow_http, "
                                     "which also needs containerd and dind configuration on every node)")
    path = parts.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[:-3]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    if ca_bundle is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as err:
        raise _Failure("ca-bundle", f"the CA bundle {ca_bundle} cannot be read as PEM certificates "
                                    f"({err.__class__.__name__}); give the path of a PEM file") from None


def _basic(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _PARAM.finditer(rest)}
    params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in params.items()}
    return scheme.lower(), params


def _bearer_token(client: "_Client", params: dict[str, str], username: str, password: str, where: str) -> str:
    realm = params.get("realm", "")
    if not realm:
        raise _Failure("http-error", f"{where} asks for a Bearer token but names no token service (realm)")
    query = {key: params[key] for key in ("service", "scope") if params.get(key)}
    if username:
        query["account"] = username
    separator = "&" if "?" in realm else "?"
    token_url = realm + (separator + urlencode(query) if query else "")
    try:
        answer = client.get(token_url, authorization=_basic(username, password))
    except _Failure as failure:
        raise _Failure(failure.kind, f"token service of {where}: {failure.message}") from None
    token_host = urlsplit(token_url).netloc
    if answer.status in (401, 403):
        raise _credentials(where, username, answer.status, via=token_host)
    if answer.status != 200:
        raise _Failure("http-error", f"the token service {token_host} of {where} answered HTTP {answer.status}; "
                                     "check the registry's token service")
    try:
        document = json.loads(answer.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = None
    token = (document.get("token") or document.get("access_token")) if isinstance(document, dict) else None
    if not isinstance(token, str) or not token:
        raise _Failure("http-error", f"the token service {token_host} of {where} gave no token "
                                     "(neither token nor access_token in its answer)")
    return token


def _require_registry(response: _Response, seen_api_header: bool, where: str) -> None:
    if not seen_api_header:
        raise _not_a_registry(where, f"answers /v2/ with HTTP {response.status} but without the "
                                     f"{API_VERSION_HEADER} header")


def _not_a_registry(where: str, what: str) -> _Failure:
    return _Failure("not-a-registry", f"{where} {what}: it is not a container registry, or the URL points at "
                                      "something in front of it (a web site, a login page); check the URL")


def _credentials(where: str, username: str, status: int, via: str = "") -> _Failure:
    source = f" (its token service {via} answered {status})" if via else f" (HTTP {status})"
    return _Failure("credentials", f"{where} refused user {username!r} with the given password{source}: "
                                   "check the user name and the password or token, and that the account "
                                   "may push (a robot account with push rights)")


def _status_failure(response: _Response, where: str) -> _Failure:
    if response.status == 404:
        return _not_a_registry(where, "answers HTTP 404 at /v2/")
    if response.status in (502, 503, 504):
        return _Failure("http-error", f"{where} answered HTTP {response.status} at /v2/: the proxy or "
                                      "ingress in front of the registry cannot reach it; is the registry running?")
    return _Failure("http-error", f"{where} answered HTTP {response.status} at /v2/, where a registry "
                                  "answers 200 or 401; check the URL and the registry's logs")


class _Client:
    """GET requests with optional redirects, a fixed trust store and host -> address overrides."""

    def __init__(self, context: ssl.SSLContext, timeout: float, resolve: dict[str, str], allow_http: bool):
        self.context = context
        self.timeout = timeout
        self.resolve = resolve
        self.allow_http = allow_http

    def get(self, url: str, *, authorization: str | None = None) -> _Response:
        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme == "http" and not self.allow_http:
                raise _Failure("plain-http", f"{origin} sends this check to plain http://{parts.netloc}; the "
                                             "registry must be served over https://")
            headers = {"User-Agent": "binderhub-wizard", "Accept": "application/json"}
            # Credentials go only to the host they were meant for, never along a redirect elsewhere.
            if authorization and parts.netloc == origin:
                headers["Authorization"] = authorization
            response = self._request(parts, headers)
            location = response.header("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            return response
        raise _Failure("http-error", f"{origin} redirects more than {MAX_REDIRECTS} times")

    def _address(self, host: str, port: int) -> tuple[str, int]:
        target = self.resolve.get(f"{host}:{port}") or self.resolve.get(host)
        if not target:
            return host, port
        address, _, target_port = target.rpartition(":")
        if not address:  # no port given: only the address changes
            return target.strip("[]"), port
        return address.strip("[]"), int(target_port)

    def _request(self, parts, headers: dict[str, str]) -> _Response:
        host = parts.hostname
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        address = self._address(host, port)
        where = parts.netloc if address == (host, port) else f"{parts.netloc} (at {address[0]}:{address[1]})"
        connection_class = _HTTPSConnection if https else _HTTPConnection
        kwargs = {"context": self.context} if https else {}
        connection = connection_class(host, port, timeout=self.timeout, address=address, **kwargs)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", path, headers=headers)
            raw = connection.getresponse()
            body = raw.read(_MAX_BODY)
            return _Response(raw.status, raw.headers, body, parts.geturl())
        except socket.gaierror:
            raise _Failure("unknown-host", f"cannot find the host {host}: its name does not resolve. Check the "
                                           "spelling and its DNS record (an A record pointing at the "
                                           "registry, or at the ingress's public IP for the in-cluster one)") from None
        except ssl.SSLCertVerificationError as err:
            raise _certificate_failure(err, host, where) from None
        except ssl.SSLError as err:
            reason = getattr(err, "reason", None) or err.__class__.__name__
            if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                          "UNKNOWN_PROTOCOL", "HTTP_REQUEST"):
                raise _Failure("tls", f"{where} does not speak HTTPS on this port ({reason}): it looks like "
                                      "plain HTTP. Serve the registry over HTTPS (for example behind the "
                                      "ingress with a Let's Encrypt certificate), or check the port") from None
            raise _Failure("tls", f"the TLS handshake with {where} failed ({reason}); check that the port "
                                  "serves HTTPS with a current certificate") from None
        except (socket.timeout, TimeoutError):
            raise _Failure("timeout", f"no answer from {where} within {self.timeout:g} s: a firewall may drop "
                                      "the traffic, or the address is wrong; check that the port is open "
                                      "from this machine") from None
        except ConnectionRefusedError:
            raise _Failure("refused", f"{where} refuses connections: nothing listens on that port. Is the "
                                      "registry (or the ingress in front of it) running, and is the port "
                                      "right?") from None
        except (http.client.HTTPException, ConnectionResetError, ConnectionAbortedError):
            raise _Failure("http-error", f"{where} closed the connection or did not answer in HTTP; check the "
                                         "URL and port") from None
        except OSError as err:
            if err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
                raise _Failure("unreachable", f"{where} is unreachable from this machine (no route to the "
                                              "host); check the address and the network") from None
            raise _Failure("unreachable", f"cannot connect to {where} ({err.strerror or err.__class__.__name__})"
                           ) from None
        finally:
            connection.close()


def _certificate_failure(err: ssl.SSLCertVerificationError, host: str, where: str) -> _Failure:
    detail = getattr(err, "verify_message", "") or err.__class__.__name__
    if getattr(err, "verify_code", None) == 62 or "hostname mismatch" in detail.lower() \
            or "doesn't match" in str(err).lower():
        return _Failure("certificate", f"the certificate of {where} is not valid for the name {host} "
                                       f"({detail}); use a certificate issued for {host}")
    return _Failure("certificate", f"the registry's certificate is not trusted by this machine ({detail}); "
                                   "use a certificate from a public CA (Let's Encrypt) or add its CA")


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, timeout: float, address: tuple[str, int]):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection(self._address, self.timeout)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, timeout: float, address: tuple[str, int],
                 context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout)
        try:
            # The certificate is checked against the name in the URL, whatever address it resolved to.
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


__all__ = ["probe_registry", "RegistryProbe", "API_VERSION_HEADER"]
