"""Validators for single answers: pure functions shared by the TUI, the prompts and the CLI.

Each validator takes the raw value (as YAML or a text field gives it) and returns the normalised
value, or raises `Invalid` with why it was refused and what is allowed. A validator may also add a
note (a warning that does not refuse the value) through `Checked`.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from .yamlio import read_back_as


class Invalid(ValueError):
    """A refused value: `why` it is wrong and what is `allowed` instead."""

    def __init__(self, why: str, allowed: str):
        super().__init__(f"{why}; allowed: {allowed}")
        self.why = why
        self.allowed = allowed


@dataclass(frozen=True)
class Checked:
    """An accepted value with an optional note for the user (e.g. a private address)."""

    value: object
    note: str | None = None


def _text(value: object, what: str = "text") -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        kind = {bool: "true/false", int: "a number", float: "a number", list: "a list",
                dict: "a mapping", type(None): "empty"}.get(type(value), type(value).__name__)
        raise Invalid(f"expected {what}, got {kind}", f"{what} (put it in quotes if YAML reads it otherwise)")
    other = read_back_as(value)
    if other is not None:
        raise Invalid(f"would reach the hub as a YAML {other}, not as text (helm writes it unquoted)",
                      f"{what} that YAML reads as text")
    return value


# Besides control characters (C0 and C1) and lone surrogates: characters YAML counts as line breaks
# (U+2028, U+2029) or that it may not carry (U+FEFF, U+FFFE, U+FFFF). helm refuses values holding C1
# controls outright ("yaml: control characters are not allowed").
_NOT_TEXT = frozenset("\u2028\u2029\ufeff\ufffe\uffff")


def _no_control(value: str, allowed: str) -> None:
    if any(ch in _NOT_TEXT or unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise Invalid("contains a line break or control character", allowed)


# --- addresses and names -------------------------------------------------------------------------

# Site-local ranges (RFC 1918, carrier-grade NAT, unique local). Not `is_private`, which also
# covers the documentation ranges used in examples.
_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in
                      ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))


def ip_address(value: object) -> Checked:
    allowed = "the IPv4 or IPv6 address of the node that receives ports 80 and 443"
    text = _text(value, "an IP address").strip()
    if "%" in text:
        # Python accepts `fe80::1%eth0` and any text after the %; a zone only names a link of one machine.
        raise Invalid("has a zone id (%...), which names a link of one machine, not an address", allowed)
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise Invalid("is not an IP address", allowed) from None
    for flag, word in (("is_unspecified", "unspecified"), ("is_loopback", "loopback"),
                       ("is_multicast", "multicast"), ("is_link_local", "link-local"),
                       ("is_reserved", "reserved")):
        if getattr(addr, flag):
            raise Invalid(f"is a {word} address", allowed)
    note = None
    if any(addr in net for net in _PRIVATE_NETS if net.version == addr.version):
        note = ("is a private address: it must be an address of the node itself "
                "(behind 1:1 NAT, the node's private address, with the public one forwarded to it)")
    return Checked(str(addr), note)


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def dns_name(value: object) -> Checked:
    """A fully qualified host or domain name (RFC 1123); internationalised names become punycode."""
    allowed = "a DNS name such as binder.example.org (letters, digits and hyphens, dot-separated)"
    text = _text(value, "a DNS name").strip().rstrip(".")
    if not text:
        raise Invalid("is empty", allowed)
    if not text.isascii():
        import idna  # only for non-ASCII names: keeps the common path free of its tables

        try:
            text = idna.encode(text, uts46=True).decode("ascii")
        except idna.IDNAError as err:
            raise Invalid(f"is not a valid internationalised name ({err})", allowed) from None
    text = text.lower()
    if len(text) > 253:
        raise Invalid("is longer than 253 characters", allowed)
    labels = text.split(".")
    if len(labels) < 2:
        raise Invalid("has a single label; a public name needs a domain", allowed)
    for label in labels:
        if not _LABEL.match(label):
            raise Invalid(f"has an invalid label {label!r}", allowed)
    if labels[-1].isdigit():
        raise Invalid("ends in a number (an IP address is not a host name)", allowed)
    return Checked(text)


def email(value: object) -> Checked:
    allowed = "an e-mail address such as ops@example.org (Let's Encrypt writes to it about expiry)"
    text = _text(value, "an e-mail address").strip()
    local, sep, domain = text.rpartition("@")
    if not sep or not local or len(local) > 64:
        raise Invalid("is not an e-mail address", allowed)
    if not re.fullmatch(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+", local) or ".." in local \
            or local.startswith(".") or local.endswith("."):
        raise Invalid("has characters not allowed before the @", allowed)
    try:
        domain = dns_name(domain).value
    except Invalid:
        raise Invalid("has an invalid domain after the @", allowed) from None
    return Checked(f"{local}@{domain}")


def url(value: object, *, allow_http: bool = False, what: str = "URL") -> Checked:
    scheme_words = "https" if not allow_http else "http or https"
    allowed = f"an {scheme_words} {what} such as https://sso.example.org, without query or fragment"
    parts, port = _split_url(_text(value, f"a {what}").strip(), allowed)
    if parts.scheme not in ("https", "http"):
        raise Invalid("does not start with https://", allowed)
    if parts.scheme == "http" and not allow_http:
        raise Invalid("uses plain http (set allow_http: true in this section to allow it)", allowed)
    if parts.username or parts.password:
        raise Invalid("has credentials in it", allowed + "; credentials go in their own fields")
    if parts.query or parts.fragment:
        raise Invalid("has a query or fragment", allowed)
    if not parts.hostname:
        raise Invalid("has no host", allowed)
    host = _host(parts.hostname, allowed)
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path.rstrip("/")
    if " " in path:
        raise Invalid("has a space in its path", allowed)
    return Checked(f"{parts.scheme}://{netloc}{path}")


KEYCLOAK_BASE = ("only the base URL, https://HOST or https://HOST/auth (Keycloak older than 17); the realm "
                 "goes in auth.realm")


def keycloak_url(value: object, *, allow_http: bool = False) -> Checked:
    """Keycloak's base URL: the wizard adds /realms/REALM/... itself, so a pasted realm URL is refused."""
    checked = url(value, allow_http=allow_http, what="Keycloak URL")
    segments = urlsplit(str(checked.value)).path.split("/")
    if "realms" in segments:
        raise Invalid("has /realms/... in it (paste only the base URL)", KEYCLOAK_BASE)
    if "admin" in segments:
        raise Invalid("is the admin console's address, not the base URL", KEYCLOAK_BASE)
    return checked


