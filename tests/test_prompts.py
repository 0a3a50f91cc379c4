"""The questionary prompts ask what applies and check answers with the same validators."""

from __future__ import annotations

from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from wizard.prompts import _validator, ask_answers
from wizard.settings import FIELDS_BY_PATH, load_answers

ENTER, DOWN = "\r", "\x1b[B"


def run_prompts(keys: list[str]) -> dict | None:
    with create_pipe_input() as pipe:
        pipe.send_text("".join(keys))
        # End of input after the keys: a question the keys do not answer fails the test instead of
        # waiting for ever.
        pipe.close()
        return ask_answers(input=pipe, output=DummyOutput())


def test_a_full_walk_gives_valid_answers():
    keys = [
        ENTER,                          # profile: production (first choice)
        "n" ,                           # no advanced questions
        ENTER,                          # namespace binder
        "198.51.100.7" + ENTER,         # public ip
        ENTER,                          # expose: load-balancer (first choice)
        "example.org" + ENTER,          # domain
        ENTER, ENTER,                   # binder and hub hosts from the domain
        "ops@example.org" + ENTER,      # acme e-mail
        ENTER,                          # acme server production
        ENTER,                          # ingress: traefik
        ENTER,                          # storage: openebs
        ENTER,                          # storage class openebs-hostpath
        ENTER,                          # registry: external
        "https://registry.example.org" + ENTER,
        "robot" + ENTER,
        "registry-pass" + ENTER,
        "registry.example.org/binder/r2d-" + ENTER,
        ENTER,                          # auth: keycloak
        "https://sso.example.org" + ENTER,
        "binder" + ENTER,               # realm
        ENTER,                          # client id binderhub
        "client-secret" + ENTER,
        "admin" + ENTER,                # admin users
        "y",                            # allow all
        ENTER, ENTER,                   # allowed users, groups
        "y",                            # pass tokens
        "y",                            # named servers
        "n",                            # culling
        ENTER,                          # database sqlite-pvc
        "y",                            # user storage
        ENTER,                          # capacity 10Gi
    ]
    raw = run_prompts(keys)
    assert raw is not None
    result = load_answers(raw)
    assert result.ok, [str(p) for p in result.problems]
    s = result.settings
    assert s.network.binder_host == "binder.example.org"
    assert s.auth.client_secret == "client-secret" and s.auth.admin_users == ["admin"]
    assert s.registry.image_prefix == "registry.example.org/binder/r2d-"


def test_prompt_validation_uses_the_field_validators():
    answers: dict = {}
    check = _validator(FIELDS_BY_PATH["network.public_ip"], answers)
    assert "loopback" in check("127.0.0.1")
    assert check("198.51.100.7") is True
    assert "required" in check("")
    secret = _validator(FIELDS_BY_PATH["auth.client_secret"], answers)
    assert "required" in secret("")
    limit = _validator(FIELDS_BY_PATH["hub.named_server_limit"], answers)
    assert limit("7") is True and limit("seven") is not True
