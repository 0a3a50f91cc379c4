"""Backups before a change to the hub (wizard/backup.py): the hub database copied with sqlite3's
online backup API inside the hub pod, secret.yaml, the answers and the ledger, into
DIR/backups/TIMESTAMP/ (0700, files 0600); and restoring the database byte for byte.

The hub pod is a STAND-IN here: `standin_kubectl` writes a `kubectl` first on PATH that runs the
command of `kubectl exec ... -- CMD` on this machine, with the pod's /srv/jupyterhub mapped to a
local folder, and passes every other command to the real kubectl (here: answers `get pods` with a
fixed pod name when no real kubectl is wanted). So the scripts the wizard sends into the pod run for
real (python3, sqlite3's backup API, base64 on stdout and stdin, the sha256 check) through the real
runner; what it cannot show is a real container's python, file system and kubectl's exec stream.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

from tests.variants import BASE
from wizard import backup
from wizard.context import Context
from wizard.runner import Runner
from wizard.settings import load_answers

STANDIN = '''#!{python}
"""A stand-in hub pod for `kubectl exec`: the command after `--` runs here, /srv/jupyterhub mapped."""
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["STANDIN_RECORD"], "a") as out:
    out.write(json.dumps([a if len(a) < 80 else a[:20] + "..." for a in args]) + "\\n")
if "exec" in args and "--" in args:
    command = [a.replace("/srv/jupyterhub", os.environ["STANDIN_HUB_ROOT"]) for a in args[args.index("--") + 1:]]
    command[0] = {{"python3": sys.executable}}.get(command[0], command[0])
    sys.exit(subprocess.run(command).returncode)
real = os.environ.get("STANDIN_REAL_KUBECTL")
if real:
    os.execv(real, [real, *args])
if args[:2] == ["get", "pods"]:
    print("hub-standin-0")
sys.exit(0)
'''


def standin_kubectl(folder: Path, hub_root: Path, env: dict, real_kubectl: str | None = None) -> dict:
    """An env whose `kubectl` is the stand-in above (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    hub_root.mkdir(parents=True, exist_ok=True)
    script = folder / "kubectl"
    script.write_text(STANDIN.format(python=sys.executable))
    script.chmod(0o755)
    env = dict(env, PATH=f"{folder}{os.pathsep}{env.get('PATH', os.environ['PATH'])}",
               STANDIN_HUB_ROOT=str(hub_root), STANDIN_RECORD=str(folder / "calls.jsonl"))
    if real_kubectl:
        env["STANDIN_REAL_KUBECTL"] = real_kubectl
    return env


def make_hub_db(path: Path, users: list[str]) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("create table if not exists users (name text)")
    db.executemany("insert into users values (?)", [(u,) for u in users])
    db.commit()
    db.close()
    return path.read_bytes()


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    directory = tmp_path / "setup"
    directory.mkdir(mode=0o700)
    (directory / "secret.yaml").write_text("jupyterhub:\n  proxy:\n    secretToken: distinctive-secret-0123\n")
    (directory / "secret.yaml").chmod(0o600)
    (directory / "answers.yaml").write_text("cluster: {namespace: binder}\n")
    (directory / "ledger.jsonl").write_text('{"stage": "binderhub"}\n')
    env = standin_kubectl(tmp_path / "bin", tmp_path / "hub-root", dict(os.environ))
    monkeypatch.setenv("PATH", env["PATH"])  # the runner finds its commands on the process's PATH
    settings = load_answers(copy.deepcopy(BASE)).settings
    return Context(settings, directory, Runner(directory / "install.log", env=env))


def test_backup_copies_the_database_and_files_private(ctx, tmp_path):
    """The database arrives whole (the same rows; sqlite3's backup API, run in the stand-in pod),
    every file is 0600 in a 0700 folder, backup.json records its sha256, nothing of the database
    or the secret reaches install.log, and `list_backups` (what `wizard status` prints) finds it."""
    make_hub_db(tmp_path / "hub-root" / "jupyterhub.sqlite", ["alice", "bob"])
    made = backup.make_backup(ctx, "test")
    folder = made.path
    assert folder.parent == ctx.directory / "backups"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    assert sorted(made.files) == ["answers.yaml", "jupyterhub.sqlite", "ledger.jsonl", "secret.yaml"]
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    copied = sqlite3.connect(folder / "jupyterhub.sqlite")
    assert [r[0] for r in copied.execute("select name from users")] == ["alice", "bob"]
    manifest = json.loads((folder / "backup.json").read_text())
    assert manifest["complete"] and manifest["database"]["type"] == "sqlite"
    log = (ctx.directory / "install.log").read_text()
    assert "SQLite format" not in log and "distinctive-secret-0123" not in log
    assert "backup.py" not in log and "jupyterhub.sqlite" in log
    assert [b.name for b in backup.list_backups(ctx.directory)] == [made.name]
    assert "database jupyterhub.sqlite" in backup.list_backups(ctx.directory)[0].line()


def test_restore_puts_the_database_back_byte_for_byte(ctx, tmp_path):
    """After the database changed, restoring the backup makes the pod's file identical to the
    backed-up copy, and the hub pod is restarted (`kubectl delete pod`, recorded by the stand-in)."""
    live = tmp_path / "hub-root" / "jupyterhub.sqlite"
    make_hub_db(live, ["alice"])
    made = backup.make_backup(ctx, "test")
    kept = (made.path / "jupyterhub.sqlite").read_bytes()
    make_hub_db(live, ["mallory"] * 500)  # a later change (a migration, new users)
    assert live.read_bytes() != kept
    said = backup.restore_database(ctx, made)
    assert live.read_bytes() == kept
    assert "restored into pod hub-standin-0" in said
    calls = [json.loads(line) for line in (tmp_path / "bin" / "calls.jsonl").read_text().splitlines()]
    assert ["delete", "pod", "-n", "binder", "hub-standin-0", "--wait=false"] in calls


def test_a_damaged_backup_is_refused(ctx, tmp_path):
    make_hub_db(tmp_path / "hub-root" / "jupyterhub.sqlite", ["alice"])
    made = backup.make_backup(ctx, "test")
    (made.path / "jupyterhub.sqlite").write_bytes(b"not the database")
    with pytest.raises(backup.BackupError, match="checksum"):
        backup.restore_database(ctx, made)


def test_a_copy_that_fails_leaves_no_backup(ctx, tmp_path):
    """The copy in the pod fails (here: the database path is a folder, so sqlite3 cannot open it):
    BackupError names --no-database-backup, and no half backup is left for `rollback` to pick."""
    (tmp_path / "hub-root" / "jupyterhub.sqlite").mkdir(parents=True)
    with pytest.raises(backup.BackupError, match="--no-database-backup"):
        backup.make_backup(ctx, "test")
    assert backup.list_backups(ctx.directory) == []
    with pytest.raises(backup.BackupError, match="no backup"):
        backup.find_backup(ctx.directory, None)


def test_without_a_hub_pod_the_files_are_kept_and_said(ctx, tmp_path):
    ctx.runner.env["STANDIN_REAL_KUBECTL"] = "/bin/true"  # `get pods` answers nothing
    made = backup.make_backup(ctx, "test")
    assert "jupyterhub.sqlite" not in made.files and "secret.yaml" in made.files
    assert "no running hub pod" in made.line()
    with pytest.raises(backup.BackupError, match="--to nope: no such backup"):
        backup.find_backup(ctx.directory, "nope")


def test_the_files_before_a_change_are_the_ones_the_hub_last_ran(ctx):
    """remember_applied keeps secret.yaml and the answers (0600 in a 0700 folder, not the ledger);
    files_before takes them over DIR's newer ones, the ledger as it is now; without a record it
    falls back to DIR; forget_applied_secrets drops the kept secret.yaml (--forget-secrets)."""
    directory = ctx.directory
    assert backup.files_before(directory) == backup.read_files(directory)  # nothing recorded yet
    backup.remember_applied(directory)
    applied = directory / "applied"
    assert sorted(p.name for p in applied.iterdir()) == ["answers.yaml", "secret.yaml"]
    assert stat.S_IMODE(applied.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in applied.iterdir())
    (directory / "answers.yaml").write_text("cluster: {namespace: other}\n")
    (directory / "secret.yaml").write_text("jupyterhub: {}\n")
    (directory / "ledger.jsonl").write_text('{"stage": "binderhub"}\n{"stage": "launch"}\n')
    before = backup.files_before(directory)
    assert before["answers.yaml"] == b"cluster: {namespace: binder}\n"
    assert b"distinctive-secret-0123" in before["secret.yaml"]
    assert before["ledger.jsonl"].count(b"\n") == 2
    backup.forget_applied_secrets(directory)
    assert not (applied / "secret.yaml").exists() and (applied / "answers.yaml").exists()
    assert backup.files_before(directory)["secret.yaml"] == b"jupyterhub: {}\n"


def test_a_rollback_pins_the_chart_versions_the_backup_recorded(tmp_path):
    """backup.json `charts` (from `helm list` when the backup was made; read from a real release in
    test_upgrade_realkube.py): a version other than this wizard's pin is written into the restored
    answers' `versions:`, unless the answers pin one already or name a local chart for it; the
    rest of the answers stays as it was."""
    import yaml

    from wizard.charts import CHARTS

    directory = tmp_path / "setup"
    directory.mkdir()
    answers = {"cluster": {"namespace": "binder"}, "versions": {"binderhub": "1.0.0-0.dev.git.1.habc"},
               "charts": {"ingress-nginx": str(tmp_path / "ingress-nginx-4.14.1.tgz")}}
    (directory / "answers.yaml").write_text(yaml.safe_dump(answers))
    recorded = {"traefik": "37.4.0", "cert-manager": CHARTS["cert-manager"].version,
                "binderhub": "1.0.0-0.dev.git.2.hdef", "ingress-nginx": "4.14.1"}
    made = backup.Backup("b", tmp_path, {"charts": recorded})
    pinned = backup.pin_recorded_charts(made, directory)
    assert pinned == [f"traefik 37.4.0 (this wizard pins {CHARTS['traefik'].version})"]
    after = yaml.safe_load((directory / "answers.yaml").read_text())
    assert after == {**answers, "versions": {"binderhub": "1.0.0-0.dev.git.1.habc", "traefik": "37.4.0"}}
    assert backup.pin_recorded_charts(made, directory) == []  # pinned now: nothing more to do
    assert backup.pin_recorded_charts(backup.Backup("old", tmp_path, {}), directory) == []  # older backups
