"""`wizard export`: writes every file, secrets 0600 and kept, nothing on bad input, only changes."""

from __future__ import annotations

import copy
import os
import stat
import subprocess
import sys

import pytest
import yaml

from tests.conftest import EXAMPLE_ANSWERS, REPO
from tests.variants import BASE
from wizard.cli import main

EXPECTED = {"answers.yaml", "secret.yaml", "config.yaml", "binderhub-issuer.yaml", "cert-manager-values.yaml",
            "localpv-provisioner-values.yaml", "ingress-nginx-values.yaml", "persistent_config_configmap.yaml",
            "scheduler_configmap.yaml", "supervisord_configmap.yaml", "jupyter_config_configmap.yaml",
            "install.sh", "bootstrap-node.sh", "README.md", "state.json"}


def snapshot(directory) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != ".install.lock"}


def write_answers(path, raw) -> str:
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_export_writes_every_file_with_secrets_private(tmp_path, capsys):
    out = tmp_path / "setup"
    assert main(["export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)]) == 0
    assert set(os.listdir(out)) == EXPECTED | {".install.lock"}
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "secret.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "install.sh").stat().st_mode) == 0o755
    secret = yaml.safe_load((out / "secret.yaml").read_text())
    for token in (secret["jupyterhub"]["proxy"]["secretToken"],
                  secret["jupyterhub"]["hub"]["services"]["binder"]["apiToken"]):
        assert len(token) == 64 and int(token, 16) >= 0
    answers = (out / "answers.yaml").read_text()
    assert "example-client-secret" not in answers and "example-registry-password" not in answers
    printed = capsys.readouterr()
    assert "example-client-secret" not in printed.out + printed.err
    assert "holds secrets" in printed.err


def test_reexport_is_byte_identical_and_keeps_secrets(tmp_path, capsys):
    out = tmp_path / "setup"
    main(["export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)])
    first = snapshot(out)
    capsys.readouterr()
    # Again from the directory's own answers, which no longer hold the secrets.
    assert main(["export", "--dir", str(out)]) == 0
    assert snapshot(out) == first
    out = capsys.readouterr().out
    assert "unchanged: 14" in out
    assert out.strip().splitlines()[-1].startswith("Next: `wizard install --dir"), "export ends with the next thing to do"


def test_a_changed_answer_rewrites_only_the_files_it_feeds(tmp_path, capsys):
    out = tmp_path / "setup"
    main(["export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)])
    before = snapshot(out)
    answers = yaml.safe_load((out / "answers.yaml").read_text())
    answers["hub"]["named_server_limit"] = 9
    (out / "answers.yaml").write_text(yaml.safe_dump(answers))
    capsys.readouterr()
    assert main(["export", "--dir", str(out)]) == 0
    after = snapshot(out)
    changed = {name for name in after if after[name] != before[name]}
    # The directory's README says why culling matters with this limit, so it names the limit too.
    assert changed == {"answers.yaml", "config.yaml", "README.md"}
    assert "config.yaml" in capsys.readouterr().out
    assert after["secret.yaml"] == before["secret.yaml"]


def test_bad_answers_exit_2_list_every_problem_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "setup"
    main(["export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)])
    before = snapshot(out)
    raw = copy.deepcopy(BASE)
    raw["network"]["public_ip"] = "0.0.0.0"
    raw["auth"]["client_secret"] = "new\nsecret-SHOULD-NOT-SHOW"
    raw["hub"] = {"user_storage": {"capacity": "lots"}}
    capsys.readouterr()
    assert main(["export", "--answers", write_answers(tmp_path / "bad.yaml", raw), "--dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "3 problems" in err and "nothing written" in err
    for path in ("network.public_ip", "auth.client_secret", "hub.user_storage.capacity"):
        assert path in err
    assert "SHOULD-NOT-SHOW" not in err
    assert snapshot(out) == before


def test_a_refused_field_and_a_rule_across_fields_are_reported_together(tmp_path, capsys):
    """Every problem at once: before, the rules across fields ran only once every field was valid,
    so the hosts being equal showed up only after the IP was fixed (a second run)."""
    raw = copy.deepcopy(BASE)
    raw["network"].update(public_ip="0.0.0.0", binder_host="same.example.org", hub_host="same.example.org")
    raw["hub"] = {"resources": {"memory_limit": "1G", "memory_guarantee": "2G"}}
    assert main(["export", "--answers", write_answers(tmp_path / "bad.yaml", raw), "--dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "3 problems" in err
    assert "network.public_ip = '0.0.0.0': is a unspecified address" in err
    assert "network.hub_host = 'same.example.org': is the same as network.binder_host" in err
    assert "hub.resources.memory_guarantee = '2G': is more than memory_limit" in err


def test_bad_answers_into_a_new_directory_create_nothing(tmp_path):
    out = tmp_path / "never"
    assert main(["export", "--answers", write_answers(tmp_path / "a.yaml", {"network": 5}), "--dir", str(out)]) == 2
    assert not out.exists()


def test_unreadable_answers_exit_2_without_quoting_the_line(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text("auth:\n  client_secret: [unclosed-SECRET\n")
    assert main(["export", "--answers", str(bad), "--dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML" in err and "SECRET" not in err
    assert main(["export", "--answers", str(tmp_path / "missing.yaml"), "--dir", str(tmp_path / "out")]) == 2


def test_a_corrupt_secret_file_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "setup"
    out.mkdir()
    (out / "secret.yaml").write_text("jupyterhub: {proxy: [secretToken-KEEP-ME\n")
    assert main(["export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)]) == 2
    assert "KEEP-ME" in (out / "secret.yaml").read_text()
    assert "KEEP-ME" not in capsys.readouterr().err
    assert [name for name in os.listdir(out) if not name.startswith(".")] == ["secret.yaml"]


def test_no_answers_and_no_terminal_says_what_to_pass(tmp_path):
    run = subprocess.run([sys.executable, "-m", "wizard", "export", "--dir", str(tmp_path / "x")],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 2
    assert "--answers" in run.stderr
    assert not (tmp_path / "x").exists()


def test_secrets_given_later_replace_stored_ones_and_generated_ones_stay(tmp_path):
    out = tmp_path / "setup"
    main(["export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)])
    first = yaml.safe_load((out / "secret.yaml").read_text())
    raw = yaml.safe_load(EXAMPLE_ANSWERS.read_text())
    raw["auth"]["client_secret"] = "rotated-by-the-user"
    main(["export", "--answers", write_answers(tmp_path / "a.yaml", raw), "--dir", str(out)])
    second = yaml.safe_load((out / "secret.yaml").read_text())
    assert second["jupyterhub"]["hub"]["config"]["GenericOAuthenticator"]["client_secret"] == "rotated-by-the-user"
    assert second["jupyterhub"]["proxy"] == first["jupyterhub"]["proxy"]
    assert second["jupyterhub"]["hub"]["services"] == first["jupyterhub"]["hub"]["services"]


QUICK_IMPORT_CHECK = """
import sys, io, contextlib
from wizard.cli import main
args = sys.argv[1:]
try:
    with contextlib.redirect_stdout(io.StringIO()):
        main(args)
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'textual', 'questionary', 'sh'))
print(','.join(heavy))
"""


@pytest.mark.parametrize("args", [["--help"], ["export", "--help"], ["export", "--answers", str(EXAMPLE_ANSWERS)]])
def test_quick_paths_import_neither_kubernetes_nor_textual(args, tmp_path):
    if args[0] == "export" and "--answers" in args:
        args = args + ["--dir", str(tmp_path / "out")]
    run = subprocess.run([sys.executable, "-c", QUICK_IMPORT_CHECK, *args], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "", f"imported: {run.stdout}"
