"""Every answer reaches helm and kubectl exactly: strings that a YAML 1.1 or 1.2 resolver (PyYAML,
Go's yaml.v2/v3 under helm and kubectl) could read as a number, a boolean, a null or a date are
quoted in every file we write. Read back through real helm and kubectl, never through our loader."""

from __future__ import annotations

import copy
import json
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, Phase, given, settings as hsettings, strategies as st

from tests.helm_merge import merge
from tests.helm_readback import binderhub_renders, go_read, registry_credentials
from tests.variants import BASE
from wizard.export import export
from wizard.settings import check_field, load_answers
from wizard.validate import chart_version
from wizard.yamlio import dumps, loads

# Read as something other than a string by at least one resolver (PyYAML, YAML 1.1 or 1.2 core,
# Go yaml.v2 or v3); a few neighbours that are strings everywhere, for contrast.
WORDS = ["y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
         "true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL", "~", "<<", "=",
         ".inf", "-.inf", "+.INF", ".Inf", ".nan", ".NaN", ".NAN", "yEs", "nULL", "inf", "nan", "0x", "-"]
NUMBERS = ["0", "7", "-1", "+1", "007", "1e3", "1E3", "1e+3", "1e-3", "-1.5e3", "1.", "1.0", ".5", ".5e3",
           "0o17", "0O17", "-0o17", "0x1F", "0X1f", "-0x1F", "0b101", "0B1", "-0b1", "0815", "0123456789",
           "0777", "1_000", "1__0", "0x_1F", "_1", "12:30", "1:20:30", "-12:30.5", "190:20:30.15", "1.2.3",
           "203.0.113.10", "1.5e3", "99999999999999999999", "1e999", "2026-11-29", "2026-1-2",
           "2026-11-29T10:00:00Z", "2026-11-29 10:00:00", "2026-11-29t10:00:00.5+01:00", ".", "1e3-x", "e3",
           "0b_", "0x_", "2026-02-30", "2001-12-14 21:59:43.10 -5", "2026-11-29T10:00:00", "9" * 250]
FIXED = WORDS + NUMBERS

_sign = st.sampled_from(["", "+", "-"])
_generated = st.one_of(
    st.from_regex(r"0[0-9]{1,8}", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}(_[0-9]{1,3}){1,3}", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{0,3})?[eE][-+]?[0-9]{1,3}", fullmatch=True),
    st.from_regex(r"\.[0-9]{1,3}([eE][-+]?[0-9]{1,2})?", fullmatch=True),
    st.from_regex(r"0[xX][0-9a-fA-F_]{1,8}|0[oO][0-7_]{1,6}|0[bB][01_]{1,8}", fullmatch=True),
    st.from_regex(r"20[0-9]{2}-[01]?[0-9]-[0-3]?[0-9]([Tt ][0-2][0-9]:[0-5][0-9]:[0-5][0-9](\.[0-9]{1,3})?Z?)?",
                  fullmatch=True),
    st.from_regex(r"[1-9][0-9]?(:[0-5][0-9]){1,3}(\.[0-9]{0,2})?", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){1,3}", fullmatch=True),
    st.from_regex(r"[0-9]{19,24}", fullmatch=True),
    st.sampled_from(WORDS).map(lambda w: "".join(c.upper() if i % 2 else c for i, c in enumerate(w))),
)
special = st.one_of(st.sampled_from(FIXED), st.builds(lambda s, body: s + body, _sign, _generated))


def test_the_dumper_quotes_every_string_go_would_read_as_another_type():
    """Each string as a value and as a key, dumped by yamlio and read by helm (Go)."""
    strings = sorted(set(FIXED))
    data = {"values": strings, "keys": {text: index for index, text in enumerate(strings)}}
    (echoed,) = go_read([dumps(data)])
    misread = [(text, got) for text, got in zip(strings, echoed["values"]) if got != text]
    assert not misread, f"Go read these differently: {misread}"
    assert sorted(echoed["keys"]) == sorted(strings)
    assert loads(dumps(data)) == data, "and PyYAML still reads them back exactly"