def _split_url(text: str, allowed: str):
    """(parts, port) of a one-line URL; a malformed one (bad port, brackets) is refused."""
    _no_control(text, allowed)
    try:
        parts = urlsplit(text)
        return parts, parts.port
    except ValueError:
        raise Invalid("is not a URL", allowed) from None


def _host(hostname: str, allowed: str) -> str:
    try:
        addr = ipaddress.ip_address(hostname)
    except ValueError:
        return dns_name(hostname).value
    return f"[{addr}]" if addr.version == 6 else str(addr)


def acme_server(value: object) -> Checked:
    allowed = "production, staging, or the https URL of an ACME directory"
    text = _text(value, "production, staging or a URL").strip()
    if text in ("production", "staging"):
        return Checked(text)
    if text.startswith(("https://", "http://")):
        return url(text, what="ACME directory URL")
    raise Invalid("is not one of production, staging or a URL", allowed)


def registry_host(value: object) -> Checked:
    """A registry as host[:port] (the key in a Docker config.json)."""
    allowed = "a registry host such as registry.example.org or registry.example.org:5000"
    text = _text(value, "a registry host").strip()
    host, _, port = text.partition(":")
    if port:
        port_number(port if not port.isdigit() else int(port))
    try:
        name = _host(host, allowed)
    except Invalid:
        raise Invalid("is not a host name", allowed) from None
    return Checked(f"{name}:{port}" if port else name)


_REPO_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


def image_prefix(value: object) -> Checked:
    """`HOST[:PORT]/PROJECT/PREFIX-`: BinderHub appends the image name to it."""
    allowed = ("HOST[:PORT]/PATH/PREFIX- in lower case, such as registry.example.org/binder/r2d- "
               "(BinderHub appends the repository's image name)")
    text = _text(value, "an image prefix").strip()
    host, sep, path = text.partition("/")
    if not sep or not path:
        raise Invalid("has no registry host before the first /", allowed)
    try:
        registry_host(host)
    except Invalid:
        raise Invalid("does not start with a registry host", allowed) from None
    if not _REPO_PATH.match(path.rstrip("-_.") or "x"):
        raise Invalid("has a path that is not a valid image repository name", allowed)
    return Checked(text)


def k8s_name(value: object) -> Checked:
    """A DNS-1123 label: namespaces, releases, StorageClasses, Secrets."""
    allowed = "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63"
    text = _text(value, "a Kubernetes name").strip()
    if not _LABEL.match(text):
        raise Invalid("is not a valid Kubernetes name", allowed)
    return Checked(text)


def k8s_subdomain(value: object) -> Checked:
    """A DNS-1123 subdomain: StorageClass and ConfigMap names may have dots."""
    allowed = "lower-case letters, digits, '-' and '.', at most 253"
    text = _text(value, "a Kubernetes name").strip()
    if len(text) > 253 or not all(_LABEL.match(part) for part in text.split(".")):
        raise Invalid("is not a valid Kubernetes name", allowed)
    return Checked(text)


def helm_release(value: object) -> Checked:
    checked = k8s_name(value)
    if len(checked.value) > 53:
        raise Invalid("is longer than 53 characters", "a Kubernetes name of at most 53 characters (helm's limit)")
    return checked


