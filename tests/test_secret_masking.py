"""Secrets never printed or kept, whatever their characters (`@ : / % '`, spaces, line breaks): in
the problems of refused answers, on stdout and stderr, in install.log, in state.json. These replace
`test_url_refusal_does_not_echo_credentials` and the `hunter2` check, which called validators that
never echo their input: here every message path that does show a value is exercised."""

from __future__ import annotations

import copy
import json
import os
import stat
from urllib.parse import quote

import pytest
import yaml

from tests.variants import BASE
from tests.wizard_process import example_answers, run_wizard
from wizard.cli import main
from wizard.settings import load_answers


def _fragments(secret: str, size: int = 6) -> set[str]:
    """Every piece of the secret a leak could show, in the forms messages escape it to."""
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""), secret.replace("'", "''")}
    return {form[i:i + size] for form in forms for i in range(len(form) - size + 1)
            if any(ch.isalnum() for ch in form[i:i + size])}


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        leaked = sorted(piece for piece in _fragments(secret) if piece in text)
        assert not leaked, f"pieces of a secret in the output: {leaked}\n{text[-2000:]}"


URL_PASSWORDS = {
    "hub.database.url": ("postgresql://hub:{}@db.example.org:5432/hub", "Pg@Qx7 wZ%rQ/9:zX"),
    "registry.url": ("https://robot:{}@registry.example.org", "Rg@Kv3:/%2F wQzX"),
    "auth.keycloak_url": ("https://admin:{}@sso.example.org", "Kc@Wm5 xQ%yZ/zX"),
    "tls.acme_server": ("https://acme:{}@acme.example.org/directory", "Ac@Jp8 qZ%rQ/sX"),
    "charts.binderhub": ("https://user:{}@charts.example.org/repo", "Ch@Rt6 sQ%cZ/tX"),
}


def set_value_at(raw: dict, path: str, value) -> None:
    section, key = path.split(".")
    raw.setdefault(section, {})[key] = value


@pytest.mark.parametrize("path", sorted(URL_PASSWORDS))
@pytest.mark.parametrize("newline", [False, True], ids=["one-line", "with-newline"])
def test_a_refused_url_never_shows_its_password(path, newline, tmp_path, capsys):
    """The problem message (what the TUI shows beside the field) and export's stderr."""
    template, password = URL_PASSWORDS[path]
    password = password.replace(" ", "\n") if newline else password
    raw = copy.deepcopy(BASE)
    if path == "hub.database.url":
        raw["hub"] = {"database": {"type": "postgres", "password": "db-pass"}}
        raw["hub"]["database"]["url"] = template.format(password)
    else:
        set_value_at(raw, path, template.format(password))
    loaded = load_answers(raw)
    problems = [str(p) for p in loaded.problems]
    assert any(p.startswith(path) for p in problems), problems
    assert_hidden("\n".join(problems), password)
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(raw))
    assert main(["export", "--answers", str(answers), "--dir", str(tmp_path / "out")]) == 2
    printed = capsys.readouterr()
    assert path in printed.err
    assert_hidden(printed.out + printed.err, password)


SECRETS = {"auth.client_secret": "%Cq@iX's:/ Zx9Q", "registry.password": "Rq@gX:p/Z%sQ wQx7",
           "hub.database.password": "'Dq@bX:/%p Zs8Q"}


def _with_secrets(raw: dict) -> dict:
    raw = copy.deepcopy(raw)
    raw["auth"]["client_secret"] = SECRETS["auth.client_secret"]
    raw["registry"]["password"] = SECRETS["registry.password"]
    raw["hub"] = {"database": {"type": "postgres", "url": "postgresql://hub@db.example.org:5432/hub",
                               "password": SECRETS["hub.database.password"]}}
    return raw


def test_export_with_such_secrets_prints_none_and_keeps_them_private(tmp_path, capsys):
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(_with_secrets(BASE)))
    out = tmp_path / "out"
    assert main(["export", "--answers", str(answers), "--dir", str(out)]) == 0
    printed = capsys.readouterr()
    assert_hidden(printed.out + printed.err, *SECRETS.values())
    secret = yaml.safe_load((out / "secret.yaml").read_text())
    assert secret["registry"]["password"] == SECRETS["registry.password"]
    assert stat.S_IMODE((out / "secret.yaml").stat().st_mode) == 0o600
    for name in os.listdir(out):
        if name != "secret.yaml":
            assert_hidden((out / name).read_text(errors="replace"), *SECRETS.values())