# --- every text field, through the real chart -----------------------------------------------------

# Text fields that can hold a string some resolver misreads, each with where it lands. A field whose
# validator refuses every such string (URLs, e-mails, choices) cannot be misread.
TEXT_FIELDS = ["cluster.context", "cluster.namespace", "cluster.release", "network.public_ip", "network.domain",
               "network.binder_host", "network.hub_host", "storage.storage_class", "registry.username",
               "registry.password", "registry.host", "auth.realm", "auth.client_id", "auth.login_service",
               "auth.client_secret", "hub.database.password", "hub.user_storage.capacity",
               "hub.resources.memory_limit", "hub.resources.memory_guarantee", "registry.storage_size"]
LIST_FIELDS = ["auth.admin_users", "auth.allowed_users", "auth.allowed_groups"]
TOKENS = ["0e" + "1" * 62, "1" * 64, "1_000", "0x1F", "12:30", "2026-11-29", "y", "null"]

PROPERTY_BASE = merge(copy.deepcopy(BASE), {
    "storage": {"provisioner": "existing", "storage_class": "local-path"},
    "auth": {"allow_all": False, "allowed_users": ["alice"], "allowed_groups": ["binder-users"]},
    "hub": {"database": {"type": "postgres", "url": "postgresql://hub@db.example.org:5432/hub", "password": "db-pass"}},
})


def set_value_at(raw: dict, path: str, value) -> None:
    node = raw
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _fits(check, value) -> bool:
    try:
        check(value)
        return True
    except ValueError:
        return False


def _accepts(path: str, value, answers: dict) -> bool:
    return _fits(lambda text: check_field(path, text, answers), value)


@st.composite
def special_answers(draw) -> tuple[dict, list[str]]:
    raw = copy.deepcopy(PROPERTY_BASE)
    if draw(st.booleans()):
        set_value_at(raw, "registry", {"type": "in-cluster"})
    pool = FIXED + draw(st.lists(special, min_size=10, max_size=10))
    for path in TEXT_FIELDS:
        accepted = [text for text in pool if _accepts(path, text, raw)]
        assert accepted, f"no special string fits {path}: it would not be exercised"
        set_value_at(raw, path, draw(st.sampled_from(accepted)))
    for path in LIST_FIELDS:
        fitting = [text for text in pool if _accepts(path, [text], raw)]
        set_value_at(raw, path, draw(st.lists(st.sampled_from(fitting), min_size=1, max_size=8)))
    versions = [text for text in pool if _fits(chart_version, text)]
    raw["versions"] = {"binderhub": draw(st.sampled_from(versions))}
    return raw, draw(st.permutations(TOKENS))


TOGETHER = {"hub.resources.memory_guarantee": ("hub.resources.memory_limit",)}


def _accepted(raw: dict):
    """The answers, with any field the cross-field checks refuse (hosts equal, guarantee over the
    limit) put back to its base value."""
    for _ in range(5):
        loaded = load_answers(raw)
        if loaded.ok:
            return raw, loaded.settings
        for problem in loaded.problems:
            for path in (problem.path, *TOGETHER.get(problem.path, ())):
                base = PROPERTY_BASE
                for part in path.split("."):
                    base = base.get(part) if isinstance(base, dict) else None
                set_value_at(raw, path, copy.deepcopy(base))
    raise AssertionError([str(p) for p in loaded.problems])


def _leaves(data, path=()):
    if isinstance(data, dict) and data:
        for key, value in data.items():
            yield from _leaves(value, (*path, key))
    else:
        yield path, data


def _at(data, path):
    for part in path:
        data = data[part]
    return data


