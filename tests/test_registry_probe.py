"""probe_registry against a local stand-in (tests/registry_standin.py): each outcome, its own message,
and never the password. Nothing but 127.0.0.1 is contacted: name lookups other than the loopback
ones fail here without asking a DNS server."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.registry_standin import HOST, Behaviour, RegistryStandin, make_ca
from wizard.registry import RegistryProbe, probe_registry

PASSWORD = "s3cret-Pa55-xyzzy"
WRONG = "wrong-Pa55-plugh"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Resolve loopback names only; anything else is an unknown host, as on a machine without DNS."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("ca"))


def standin(ca, **behaviour) -> RegistryStandin:
    return RegistryStandin(ca, Behaviour(username="robot", password=PASSWORD, **behaviour))


def probe(registry: RegistryStandin, ca, password: str = PASSWORD, **kwargs) -> RegistryProbe:
    kwargs.setdefault("ca_bundle", str(ca.ca_path))
    kwargs.setdefault("resolve", registry.resolve)
    kwargs.setdefault("timeout", 5)
    return probe_registry(registry.url, "robot", password, **kwargs)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_no_secret(result: RegistryProbe) -> None:
    for secret in (PASSWORD, WRONG):
        assert secret not in result.message and secret not in repr(result) and secret not in str(result)


@pytest.mark.parametrize("token_key", ["token", "access_token"])
def test_good_credentials_pass_the_bearer_token_flow(ca, token_key):
    with standin(ca, auth="bearer", token_key=token_key) as registry:
        result = probe(registry, ca)
        seen = [path for path, _auth in registry.behaviour.requests]
    assert result.ok and result.kind == "ok" and result.auth == "bearer", result.message
    assert seen == ["/v2/", "/token", "/v2/"]
    assert_no_secret(result)


def test_good_credentials_pass_basic_auth(ca):
    with standin(ca, auth="basic") as registry:
        result = probe(registry, ca)
        requests = list(registry.behaviour.requests)
    assert result.ok and result.auth == "basic", result.message
    assert [auth.split(" ")[0] for _path, auth in requests] == ["", "Basic"]
    assert HOST in result.message and "robot" in result.message
    assert_no_secret(result)


def test_an_open_registry_passes_without_credentials(ca):
    with standin(ca, auth="open") as registry:
        result = probe(registry, ca)
    assert result.ok and result.auth == "none"


def test_the_certificate_is_checked_against_the_name_not_the_address(ca):
    """resolve sends the name to 127.0.0.1, and TLS still verifies registry.example.org."""
    with standin(ca) as registry:
        direct = probe_registry(f"https://127.0.0.1:{registry.port}", "robot", PASSWORD, ca_bundle=str(ca.ca_path))
        other = probe_registry("https://other.example.org", "robot", PASSWORD, ca_bundle=str(ca.ca_path),
                               resolve={"other.example.org": f"127.0.0.1:{registry.port}"})
    assert direct.ok, direct.message
    assert not other.ok and other.kind == "certificate"
    assert "not valid for the name other.example.org" in other.message


# Each failure: (name, kind, a phrase of its own message saying what to do next)
FAILURES = {
    "wrong password (basic)": ("credentials", "refused user 'robot'"),
    "wrong password (token)": ("credentials", "its token service"),
    "closed port": ("refused", "refuses connections"),
    "unresolvable name": ("unknown-host", "cannot find the host nonexistent.invalid"),
    "untrusted certificate": ("certificate", "use a certificate from a public CA (Let's Encrypt) or add its CA"),
    "plain http URL": ("plain-http", "use https://"),
    "https to a plain-http server": ("tls", "does not speak HTTPS"),
    "404 at /v2/": ("not-a-registry", "HTTP 404"),
    "no registry header": ("not-a-registry", "without the Docker-Distribution-Api-Version header"),
    "no answer": ("timeout", "no answer from"),
    "registry behind a failing proxy": ("http-error", "HTTP 503"),
}


def run_failure(name: str, ca) -> RegistryProbe:
    if name == "wrong password (basic)":
        with standin(ca, auth="basic") as registry:
            return probe(registry, ca, WRONG)
    if name == "wrong password (token)":
        with standin(ca, auth="bearer") as registry:
            return probe(registry, ca, WRONG)
    if name == "closed port":
        return probe_registry(f"https://127.0.0.1:{closed_port()}", "robot", PASSWORD, timeout=5)
    if name == "unresolvable name":
        return probe_registry("https://nonexistent.invalid", "robot", PASSWORD, timeout=5)
    if name == "untrusted certificate":
        with standin(ca) as registry:
            return probe(registry, ca, ca_bundle=None)
    if name == "plain http URL":
        return probe_registry(f"http://127.0.0.1:{closed_port()}/", "robot", PASSWORD)
    if name == "https to a plain-http server":
        with standin(None) as registry:
            return probe(registry, ca)
    if name == "404 at /v2/":
        with standin(ca, v2_status=404) as registry:
            return probe(registry, ca)
    if name == "no registry header":
        with standin(ca, api_header=False) as registry:
            return probe(registry, ca)
    if name == "no answer":
        with socket.socket() as silent:  # accepts TCP (the kernel's backlog) but never speaks TLS
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)
            return probe_registry(f"https://127.0.0.1:{silent.getsockname()[1]}", "robot", PASSWORD, timeout=0.5)
    if name == "registry behind a failing proxy":
        with standin(ca, v2_status=503) as registry:
            return probe(registry, ca)
    raise AssertionError(name)


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_each_failure_has_its_own_plain_message(name, ca):
    kind, phrase = FAILURES[name]
    result = run_failure(name, ca)
    assert not result.ok
    assert result.kind == kind, result.message
    assert phrase in result.message
    assert_no_secret(result)


def test_failure_messages_differ(ca):
    messages = {name: run_failure(name, ca).message for name in FAILURES}
    assert len(set(messages.values())) == len(messages), messages


def test_allow_http_probes_a_plain_http_registry(ca):
    with standin(None) as registry:
        result = probe_registry(f"http://127.0.0.1:{registry.port}", "robot", PASSWORD, allow_http=True)
    assert result.ok and result.auth == "basic", result.message


def test_a_password_in_the_url_is_refused_without_being_shown():
    result = probe_registry(f"https://robot:{PASSWORD}@{HOST}", "robot", PASSWORD)
    assert not result.ok and result.kind == "bad-url"
    assert_no_secret(result)


def test_credentials_are_sent_only_after_the_challenge(ca):
    """Like docker login: ask /v2/ first, and send the password only where the challenge says."""
    with standin(ca, auth="bearer") as registry:
        probe(registry, ca)
        requests = list(registry.behaviour.requests)
    assert requests[0] == ("/v2/", "")
    assert requests[1][0] == "/token" and requests[1][1].startswith("Basic ")
    assert requests[2][0] == "/v2/" and requests[2][1].startswith("Bearer ")


def test_the_probe_uses_the_standard_library_only():
    code = ("import sys, wizard.registry; bad = {'requests', 'kubernetes', 'urllib3', 'yaml'} & set(sys.modules); "
            "print(sorted(bad)); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