def test_a_stored_secret_with_a_line_break_is_refused_without_showing_it(tmp_path, capsys):
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(BASE))
    out = tmp_path / "out"
    assert main(["export", "--answers", str(answers), "--dir", str(out)]) == 0
    secret = yaml.safe_load((out / "secret.yaml").read_text())
    stored = "Mq@ltX:/%\nLiZQ sEcXet"
    secret["jupyterhub"]["hub"]["config"]["GenericOAuthenticator"]["client_secret"] = stored
    (out / "secret.yaml").write_text(yaml.safe_dump(secret))
    raw = copy.deepcopy(BASE)
    del raw["auth"]["client_secret"]
    answers.write_text(yaml.safe_dump(raw))
    capsys.readouterr()
    assert main(["export", "--answers", str(answers), "--dir", str(out)]) == 2
    printed = capsys.readouterr()
    assert "auth.client_secret" in printed.err
    assert_hidden(printed.out + printed.err, stored)


FAKE_HELM = """#!/bin/sh
# helm, except that an upgrade given secret.yaml fails and prints every values file it was given
# (as a helm error quoting the values would).
for arg in "$@"; do
  case "$arg" in *secret.yaml)
    for file in "$@"; do [ -f "$file" ] && cat "$file" >&2; done
    echo "Error: UPGRADE FAILED: values don't meet the specifications" >&2
    exit 1 ;;
  esac
done
exec "{real}" "$@"
"""


def test_a_failing_command_that_prints_the_secrets_is_masked_everywhere(tmp_path, real_kube_env, real_namespace):
    """stdout, stderr, install.log and state.json, after helm printed secret.yaml in its error.
    The binderhub stage alone, against the real control plane: before helm it reads the release's
    records (real Secrets list, none yet); helm itself is the wrapper above, so nothing is installed."""
    import shutil

    tools = tmp_path / "tools"
    tools.mkdir()
    helm = tools / "helm"
    helm.write_text(FAKE_HELM.replace("{real}", shutil.which("helm", path=real_kube_env["PATH"])))
    helm.chmod(0o755)
    env = {**real_kube_env, "PATH": f"{tools}{os.pathsep}{real_kube_env['PATH']}"}
    answers = example_answers(tmp_path, {
        "cluster": {"namespace": real_namespace("binder")},
        "auth": {"client_secret": SECRETS["auth.client_secret"]},
        "hub": {"database": {"type": "postgres", "url": "postgresql://hub@db.example.org:5432/hub",
                             "password": SECRETS["hub.database.password"]}}})
    directory = tmp_path / "setup"
    run = run_wizard(env, directory, "install", "--answers", str(answers), "--yes", "--only", "binderhub", "-v",
                     "--timeout", "10")
    assert run.returncode == 1 and "[binderhub] failed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
    assert "UPGRADE FAILED" in run.stdout
    kept = {name: (directory / name).read_text() for name in ("install.log", "state.json")}
    assert "UPGRADE FAILED" in kept["install.log"] and "secretToken" in kept["install.log"]
    generated = yaml.safe_load((directory / "secret.yaml").read_text())["jupyterhub"]["proxy"]["secretToken"]
    for text in (run.stdout, run.stderr, *kept.values()):
        assert_hidden(text, SECRETS["auth.client_secret"], SECRETS["hub.database.password"], generated)
        assert "example-registry-password" not in text


def test_the_masking_path_masks_every_form():
    from wizard.redact import Redactor, hide_url_credentials

    secret = "Sé@c:r/e%t it's\nnext"
    mask = Redactor([secret])
    for form in (secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""),
                 secret.replace("'", "''"), "Sé@c:r/e%t it's"):
        assert "****" in mask(f"before {form} after") and "r/e%t" not in mask(f"before {form} after")
    assert hide_url_credentials("x postgresql://u:p@ss w%rd\n2@db/x y") == "x postgresql://u:****@db/x y"
    assert hide_url_credentials("https://sso.example.org/realms/a@b") == "https://sso.example.org/realms/a@b"
