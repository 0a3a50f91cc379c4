"""The endpoint probes: health over a trusted certificate, staging certificates as a warning, and
the sign-in chain BinderHub -> hub -> Keycloak checked from the redirects."""

from __future__ import annotations

import pytest

from tests.tls_standin import HubStandin, TestCA
from wizard.probe import ProbeError, Prober, expect_health, expect_sign_in_chain

BINDER, HUB = "binder.example.org", "hub.example.org"
AUTHORIZE = "https://sso.example.org/realms/binder/protocol/openid-connect/auth"


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path)


def standin(ca, **kwargs) -> HubStandin:
    options = dict(authorize_url=AUTHORIZE, client_id="binderhub")
    options.update(kwargs)
    return HubStandin(ca, BINDER, HUB, **options).start()


def prober_for(server: HubStandin, ca: TestCA | None) -> Prober:
    return Prober({BINDER: f"127.0.0.1:{server.port}", HUB: f"127.0.0.1:{server.port}"},
                  str(ca.ca_path) if ca else None, timeout=5)


def chain(prober: Prober, client_id: str = "binderhub", callback: str = f"https://{HUB}/hub/oauth_callback"):
    expect_sign_in_chain(prober, f"https://{BINDER}/", f"https://{HUB}/", client_id, AUTHORIZE, callback)


def test_health_and_sign_in_chain_pass(ca):
    server = standin(ca)
    try:
        prober = prober_for(server, ca)
        assert expect_health(prober, f"https://{BINDER}/health") is None
        assert expect_health(prober, f"https://{HUB}/hub/health") is None
        chain(prober)
    finally:
        server.stop()


def test_untrusted_certificate_fails_and_says_so(ca):
    server = standin(ca)
    try:
        with pytest.raises(ProbeError) as info:
            expect_health(prober_for(server, None), f"https://{BINDER}/health")
        assert "not trusted" in info.value.problem and not info.value.staging
    finally:
        server.stop()


def test_staging_certificate_is_a_warning(ca):
    server = standin(ca, issuer_name="(STAGING) Counterfeit Cashew R10")
    try:
        warning = expect_health(prober_for(server, None), f"https://{BINDER}/health")
        assert "staging" in warning
    finally:
        server.stop()


def test_unhealthy_service_fails(ca):
    server = standin(ca, health_status=503)
    try:
        with pytest.raises(ProbeError, match="503"):
            expect_health(prober_for(server, ca), f"https://{HUB}/hub/health")
    finally:
        server.stop()


@pytest.mark.parametrize("kwargs,expected", [
    ({"client_id": "someone-else"}, "client"),
    ({"authorize_url": "https://sso.example.org/auth/realms/binder/protocol/openid-connect/auth"}, "not https"),
])
def test_sign_in_chain_catches_wrong_wiring(ca, kwargs, expected):
    server = standin(ca, **kwargs)
    try:
        with pytest.raises(ProbeError, match=expected):
            chain(prober_for(server, ca))
    finally:
        server.stop()


def test_sign_in_chain_catches_a_wrong_callback(ca):
    server = standin(ca)
    try:
        with pytest.raises(ProbeError, match="callback"):
            chain(prober_for(server, ca), callback="https://other.example.org/hub/oauth_callback")
    finally:
        server.stop()


def test_nothing_listening_is_explained():
    prober = Prober({BINDER: "127.0.0.1:9"}, timeout=2)
    with pytest.raises(ProbeError, match="did not answer"):
        expect_health(prober, f"https://{BINDER}/health")
