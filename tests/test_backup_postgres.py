"""The hub database on PostgreSQL: backed up with the real pg_dump and loaded back by `rollback`
with the real psql, against a real PostgreSQL server started here on loopback (initdb, pg_ctl),
the password checked by the server (scram-sha-256 over TCP).

Real: PostgreSQL 15 and its client programs, the runner, export's secret.yaml. Stand-in: the hub
Deployment behind `kubectl` (tests/test_backup.py standin_kubectl, which records every kubectl
command and answers `get` with nothing to wait for). What it cannot show: a real hub reconnecting
after its restart, or a database server in the cluster reached through a port-forward.

Without PostgreSQL's programs the test skips here and fails in CI (scripts/test.sh installs them)."""

from __future__ import annotations

import copy
import glob
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.test_backup import standin_kubectl
from tests.variants import BASE
from wizard import backup
from wizard.context import Context
from wizard.export import export
from wizard.runner import Runner

PASSWORD = "distinctive-pg-pass-4711"


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server on 127.0.0.1 (a role `hub` with a password, owning database `jupyterhub`)."""
    tools = {name: _bin(name) for name in ("initdb", "pg_ctl", "psql", "pg_dump")}
    if not all(tools.values()):
        message = f"PostgreSQL programs missing: {[n for n, p in tools.items() if not p]}"
        if os.environ.get("CI"):
            pytest.fail(message + " (scripts/test.sh installs them)")
        pytest.skip(message)
    as_owner: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def run(*argv):
        done = subprocess.run([*as_owner, *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run(tools["initdb"], "-D", str(data), "-U", "postgres", "--no-locale", "-E", "UTF8",
        "--auth-local=trust", "--auth-host=scram-sha-256")
    run(tools["pg_ctl"], "-D", str(data), "-l", str(root / "server.log"), "-w", "start",
        "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1")
    try:
        admin = [tools["psql"], "-h", str(root), "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
        run(*admin, "-c", f"create role hub login password '{PASSWORD}'")
        run(*admin, "-c", "create database jupyterhub owner hub")
        yield f"postgresql://hub@127.0.0.1:{port}/jupyterhub"
    finally:
        subprocess.run([*as_owner, tools["pg_ctl"], "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def sql(url: str, statement: str) -> list[str]:
    """Run SQL as the hub role (the password through the environment, in the test only)."""
    done = subprocess.run([_bin("psql"), "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", statement],
                          capture_output=True, text=True, env=dict(os.environ, PGPASSWORD=PASSWORD), timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.fixture
def ctx(tmp_path, monkeypatch, postgres):
    raw = copy.deepcopy(BASE)
    raw.setdefault("hub", {})["database"] = {"type": "postgres", "url": postgres, "password": PASSWORD}
    directory = tmp_path / "setup"
    result = export(raw, directory)
    assert result.ok, result.load.problems
    env = standin_kubectl(tmp_path / "bin", tmp_path / "hub-root", dict(os.environ))
    env["STANDIN_REAL_KUBECTL"] = "/bin/true"  # every other kubectl command: done, nothing printed
    monkeypatch.setenv("PATH", env["PATH"])
    context = Context(result.load.settings, directory, Runner(directory / "install.log", env=env))
    context.calls = tmp_path / "bin" / "calls.jsonl"
    return context


def test_rollback_loads_the_pg_dump_back_into_the_live_database(ctx, postgres):
    """pg_dump writes the dump 0600 into the backup (the password reaches it only through a
    PGPASSFILE that is gone after); after the hub changed the data (rows added and removed, a table
    dropped), restore_database stops the hub, loads the dump with psql, starts the hub again with
    the replicas it had: the rows are the backed-up ones. No password in argv, the log or backup.json."""
    sql(postgres, "drop table if exists users; create table users (name text primary key)")
    sql(postgres, "drop table if exists spawners; create table spawners (id int, state text)")
    sql(postgres, "insert into users values ('alice'), ('bob'); insert into spawners values (1, 'running')")

    made = backup.make_backup(ctx, "test")
    dump = made.path / "jupyterhub.sql"
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert "DROP TABLE IF EXISTS public.users" in dump.read_text()
    assert not (made.path / ".pgpass").exists()
    assert made.manifest["database"]["type"] == "postgres"

    sql(postgres, "delete from users where name = 'alice'; insert into users values ('mallory'); drop table spawners")
    assert sql(postgres, "select name from users order by name") == ["bob", "mallory"]
    said = backup.restore_database(ctx, made)
    assert "loaded into the PostgreSQL database" in said
    assert sql(postgres, "select name from users order by name") == ["alice", "bob"]
    assert sql(postgres, "select state from spawners") == ["running"]

    calls = [json.loads(line) for line in ctx.calls.read_text().splitlines()]
    scales = [c for c in calls if "scale" in c]
    ns = ctx.settings.cluster.namespace
    assert scales == [["scale", "deployment", "hub", "-n", ns, "--replicas=0"],
                      ["scale", "deployment", "hub", "-n", ns, "--replicas=1"]]
    stopped, loaded = calls.index(scales[0]), calls.index(scales[1])
    assert any("wait" in c and "--for=delete" in c for c in calls[stopped:loaded])
    log = (ctx.directory / "install.log").read_text()
    assert PASSWORD not in log and PASSWORD not in json.dumps(calls) and PASSWORD not in json.dumps(made.manifest)
    assert "pg_dump" in log and "psql" in log
    assert not (made.path / ".pgpass").exists()


def test_a_dump_that_does_not_load_leaves_the_database_and_starts_the_hub(ctx, postgres):
    """psql with ON_ERROR_STOP in one transaction: a dump cut short changes nothing, the error
    names the file, and the hub is started again."""
    sql(postgres, "drop table if exists users; create table users (name text)")
    sql(postgres, "insert into users values ('carol')")
    made = backup.make_backup(ctx, "test")
    dump = made.path / "jupyterhub.sql"
    text = dump.read_text()
    broken = text.replace("CREATE TABLE public.users", "CREATE TABLE public.users (oops", 1)
    dump.write_text(broken)
    manifest = json.loads((made.path / "backup.json").read_text())
    import hashlib

    manifest["database"]["sha256"] = hashlib.sha256(broken.encode()).hexdigest()  # damaged on purpose, not by chance
    made.manifest["database"]["sha256"] = manifest["database"]["sha256"]
    with pytest.raises(backup.BackupError, match="psql could not load .*jupyterhub.sql"):
        backup.restore_database(ctx, made)
    assert sql(postgres, "select name from users") == ["carol"]
    calls = [json.loads(line) for line in ctx.calls.read_text().splitlines()]
    assert [c for c in calls if "scale" in c][-1][-1] == "--replicas=1"


def test_a_wrong_password_fails_the_backup_and_leaves_none(ctx, postgres):
    """The server refuses the password: BackupError, and no half backup for `rollback` to pick."""
    from wizard.secretstore import read_stored

    assert read_stored(ctx.directory).get("hub.database.password") == PASSWORD
    ctx.__dict__["stored_secrets"] = {**read_stored(ctx.directory), "hub.database.password": "wrong-password"}
    with pytest.raises(backup.BackupError, match="pg_dump of the hub database exited"):
        backup.make_backup(ctx, "test")
    assert backup.list_backups(ctx.directory) == []
