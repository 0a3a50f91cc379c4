"""Each validator accepts what it should, normalises it, and refuses the rest with a reason."""

from __future__ import annotations

import copy

import pytest

from wizard import validate as v


def refused(check, value) -> v.Invalid:
    with pytest.raises(v.Invalid) as info:
        check(value)
    assert info.value.why and info.value.allowed
    return info.value


@pytest.mark.parametrize("value", ["0.0.0.0", "::", "127.0.0.1", "::1", "224.0.0.1", "ff02::1",
                                   "169.254.10.10", "fe80::1", "240.0.0.1", "1.2.3", "300.1.1.1", "", "host"])
def test_ip_refused(value):
    refused(v.ip_address, value)


def test_ip_refusals_name_the_kind():
    assert "loopback" in refused(v.ip_address, "127.0.0.1").why
    assert "link-local" in refused(v.ip_address, "169.254.1.1").why
    assert "unspecified" in refused(v.ip_address, "0.0.0.0").why
    assert "multicast" in refused(v.ip_address, "239.1.1.1").why


@pytest.mark.parametrize("value", ["10.0.0.5", "172.16.3.4", "192.168.1.20", "100.64.0.1", "fd00::5"])
def test_private_ip_accepted_with_a_note(value):
    checked = v.ip_address(value)
    assert checked.value == value
    assert "node itself" in checked.note


def test_public_ip_accepted_without_note():
    assert v.ip_address(" 198.51.100.7 ") == v.Checked("198.51.100.7")
    assert v.ip_address("2001:db8::10").value == "2001:db8::10"