def _documents(text: str) -> list[str]:
    """The documents of a file, each as its own text (our files put `---` alone on a line)."""
    documents: list[list[str]] = [[]]
    for line in text.splitlines():
        if line == "---":
            documents.append([])
        elif not line.startswith("#"):
            documents[-1].append(line)
    return ["\n".join(lines) + "\n" for lines in documents if any(line.strip() for line in lines)]


def _json(data):
    return json.loads(json.dumps(data))


# No shrinking: each example is a batch of eight, and the assertion names the field and the value.
# Slow: helm renders the real chart and a Go program reads it back, four batches (about 30 s).
@pytest.mark.slow
@hsettings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(special_answers(), min_size=8, max_size=8))
def test_every_text_answer_reaches_the_real_chart_and_go_exactly(batch):
    """Eight answer sets a run, every text field a YAML-special string: the real BinderHub chart
    renders them all in one helm call, and every YAML file we write is read by Go in one more."""
    exported = []
    for raw, tokens in batch:
        raw, settings = _accepted(raw)
        directory = Path(tempfile.mkdtemp(prefix="special-"))
        result = export(raw, directory, token=iter(tokens).__next__)
        assert result.ok, [str(p) for p in result.load.problems]
        files = {p.name: p.read_text() for p in directory.iterdir() if p.suffix == ".yaml"}
        exported.append((settings, files))

    renders = binderhub_renders([(files["config.yaml"], files["secret.yaml"]) for _, files in exported])
    documents = [(index, name, doc) for index, (_, files) in enumerate(exported) for name, text in sorted(files.items())
                 for doc in _documents(text)]
    go = go_read([doc for _, _, doc in documents])

    for (settings, files), render in zip(exported, renders):
        s, secret = settings, loads(files["secret.yaml"])
        # What the hub received, field by field.
        oauth = render.hub["hub"]["config"]["GenericOAuthenticator"]
        assert oauth["client_id"] == s.auth.client_id
        assert oauth["login_service"] == s.auth.login_service
        assert oauth["client_secret"] == s.auth.client_secret
        assert unquote(oauth["authorize_url"].split("/realms/")[1].split("/protocol/")[0]) == s.auth.realm
        assert oauth["allowed_users"] == s.auth.allowed_users and oauth["allowed_groups"] == s.auth.allowed_groups
        assert render.hub["hub"]["config"]["Authenticator"]["admin_users"] == s.auth.admin_users
        assert render.hub["hub"]["db"]["password"] == s.hub.database.password
        assert render.hub["singleuser"]["storage"]["dynamic"]["storageClass"] == s.storage.storage_class
        assert render.hub["singleuser"]["storage"]["capacity"] == s.hub.user_storage.capacity
        assert render.hub["proxy"]["secretToken"] == secret["jupyterhub"]["proxy"]["secretToken"]
        assert render.hub["hub"]["services"]["binder"]["apiToken"] == \
            secret["jupyterhub"]["hub"]["services"]["binder"]["apiToken"]
        password = secret["registry"]["password"]
        assert registry_credentials(render, s.registry.url) == f"{s.registry.username}:{password}"
        # Every value we set for the hub and for BinderHub arrives with its type.
        ours = merge(loads(files["config.yaml"]), secret)
        for path, value in _leaves(ours["jupyterhub"]):
            assert _at(render.hub, path) == value, (path, value)
        for path, value in _leaves(ours["config"]):
            assert _at(render.binder["config"], path) == value, (path, value)
    for (index, name, doc), read in zip(documents, go):
        assert read == _json(loads(doc)), f"Go reads {name} differently"
        if name == "answers.yaml":
            settings = exported[index][0]
            assert read == _json({"profile": settings.profile, **settings.public_answers()}), "Go reads other answers"


NAMESPACES = ["y", "n", "on", "no", "true", "null", "0815", "1e3", "0o17", "0x1f", "123", "2026-11-29", "1-000"]


