"""Property tests: any accepted text answer comes back exactly from the rendered files; any refused
one gets a message naming the field and changes nothing on disk."""

from __future__ import annotations

import copy
import shlex
import tempfile
from pathlib import Path
from urllib.parse import unquote

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from tests.variants import BASE
from wizard.export import export
from wizard.settings import load_answers
from wizard.yamlio import loads

TRICKY = ["a: b", "# not a comment", "{{ .Values.secret }}", "!!python/object/apply:os.system ['id']",
          "'single' \"double\"", "line\nbreak", "ünïcødé ☃ 日本", "- item", "&anchor", "*alias", "yes", "null",
          "0x1F", "~", "@at", "`tick`", "a\tb", "trailing ", " leading", "%percent", "key: [1, 2]", "\u2028sep",
          "\x85nel", "$(reboot)", "; rm -rf /", "\\backslash", "=", "?", "|", ">"]
text = st.one_of(st.sampled_from(TRICKY), st.text(min_size=1, max_size=40),
                 st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20))
names = st.lists(text, min_size=1, max_size=3)


def files_of(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def _export(raw: dict, directory: Path):
    return export(raw, directory, token=lambda: "f" * 64)


def _config(d: Path) -> dict:
    return loads((d / "config.yaml").read_text())


def _secret(d: Path) -> dict:
    return loads((d / "secret.yaml").read_text())


def _answers(d: Path) -> dict:
    return loads((d / "answers.yaml").read_text())


def _context_in_script(d: Path) -> str:
    """The context install.sh passes to every kubectl call (its kubectl wrapper function)."""
    for line in (d / "install.sh").read_text().splitlines():
        words = shlex.split(line) if line.startswith("kubectl() {") else []
        if words:
            return words[words.index("--context") + 1]
    raise AssertionError("no kubectl wrapper with --context")


def _realm_in_url(d: Path) -> str:
    url = _config(d)["jupyterhub"]["hub"]["config"]["GenericOAuthenticator"]["authorize_url"]
    return unquote(url.split("/realms/", 1)[1].split("/protocol/", 1)[0])


oauth = lambda d: _config(d)["jupyterhub"]["hub"]["config"]["GenericOAuthenticator"]  # noqa: E731
# field -> where its value must come back, as functions of the install directory
WHERE = {
    "cluster.context": [lambda d: _answers(d)["cluster"]["context"], _context_in_script],
    "auth.client_id": [lambda d: oauth(d)["client_id"], lambda d: _answers(d)["auth"]["client_id"]],
    "auth.login_service": [lambda d: oauth(d)["login_service"]],
    "auth.realm": [_realm_in_url, lambda d: _answers(d)["auth"]["realm"]],
    "auth.client_secret": [lambda d: _secret(d)["jupyterhub"]["hub"]["config"]["GenericOAuthenticator"]["client_secret"]],
    "registry.password": [lambda d: _secret(d)["registry"]["password"]],
    "registry.username": [lambda d: _config(d)["registry"]["username"]],
}
LISTS = {
    "auth.admin_users": lambda d: _config(d)["jupyterhub"]["hub"]["config"]["Authenticator"]["admin_users"],
    "auth.allowed_users": lambda d: oauth(d)["allowed_users"],
    "auth.allowed_groups": lambda d: oauth(d)["allowed_groups"],
}


def _with(path: str, value) -> dict:
    raw = copy.deepcopy(BASE)
    section, key = path.split(".")
    raw.setdefault(section, {})[key] = value
    return raw


def _check(path: str, value, expect) -> None:
    raw = _with(path, value)
    accepted = load_answers(raw)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        _export(copy.deepcopy(BASE), directory)
        before = files_of(directory)
        result = _export(raw, directory)
        if accepted.ok:
            assert result.ok
            for where in expect:
                assert where(directory) == accepted.settings.get(path)
            normalised = accepted.settings.get(path)
            if isinstance(value, str):
                assert normalised == value, "text answers are kept exactly"
        else:
            assert not result.ok
            assert files_of(directory) == before, "a refused answer must leave the directory untouched"
            messages = [str(p) for p in accepted.problems]
            assert any(m.startswith(path) for m in messages), messages


SETTINGS = hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(path=st.sampled_from(sorted(WHERE)), value=text)
def test_text_answers_round_trip_or_are_refused_cleanly(path, value):
    _check(path, value, WHERE[path])


@SETTINGS
@given(path=st.sampled_from(sorted(LISTS)), value=names)
def test_name_lists_round_trip_or_are_refused_cleanly(path, value):
    _check(path, value, [LISTS[path]])


@SETTINGS
@given(value=st.one_of(text, st.integers(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
def test_any_value_for_any_field_never_crashes(value):
    from wizard.settings import FIELDS

    for spec in FIELDS:
        result = load_answers(_with(spec.path, value) if spec.path.count(".") == 1 else copy.deepcopy(BASE))
        for problem in result.problems:
            if spec.secret and isinstance(value, str) and len(value) > 3:
                assert value not in str(problem)