@pytest.mark.parametrize("value,expected", [
    ("Binder.Example.ORG", "binder.example.org"),
    ("binder.example.org.", "binder.example.org"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("hub.münchen.de", "hub.xn--mnchen-3ya.de"),
    ("a-b.c-d.example", "a-b.c-d.example"),
])
def test_dns_names_normalised(value, expected):
    assert v.dns_name(value).value == expected


@pytest.mark.parametrize("value", ["localhost", "-bad.example.org", "bad-.example.org", "under_score.example.org",
                                   "a..b.example", "1.2.3.4", "x" * 64 + ".example.org", "sp ace.example.org",
                                   "", 42, None, "exa mple.org"])
def test_dns_names_refused(value):
    refused(v.dns_name, value)


@pytest.mark.parametrize("value", ["ops@example.org", "first.last+tag@sub.example.org", "o'brien@example.ie"])
def test_email_accepted(value):
    assert v.email(value).value == value


@pytest.mark.parametrize("value", ["ops", "@example.org", "ops@", "ops@localhost", "a b@example.org",
                                   "ops..x@example.org", "ops@exa mple.org"])
def test_email_refused(value):
    refused(v.email, value)


def test_url_https_only_unless_allowed():
    assert v.url("https://sso.example.org/").value == "https://sso.example.org"
    assert v.url("https://sso.example.org:8443/auth/").value == "https://sso.example.org:8443/auth"
    assert "allow_http" in refused(v.url, "http://sso.example.org").why
    assert v.url("http://sso.example.org", allow_http=True).value == "http://sso.example.org"


@pytest.mark.parametrize("value", ["ftp://x.example.org", "https://", "https://user:pw@sso.example.org",
                                   "https://sso.example.org/?a=b", "https://sso.example.org/#x",
                                   "sso.example.org", "https://sso.example.org:99999", "https://bad_host.example"])
def test_url_refused(value):
    refused(v.url, value)


def _problems(path: str, value) -> str:
    """The problems load_answers gives for one answer: the message path that shows the value (the
    validators alone never echo it, so checking them proves nothing)."""
    from tests.variants import BASE
    from wizard.settings import load_answers

    raw = copy.deepcopy(BASE)
    node = raw
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    problems = [str(p) for p in load_answers(raw).problems]
    assert any(p.startswith(path) for p in problems), problems
    return "\n".join(problems)


def test_url_refusal_does_not_echo_credentials():
    shown = _problems("registry.url", "https://robot:s3@cr3t x/%y@registry.example.org")
    assert "robot:****@registry.example.org" in shown
    for piece in ("s3@cr3t", "cr3t x", "x/%y"):
        assert piece not in shown


@pytest.mark.parametrize("value,ok", [
    ("registry.example.org", True), ("registry.example.org:5000", True), ("10.0.0.5:5000", True),
    ("registry.example.org:0", False), ("registry.example.org:http", False), ("reg istry", False), ("", False),
])
def test_registry_host(value, ok):
    if ok:
        assert v.registry_host(value).value == value
    else:
        refused(v.registry_host, value)


@pytest.mark.parametrize("value,ok", [
    ("registry.example.org/binder/r2d-", True), ("registry.example.org:5000/r2d-", True),
    ("harbor.example.org/project/sub/prefix_", True), ("r2d-", False), ("registry.example.org/", False),
    ("registry.example.org/Binder/r2d-", False), ("registry.example.org/binder//r2d-", False),
    ("bad host/binder/r2d-", False),
])
def test_image_prefix(value, ok):
    if ok:
        assert v.image_prefix(value).value == value
    else:
        refused(v.image_prefix, value)


@pytest.mark.parametrize("value,ok", [("binder", True), ("binder-2", True), ("Binder", False), ("-x", False),
                                      ("x" * 64, False), ("a.b", False), ("", False)])
def test_k8s_names(value, ok):
    if ok:
        assert v.k8s_name(value).value == value
    else:
        refused(v.k8s_name, value)


def test_helm_release_limit():
    assert v.helm_release("x" * 53).value == "x" * 53
    assert "53" in refused(v.helm_release, "x" * 54).why


@pytest.mark.parametrize("value,ok", [("10Gi", True), ("512Mi", True), ("4G", True), ("1.5Gi", True),
                                      ("10GB", False), ("Gi", False), ("-1Gi", False), ("0Gi", False),
                                      ("ten", False), ("10 Gi", False)])
def test_sizes(value, ok):
    if ok:
        assert v.size(value).value == value
    else:
        refused(v.size, value)


def test_size_in_bytes():
    assert v.size_in_bytes("1Gi") == 2**30
    assert v.size_in_bytes("4G") == 4 * 10**9
    assert v.size_in_bytes("512Mi") < v.size_in_bytes("1G")


@pytest.mark.parametrize("value,ok", [(1, True), (65535, True), (0, False), (65536, False), ("80", False),
                                      (True, False)])
def test_ports(value, ok):
    if ok:
        assert v.port_number(value).value == value
    else:
        refused(v.port_number, value)


def test_postgres_urls():
    assert v.postgres_url("postgresql://hub@db.example.org:5432/hub").value.endswith("/hub")
    assert "password" in refused(v.postgres_url, "postgresql://hub:hunter2@db:5432/hub").why
    for password in ("hunter2", "hun@ter 2", "hun\nter2"):
        shown = _problems("hub.database.url", f"postgresql://hub:{password}@db:5432/hub")
        assert all(piece not in shown for piece in ("hunter2", "hun@ter", "ter 2", "ter2", "hun\\nter"))
    refused(v.postgres_url, "mysql://hub@db/hub")
    refused(v.postgres_url, "postgresql://db.example.org")


def test_text_fields_refuse_other_types_and_control_characters():
    assert "quotes" in refused(v.line, True).allowed
    refused(v.line, "two\nlines")
    refused(v.line, " padded")
    refused(v.keycloak_realm, "a/b")
    assert v.keycloak_realm("Binder Realm é").value == "Binder Realm é"


def test_name_lists():
    assert v.name_list(["alice", "bob", "alice"]).value == ["alice", "bob"]
    assert v.name_list(None).value == []
    refused(v.name_list, "alice")
    refused(v.name_list, ["has space"])
    refused(v.name_list, [42])


def test_choices_and_numbers():
    check = v.one_of("a", "b")
    assert check.choices == ("a", "b")
    assert "a | b" in refused(check, "c").allowed
    assert v.cpu("500m").value == 0.5
    refused(v.cpu, 0)
    refused(v.whole_number, 1.5)
    assert v.chart_version("v1.21.1").value == "v1.21.1"
    refused(v.chart_version, "latest")


@pytest.mark.parametrize("value", ["fe80::1%eth0", "2001:db8::1%eth0", "2001:db8::1%$(reboot)",
                                   "2001:db8::1%zone with spaces", "2001:db8::1%", "203.0.113.10%1"])
def test_public_ip_refuses_a_zone_id(value):
    """Python's ipaddress takes any text after a % as an IPv6 zone; the answers do not."""
    err = refused(v.ip_address, value)
    assert "zone" in err.why and "reboot" not in str(err)


def test_deduplicating_a_long_name_list_is_linear():
    """Counts comparisons instead of timing: a list scan makes about n²/2 of them (4.5 million for
    3,000 names), a hash lookup one per duplicate."""

    class Counted(str):
        comparisons = 0

        def __eq__(self, other):
            Counted.comparisons += 1
            return str.__eq__(self, other)

        __hash__ = str.__hash__

    names = [Counted(f"user{i}") for i in range(3000)] + [Counted("user1"), Counted("user2")]
    assert v.name_list(names).value == names[:3000]
    assert Counted.comparisons <= 2 * len(names), Counted.comparisons
    many = [f"user{i}" for i in range(100_000)]
    assert v.name_list(many + many[:1000]).value == many