@pytest.fixture
def named_namespaces(real_kube):
    """Namespaces with the names given; those this test made are deleted after it, without waiting
    (~5 s): a later test that needs one of the names (registry) makes it with
    objects.ensure_namespace, which waits for a deletion in progress."""
    from tests.realkube import objects

    made: list[str] = []

    def make(*names: str) -> None:
        made.extend(name for name in names if objects.ensure_namespace(real_kube.api, name))

    yield make
    for name in made:
        objects.delete_namespace(real_kube.api, name, wait=False)


def test_kubectl_reads_every_manifest_with_the_namespace_as_written(tmp_path, real_kube, real_kube_env,
                                                                     cert_manager_crds, named_namespaces):
    """kubectl (Go) reads every manifest file we apply (one call for all), each install directory
    with a namespace that some YAML resolver would type, and the real API server takes every object
    in a server-side dry run: its schemas (the real cert-manager CRDs' for the ClusterIssuer and the
    registry's Certificate), and each ConfigMap's namespace as written. The namespaces exist for
    real (a dry run cannot make the namespace its objects go into); nothing else is stored."""
    named_namespaces(*NAMESPACES, "registry")
    in_cluster = {"type": "in-cluster", "url": None, "username": None, "password": None, "image_prefix": None}
    files = []
    for namespace in NAMESPACES:
        raw = merge(copy.deepcopy(BASE), {"cluster": {"namespace": namespace}, "registry": in_cluster})
        directory = tmp_path / namespace
        assert export(raw, directory, token=iter(TOKENS).__next__).ok
        files += sorted(directory.glob("*_configmap.yaml"))
    files += [tmp_path / NAMESPACES[0] / "binderhub-issuer.yaml", tmp_path / NAMESPACES[0] / "registry.yaml"]
    run = subprocess.run(["kubectl", "apply", "--dry-run=server", "-o", "json",
                          *[arg for path in files for arg in ("-f", str(path))]],
                         env=real_kube_env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    items = json.loads(run.stdout)["items"]
    read = [item["metadata"]["namespace"] for item in items if item["kind"] == "ConfigMap"]
    assert read == [namespace for namespace in NAMESPACES for _ in range(4)]
    from kubernetes import client

    stored = {cm.metadata.name for cm in client.CoreV1Api(real_kube.api).list_namespaced_config_map(NAMESPACES[0]).items}
    assert stored <= {"kube-root-ca.crt"}, f"a dry run stores nothing: {stored}"


HUB_MISREADS = ["=", "<<", "0b_", "2026-02-30", "2001-12-14 21:59:43.10 -5"]


def test_text_the_hub_would_read_as_another_type_is_refused_naming_the_field():
    """helm writes these unquoted into the hub's values, and the hub's PyYAML reads them as another
    type or fails on them (proved with the real chart below), so the answers refuse them."""
    for text in HUB_MISREADS:
        for path, value in (("auth.client_id", text), ("auth.admin_users", [text]), ("auth.client_secret", text)):
            raw = copy.deepcopy(BASE)
            set_value_at(raw, path, value)
            problems = [str(p) for p in load_answers(raw).problems]
            assert len(problems) == 1 and problems[0].startswith(path) and "YAML" in problems[0], problems
            if path == "auth.client_secret":
                assert problems[0].startswith(f"{path} = (hidden): ")

    base = load_answers(copy.deepcopy(BASE))
    assert base.ok
    from wizard.export import applicable_secrets
    from wizard.render import render_all

    pairs = []
    for text in HUB_MISREADS:
        files = {f.name: f.content for f in render_all(base.settings, applicable_secrets(base.settings, {}), "0")}
        pairs.append((files["config.yaml"].replace("client_id: binderhub", f"client_id: {dumps(text).strip()}"),
                      files["secret.yaml"]))
    for text, render in zip(HUB_MISREADS, binderhub_renders(pairs)):
        received = render.hub and render.hub["hub"]["config"]["GenericOAuthenticator"]["client_id"]
        assert render.hub_error or received != text, f"the hub would read {text!r} back: no need to refuse it"
