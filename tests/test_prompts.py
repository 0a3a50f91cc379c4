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


BACKSPACE = "\x7f"


def test_the_advanced_walk_takes_three_nodes_and_decimal_cpus():
    """`wizard export` on a terminal refused cluster.nodes = 3 (the prompt handed the text "3" to
    a check that wants a whole number; even the default 1 was refused), which the TUI accepts.
    Proves the prompts now parse each answer by the field's kind; it cannot prove anything about
    a real terminal beyond prompt_toolkit's pipe input."""
    keys = [
        ENTER, "y",                     # profile production; the advanced questions too
        ENTER, ENTER, ENTER,            # context (current), namespace, release
        ENTER,                          # runtime containerd
        BACKSPACE + "3" + ENTER,        # nodes: 3 in place of the default 1
        "198.51.100.7" + ENTER, ENTER,  # public ip, expose
        "example.org" + ENTER, ENTER, ENTER, "ops@example.org" + ENTER, ENTER,
        ENTER, ENTER, ENTER,            # ingress, storage, storage class
        ENTER, "n",                     # registry external, no plain http
        "https://registry.example.org" + ENTER, "robot" + ENTER, "registry-pass" + ENTER,
        "registry.example.org/binder/r2d-" + ENTER,
        ENTER, "n",                     # keycloak, no plain http
        "https://sso.example.org" + ENTER, "binder" + ENTER, ENTER, "client-secret" + ENTER,
        ENTER,                          # login button label
        "admin" + ENTER, "y", ENTER, ENTER, "y",
        "y", ENTER,                     # named servers, their limit
        "y", ENTER,                     # culling, its timeout
        ENTER, "y", ENTER,              # database, user storage, capacity
        ENTER, ENTER,                   # cpu and memory limits
        BACKSPACE * 3 + "250m" + ENTER,  # cpu guarantee, in Kubernetes' milli-CPUs
        ENTER,
        "y", ENTER, ENTER, ENTER,       # the launch check: on, its repository, ref, timeout
    ]
    raw = run_prompts(keys)
    assert raw is not None
    assert raw["cluster"]["nodes"] == 3
    result = load_answers(raw)
    assert result.ok, [str(p) for p in result.problems]
    assert result.settings.cluster.nodes == 3
    assert result.settings.hub.resources.cpu_guarantee == 0.25
    assert result.settings.hub.cull.timeout == 3600 and result.settings.hub.named_server_limit == 5


def test_a_refused_answer_names_the_field_and_what_is_allowed():
    nodes = _validator(FIELDS_BY_PATH["cluster.nodes"], {})
    assert nodes("3") is True and nodes("1") is True
    assert nodes("three") == "cluster.nodes: is not a whole number (allowed: a whole number from 1 to 5000)"
    keycloak = _validator(FIELDS_BY_PATH["auth.keycloak_url"], {})
    assert "the realm goes in auth.realm" in keycloak("https://sso.example.org/realms/binder")


def test_a_rule_across_fields_refuses_the_answer_that_breaks_it():
    """The hub host equal to the BinderHub host is refused at the hub host question (before, only
    the export after the whole walk said so, and every answer was lost)."""
    answers = {"profile": "production", "network": {"public_ip": "198.51.100.7", "domain": "example.org",
                                                    "binder_host": "same.example.org"}}
    hub_host = _validator(FIELDS_BY_PATH["network.hub_host"], answers)
    assert hub_host("same.example.org") == ("network.hub_host: is the same as network.binder_host (allowed: two "
                                            "different host names: BinderHub and JupyterHub each need their own)")
    assert hub_host("hub.example.org") is True
    assert hub_host("") is True, "the default hub.example.org differs"
    limit = {"hub": {"resources": {"cpu_limit": 1}}}
    assert _validator(FIELDS_BY_PATH["hub.resources.cpu_limit"], {})("0.25") is True, \
        "the guarantee is asked later: the rule waits for it"
    guarantee = _validator(FIELDS_BY_PATH["hub.resources.cpu_guarantee"], limit)
    assert "is more than cpu_limit" in guarantee("2") and guarantee("500m") is True


def test_a_rule_a_select_question_breaks_is_shown_and_the_walk_repeats_with_the_answers():
    """Staging certificates, then an in-cluster registry (a select, which questionary cannot
    validate): before, export refused the answers after the walk and every answer was lost. Proves
    the prompts offer a second walk with the answers as defaults (a secret kept when left empty)."""
    first = [
        ENTER, "n", ENTER,
        "198.51.100.7" + ENTER, ENTER, "example.org" + ENTER, ENTER, ENTER, "ops@example.org" + ENTER,
        BACKSPACE * len("production") + "staging" + ENTER,
        ENTER, ENTER, ENTER,
        DOWN + ENTER,                   # registry: in-cluster
        ENTER, ENTER, ENTER, ENTER,     # its host, volume size, user, image prefix
        ENTER, "https://sso.example.org" + ENTER, "binder" + ENTER, ENTER, "client-secret" + ENTER,
        "admin" + ENTER, "y", ENTER, ENTER, "y",
        "y", "n", ENTER, "y", ENTER,
    ]
    again = ["y"]                       # go through the questions again
    second = [
        ENTER, "n", ENTER,
        ENTER, ENTER, ENTER, ENTER, ENTER, ENTER,   # ip, expose, domain, hosts, e-mail: as answered
        BACKSPACE * len("staging") + "production" + ENTER,
        ENTER, ENTER, ENTER,
        ENTER,                          # registry: in-cluster, as answered
        ENTER, ENTER, ENTER, ENTER,
        ENTER, ENTER, ENTER, ENTER,
        ENTER,                          # client secret left empty: the one typed before is kept
        ENTER, "y", ENTER, ENTER, "y",
        "y", "n", ENTER, "y", ENTER,
    ]
    raw = run_prompts(first + again + second)
    assert raw is not None
    result = load_answers(raw)
    assert result.ok, [str(p) for p in result.problems]
    s = result.settings
    assert s.tls.acme_server == "production" and s.registry.type == "in-cluster"
    assert s.network.public_ip == "198.51.100.7" and s.auth.client_secret == "client-secret"
    assert s.auth.admin_users == ["admin"]
