"""Generated secrets are made once. A secret.yaml that lost some of them (cut short, edited) is
refused with the list, unless --regenerate-secrets, which says what each new value breaks."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from tests.conftest import EXAMPLE_ANSWERS
from tests.variants import BASE, variant
from wizard.cli import main


def _tokens(directory) -> dict:
    secret = yaml.safe_load((directory / "secret.yaml").read_text())
    return {"proxy": secret["jupyterhub"]["proxy"]["secretToken"],
            "api": secret["jupyterhub"]["hub"]["services"]["binder"]["apiToken"],
            "registry": (secret.get("registry") or {}).get("password")}


def _without_binder_token(directory) -> None:
    """secret.yaml as a bad merge or a partial restore leaves it: still valid YAML, one key gone."""
    secret = yaml.safe_load((directory / "secret.yaml").read_text())
    del secret["jupyterhub"]["hub"]["services"]
    (directory / "secret.yaml").write_text(yaml.safe_dump(secret))


@pytest.fixture
def setup(tmp_path, capsys):
    out = tmp_path / "setup"
    assert main(["export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)]) == 0
    capsys.readouterr()
    return out


def test_the_state_records_which_secrets_were_generated(setup):
    state = json.loads((setup / "state.json").read_text())
    assert state["generated_secrets"] == ["generated.binder_api_token", "generated.launch_check_token",
                                          "generated.proxy_secret_token"]
    assert "example-client-secret" not in (setup / "state.json").read_text()


def test_a_secret_file_that_lost_a_generated_token_is_refused_with_the_list(setup, capsys):
    _without_binder_token(setup)
    before = (setup / "secret.yaml").read_bytes()
    assert main(["export", "--dir", str(setup)]) == 2
    err = capsys.readouterr().err
    assert "generated.binder_api_token" in err and "generated.proxy_secret_token" not in err.split("(")[0], err
    assert "--regenerate-secrets" in err
    assert (setup / "secret.yaml").read_bytes() == before, "nothing rotated, nothing written"
    for command in (["status"], ["install", "--yes", "--dry-run"]):
        assert main([*command, "--dir", str(setup)]) == 2
        assert "generated.binder_api_token" in capsys.readouterr().err


def test_regenerate_secrets_makes_new_ones_and_says_what_that_breaks(setup, capsys):
    kept = _tokens(setup)
    (setup / "secret.yaml").write_text("registry:\n  password: example-registry-password\njupyterhub:\n  hub:\n"
                                       "    config:\n      GenericOAuthenticator:\n        client_secret: x-secret\n")
    assert main(["export", "--dir", str(setup), "--regenerate-secrets"]) == 0
    err = capsys.readouterr().err
    assert "regenerated generated.proxy_secret_token:" in err and "regenerated generated.binder_api_token:" in err
    assert "restart" in err
    new = _tokens(setup)
    assert new["proxy"] != kept["proxy"] and new["api"] != kept["api"] and len(new["proxy"]) == 64
    assert main(["export", "--dir", str(setup)]) == 0, "and from then on they are kept"
    assert _tokens(setup) == new


def _export_then_lose_the_registry_password(tmp_path, raw: dict, capsys) -> str:
    """Export `raw`, take the registry password out of secret.yaml, export again: its stderr."""
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(raw))
    out = tmp_path / "setup"
    assert main(["export", "--answers", str(answers), "--dir", str(out)]) == 0
    secret = yaml.safe_load((out / "secret.yaml").read_text())
    del secret["registry"]
    (out / "secret.yaml").write_text(yaml.safe_dump(secret))
    capsys.readouterr()
    assert main(["export", "--dir", str(out)]) == 2
    return capsys.readouterr().err


def test_the_in_cluster_registry_password_is_guarded_too(tmp_path, capsys):
    err = _export_then_lose_the_registry_password(tmp_path, variant("in-cluster-registry"), capsys)
    assert "registry.password" in err and "--regenerate-secrets" in err


def test_secrets_the_user_gives_are_not_generated_ones(tmp_path, capsys):
    """An external registry's password is the user's: losing it is a missing answer, not a rotation."""
    err = _export_then_lose_the_registry_password(tmp_path, copy.deepcopy(BASE), capsys)
    assert "registry.password" in err and "is required" in err and "--regenerate-secrets" not in err
