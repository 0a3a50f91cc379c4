"""Property tests: any accepted text answer comes back exactly where its consumers read it (the real
chart through helm, Go, bash); any refused one gets a message naming the field and changes nothing
on disk."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from urllib.parse import unquote

from hypothesis import HealthCheck, Phase, given, settings as hsettings, strategies as st

from tests.helm_readback import binderhub_renders, go_read, registry_credentials
from tests.variants import BASE
from wizard.export import export
from wizard.settings import set_value_at, load_answers

TRICKY = ["a: b", "# not a comment", "{{ .Values.secret }}", "!!python/object/apply:os.system ['id']",
          "'single' \"double\"", "line\nbreak", "ünïcødé ☃ 日本", "- item", "&anchor", "*alias", "yes", "null",
          "0x1F", "~", "@at", "`tick`", "a\tb", "trailing ", " leading", "%percent", "key: [1, 2]", "\u2028sep",
          "\x85nel", "$(reboot)", "; rm -rf /", "\\backslash", "=", "?", "|", ">"]
text = st.one_of(st.sampled_from(TRICKY), st.text(min_size=1, max_size=40),
                 st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20))
names = st.lists(text, min_size=1, max_size=3)


def files_of(directory: Path) -> dict:
    """Every file but the lock, whose note says when export last took it."""
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.name != ".install.lock"}


def _export(raw: dict, directory: Path):
    return export(raw, directory, token=lambda: "f" * 64)


def _context_in_script(directory: Path) -> str:
    """The context install.sh passes to every kubectl call, as bash parses the quoting of its
    kubectl wrapper function (a stand-in kubectl on PATH prints the arguments it gets)."""
    lines = [line for line in (directory / "install.sh").read_text().splitlines() if line.startswith("kubectl() {")]
    assert len(lines) == 1, "no kubectl wrapper with --context"
    tools = directory / ".tools"
    tools.mkdir(exist_ok=True)
    (tools / "kubectl").write_text("#!/bin/sh\nprintf '%s\\0' \"$@\"\n")
    (tools / "kubectl").chmod(0o755)
    run = subprocess.run(["bash", "-c", lines[0] + "\nkubectl"], capture_output=True, check=True,
                         env={"PATH": f"{tools}:/usr/bin:/bin"})
    words = run.stdout.split(b"\0")
    return words[words.index(b"--context") + 1].decode()


def _realm(render) -> str:
    url = render.hub["hub"]["config"]["GenericOAuthenticator"]["authorize_url"]
    return unquote(url.split("/realms/", 1)[1].split("/protocol/", 1)[0])


oauth = lambda render: render.hub["hub"]["config"]["GenericOAuthenticator"]  # noqa: E731
# field -> where its value must come back: from the real chart's render (what the hub and the build
# pods receive), from answers.yaml as Go reads it, and from install.sh as bash reads it.
WHERE = {
    "cluster.context": [lambda d, r, a: a["cluster"]["context"], lambda d, r, a: _context_in_script(d)],
    "auth.client_id": [lambda d, r, a: oauth(r)["client_id"], lambda d, r, a: a["auth"]["client_id"]],
    "auth.login_service": [lambda d, r, a: oauth(r)["login_service"]],
    "auth.realm": [lambda d, r, a: _realm(r), lambda d, r, a: a["auth"]["realm"]],
    "auth.client_secret": [lambda d, r, a: oauth(r)["client_secret"]],
    "registry.password": [lambda d, r, a: registry_credentials(r, BASE["registry"]["url"]).split(":", 1)[1]],
    "registry.username": [lambda d, r, a: registry_credentials(r, BASE["registry"]["url"]).rsplit(":", 1)[0]],
    "auth.admin_users": [lambda d, r, a: r.hub["hub"]["config"]["Authenticator"]["admin_users"]],
    "auth.allowed_users": [lambda d, r, a: oauth(r)["allowed_users"]],
    "auth.allowed_groups": [lambda d, r, a: oauth(r)["allowed_groups"]],
}
LISTS = {"auth.admin_users", "auth.allowed_users", "auth.allowed_groups"}


def _with(path: str, value) -> dict:
    raw = copy.deepcopy(BASE)
    section, key = path.split(".")
    raw.setdefault(section, {})[key] = value
    return raw


case = st.sampled_from(sorted(WHERE)).flatmap(
    lambda path: st.tuples(st.just(path), names if path in LISTS else text))
SETTINGS = hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# No shrinking: an example is a batch, and the assertion names the field and the value.
@hsettings(max_examples=5, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases=st.lists(case, min_size=8, max_size=8))
def test_text_answers_round_trip_or_are_refused_cleanly(cases, tmp_path_factory):
    """Accepted text comes back exactly where the cluster reads it: through the real chart (one
    helm call for the batch), Go's reading of answers.yaml and bash's of install.sh. Refused text
    leaves the directory as it was, with a message naming the field."""
    accepted = []
    for path, value in cases:
        raw = _with(path, value)
        loaded = load_answers(raw)
        directory = tmp_path_factory.mktemp("roundtrip")
        _export(copy.deepcopy(BASE), directory)
        before = files_of(directory)
        result = _export(raw, directory)
        if loaded.ok:
            assert result.ok
            if isinstance(value, str):
                assert loaded.settings.get(path) == value, "text answers are kept exactly"
            accepted.append((path, loaded.settings.get(path), directory))
        else:
            assert not result.ok
            assert files_of(directory) == before, "a refused answer must leave the directory untouched"
            messages = [str(p) for p in loaded.problems]
            assert any(m.startswith(path) for m in messages), messages
    if not accepted:
        return
    renders = binderhub_renders([((d / "config.yaml").read_text(), (d / "secret.yaml").read_text())
                                 for _, _, d in accepted])
    answers = go_read([(d / "answers.yaml").read_text() for _, _, d in accepted])
    for (path, expected, directory), render, go_answers in zip(accepted, renders, answers):
        assert render.hub is not None, render.hub_error
        for where in WHERE[path]:
            assert where(directory, render, go_answers) == expected, (path, expected)


@SETTINGS
@given(value=st.one_of(text, st.integers(), st.floats(), st.booleans(), st.none(),
                       st.lists(st.integers(), max_size=2), st.dictionaries(text, text, max_size=2)))
def test_any_value_for_any_field_never_crashes(value):
    """Every field, however deep its path, given any value: the answers load without an exception;
    a value the field refuses is named in a problem; a secret is never echoed."""
    from wizard.settings import FIELDS, check_field
    from wizard.validate import Invalid

    checked = 0
    for spec in FIELDS:
        raw = copy.deepcopy(BASE)
        set_value_at(raw, spec.path, value)
        result = load_answers(raw)
        messages = [str(problem) for problem in result.problems + result.warnings]
        try:
            check_field(spec.path, value, raw)
            refused = False
        except Invalid:
            refused = value is not None  # None asks for the default where there is one
        if refused:
            assert any(m.startswith(spec.path) for m in messages), (spec.path, value, messages)
        if spec.secret and isinstance(value, str) and len(value) > 3:
            assert not any(value in m or repr(value)[1:-1] in m for m in messages), spec.path
        checked += 1
    assert checked == len(FIELDS)