_QUANTITY = re.compile(r"^(?:\d+(?:\.\d+)?|\.\d+)(?:Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_UNIT = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
         "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def size(value: object) -> Checked:
    """A byte quantity as Kubernetes writes it: 10Gi, 512Mi, 4G."""
    allowed = "a size such as 10Gi, 512Mi or 4G (binary Ki/Mi/Gi/Ti or decimal k/M/G/T)"
    text = _text(value, "a size").strip() if not isinstance(value, int) or isinstance(value, bool) else str(value)
    if not _QUANTITY.match(text):
        raise Invalid("is not a size", allowed)
    if size_in_bytes(text) <= 0:
        raise Invalid("is zero", allowed)
    return Checked(text)


def size_in_bytes(text: str) -> float:
    number = text.rstrip("KMGTPEikmgtpe")
    return float(number) * _UNIT[text[len(number):]]


def cpu(value: object) -> Checked:
    allowed = "a number of CPUs greater than 0, such as 2 or 0.5"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str) and re.fullmatch(r"\d+m", value.strip()):
            value = int(value.strip()[:-1]) / 1000
        else:
            raise Invalid("is not a number", allowed)
    if not value > 0 or value > 4096:
        raise Invalid("is out of range", allowed)
    return Checked(value)


def port_number(value: object) -> Checked:
    allowed = "a port number from 1 to 65535"
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("is not a whole number", allowed)
    if not 1 <= value <= 65535:
        raise Invalid("is out of range", allowed)
    return Checked(value)


def whole_number(value: object, *, minimum: int = 0, maximum: int = 10**9, unit: str = "") -> Checked:
    allowed = f"a whole number from {minimum} to {maximum}{unit}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("is not a whole number", allowed)
    if not minimum <= value <= maximum:
        raise Invalid("is out of range", allowed)
    return Checked(value)


def boolean(value: object) -> Checked:
    if not isinstance(value, bool):
        raise Invalid("is not true or false", "true or false")
    return Checked(value)


def one_of(*choices: str):
    def check(value: object) -> Checked:
        allowed = " | ".join(choices)
        text = _text(value, allowed)
        if text not in choices:
            raise Invalid("is not a known choice", allowed)
        return Checked(text)

    check.choices = choices  # the UI lists these as options
    return check


def line(value: object, *, what: str = "text", max_length: int = 256) -> Checked:
    """Free text on one line: names, ids, realms. Any character but control characters."""
    allowed = f"{what} on one line, 1 to {max_length} characters"
    text = _text(value, what)
    if not text.strip():
        raise Invalid("is empty", allowed)
    if text != text.strip():
        raise Invalid("starts or ends with a space", allowed)
    if len(text) > max_length:
        raise Invalid(f"is longer than {max_length} characters", allowed)
    _no_control(text, allowed)
    return Checked(text)


def optional_line(value: object, *, what: str = "text") -> Checked:
    if value == "":
        return Checked("")
    return line(value, what=what)


def keycloak_realm(value: object) -> Checked:
    checked = line(value, what="a Keycloak realm name")
    if "/" in checked.value or "?" in checked.value or "#" in checked.value:
        raise Invalid("contains /, ? or #", "a Keycloak realm name without /, ? or #")
    return checked


def secret_text(value: object) -> Checked:
    """A password or client secret: any printable text on one line."""
    allowed = "a secret of 1 to 4096 characters on one line"
    text = _text(value, "a secret")
    if not text:
        raise Invalid("is empty", allowed)
    if len(text) > 4096:
        raise Invalid("is too long", allowed)
    _no_control(text, allowed)
    return Checked(text)


_USERNAME = re.compile(r"^[^\s/]{1,255}$")


def name_list(value: object, *, what: str = "user names") -> Checked:
    allowed = f"a list of {what}, each on one line without spaces or /"
    if value is None:
        return Checked([])
    if not isinstance(value, list):
        raise Invalid("is not a list", allowed)
    seen: dict[str, None] = {}  # ordered, and a lookup that does not grow with the list
    for item in value:
        text = _text(item, what)
        try:
            _no_control(text, allowed)
        except Invalid:
            raise Invalid(f"has an entry with a control character ({_show(item)})", allowed) from None
        if not _USERNAME.match(text):
            raise Invalid(f"has an entry that is not valid ({_show(item)})", allowed)
        seen.setdefault(text, None)
    return Checked(list(seen))


def postgres_url(value: object) -> Checked:
    allowed = ("postgresql://USER@HOST[:PORT]/DATABASE (the password goes in hub.database.password, "
               "not in the URL)")
    text = _text(value, "a PostgreSQL URL").strip()
    parts, port = _split_url(text, allowed)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        raise Invalid("does not start with postgresql://", allowed)
    if parts.password:
        # Never echo the URL: it carries a password.
        raise Invalid("has a password in it", allowed)
    if not parts.hostname or not parts.path.strip("/"):
        raise Invalid("needs a host and a database name", allowed)
    if port is not None:
        port_number(port)
    return Checked(text)


def chart_version(value: object) -> Checked:
    allowed = "a chart version such as 1.21.1 or 1.0.0-0.dev.git.3959.hb9fad995 (an optional leading v)"
    text = _text(value, "a chart version").strip()
    if not re.fullmatch(r"v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?", text):
        raise Invalid("is not a version", allowed)
    return Checked(text)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
