"""Backups of an install before a change to the hub, and restoring one (`wizard rollback`).

DIR/backups/TIMESTAMP/ (0700, files 0600) holds: the hub database (SQLite: a consistent online copy
made inside the hub pod with sqlite3's backup API, sent back base64 on stdout and checked by its
sha256; PostgreSQL: `pg_dump --clean`, loaded back with psql in one transaction, the hub stopped;
tables made after the backup are not in the dump and stay), secret.yaml, answers.yaml, ledger.jsonl
if there is one, and backup.json (when, why, which files, the database's checksum or why it was not copied).

Nothing of the database passes through install.log or the screen: the commands that carry it run
with hide_output. Light at import: no kubernetes, no Textual.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .runner import CommandFailed
from .installdir import (ANSWERS_FILE, APPLIED_DIR, BACKUPS_DIR, LEDGER_FILE, SECRET_FILE, InstallDirError, ensure_directory, read_private,
                         write_atomic)

if TYPE_CHECKING:
    from .context import Context

MANIFEST = "backup.json"
SQLITE_FILE = "jupyterhub.sqlite"
POSTGRES_FILE = "jupyterhub.sql"
HUB_DB_PATH = "/srv/jupyterhub/jupyterhub.sqlite"   # z2jh's sqlite-pvc: hub.db.pvc mounted at /srv/jupyterhub
HUB_POD_LABELS = "app=jupyterhub,component=hub"

# Run inside the hub pod (its image has python3): a consistent copy of the live database through
# sqlite3's online backup API, into a temporary file, sent as base64 lines, then its sha256.
BACKUP_SCRIPT = r"""
import base64, hashlib, os, sqlite3, sys, tempfile
source = sys.argv[1]
if not os.path.exists(source):
    print("NO-DATABASE"); sys.exit(0)
fd, tmp = tempfile.mkstemp(suffix=".sqlite"); os.close(fd)
try:
    live, copy = sqlite3.connect(source), sqlite3.connect(tmp)
    live.backup(copy); copy.close(); live.close()
    data = open(tmp, "rb").read()
finally:
    os.unlink(tmp)
sys.stdout.write(base64.encodebytes(data).decode())
print("SHA256 " + hashlib.sha256(data).hexdigest())
"""

# Run inside the hub pod: the backup (base64 on stdin, checked by its sha256) replaces the database
# file at once (a rename), with any journal of the one it replaces; the hub is restarted after.
RESTORE_SCRIPT = r"""
import base64, hashlib, os, sys
target, want = sys.argv[1], sys.argv[2]
data = base64.b64decode(sys.stdin.read())
if hashlib.sha256(data).hexdigest() != want:
    sys.exit("the backup arrived damaged (sha256 differs); nothing restored")
tmp = target + ".restoring"
with open(tmp, "wb") as out:
    out.write(data); out.flush(); os.fsync(out.fileno())
for suffix in ("-journal", "-wal", "-shm"):
    try: os.unlink(target + suffix)
    except FileNotFoundError: pass
os.replace(tmp, target)
print("RESTORED")
"""


class BackupError(Exception):
    pass


@dataclass
class Backup:
    name: str
    path: Path
    manifest: dict = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if p.name != MANIFEST)

    def line(self) -> str:
        database = self.manifest.get("database", {})
        db = f"database {database['file']}" if database.get("file") else f"no database ({database.get('note', '?')})"
        return f"{self.name}  {self.manifest.get('reason', '')}; {db}; files: {', '.join(self.files)}"


def backups_dir(directory: Path) -> Path:
    return Path(directory) / BACKUPS_DIR


def list_backups(directory: Path) -> list[Backup]:
    """The backups of DIR, oldest first."""
    root = backups_dir(directory)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if not path.is_dir() or path.is_symlink():
            continue
        try:
            manifest = json.loads(read_private(path / MANIFEST))
        except (FileNotFoundError, ValueError, InstallDirError):
            manifest = {"reason": "(no backup.json: incomplete)"}
        found.append(Backup(path.name, path, manifest))
    return found


def find_backup(directory: Path, name: str | None) -> Backup:
    found = [b for b in list_backups(directory) if b.manifest.get("complete")]
    if not found:
        raise BackupError(f"no backup in {backups_dir(directory)}: one is made before each upgrade of the hub")
    if name is None:
        return found[-1]
    for backup in found:
        if backup.name == name:
            return backup
    raise BackupError(f"--to {name}: no such backup; the backups are: {', '.join(b.name for b in found)}")


def _new_folder(directory: Path) -> Path:
    root = backups_dir(directory)
    ensure_directory(root)
    os.chmod(root, 0o700)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for suffix in ("", *(f"-{n}" for n in range(1, 100))):
        path = root / f"{stamp}{suffix}"
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:
            continue
    raise BackupError(f"cannot make a backup folder under {root}")


def hub_pod(ctx: "Context", stage: str) -> str | None:
    """The hub pod that is running, or None."""
    ns = ctx.settings.cluster.namespace
    done = ctx.runner.run(stage, ctx.kubectl("get", "pods", "-n", ns, "-l", HUB_POD_LABELS,
                                             "--field-selector=status.phase=Running",
                                             "-o", "jsonpath={.items[*].metadata.name}"), mutating=False, check=False)
    names = done.output.split() if done.ok else []
    return names[0] if names else None


def _copy_sqlite(ctx: "Context", stage: str, target: Path) -> dict:
    pod = hub_pod(ctx, stage)
    if pod is None:
        return {"note": "no running hub pod to copy it from"}
    ns = ctx.settings.cluster.namespace
    done = ctx.runner.run(stage, ctx.kubectl("exec", "-n", ns, pod, "-c", "hub", "--", "python3", "-c",
                                             BACKUP_SCRIPT, HUB_DB_PATH), mutating=False, hide_output=True)
    lines = done.output.split("\n")
    if lines and lines[0].strip() == "NO-DATABASE":
        return {"note": f"{HUB_DB_PATH} does not exist in pod {pod}"}
    if not lines or not lines[-1].startswith("SHA256 "):
        raise BackupError(f"the copy of the hub database from pod {pod} ended early")
    data = base64.b64decode("".join(lines[:-1]))
    digest = lines[-1].split()[1]
    if hashlib.sha256(data).hexdigest() != digest:
        raise BackupError(f"the copy of the hub database from pod {pod} arrived damaged (sha256 differs)")
    write_atomic(target / SQLITE_FILE, data, 0o600)
    return {"type": "sqlite", "file": SQLITE_FILE, "sha256": digest, "pod": pod, "path": HUB_DB_PATH}


def _pg_command(ctx: "Context", target: Path, *argv: str) -> tuple[list[str], Path]:
    """argv run with the hub database's password in a 0600 PGPASSFILE inside the 0700 backup folder
    (never in argv, the environment or the log); the caller removes the file."""
    from urllib.parse import urlsplit

    url = urlsplit(ctx.settings.hub.database.url)
    password = ctx.stored_secrets.get("hub.database.password", "")
    passfile = target / ".pgpass"
    write_atomic(passfile, f"{url.hostname}:{url.port or 5432}:*:{url.username or '*'}:{password}\n", 0o600)
    return ["env", f"PGPASSFILE={passfile}", *argv, "--no-password"], passfile


def _dump_postgres(ctx: "Context", stage: str, target: Path) -> dict:
    """pg_dump on this machine into the backup folder. --clean --if-exists: the dump drops each
    object before it creates it again, so `rollback` can load it into the live database."""
    dump = target / POSTGRES_FILE
    argv, passfile = _pg_command(ctx, target, "pg_dump", "--clean", "--if-exists", f"--file={dump}",
                                 f"--dbname={ctx.settings.hub.database.url}")
    try:
        done = ctx.runner.run(stage, argv, mutating=False, hide_output=True, check=False)
    finally:
        passfile.unlink(missing_ok=True)
    if not done.ok or not dump.is_file():
        dump.unlink(missing_ok=True)
        raise BackupError(f"pg_dump of the hub database exited with {done.exit_code} (is pg_dump installed here, "
                          "and can this machine reach the database?)")
    os.chmod(dump, 0o600)
    data = read_private(dump)
    return {"type": "postgres", "file": POSTGRES_FILE, "sha256": hashlib.sha256(data).hexdigest()}


def _restore_postgres(ctx: "Context", backup: "Backup") -> str:
    """Stop the hub (its Deployment scaled to 0, its pods gone), load the dump with psql in one
    transaction (ON_ERROR_STOP: all of it or nothing), then start the hub again with the replicas
    it had. The hub is started again whatever happened."""
    ns = ctx.settings.cluster.namespace
    stage = "rollback"
    got = ctx.runner.run(stage, ctx.kubectl("get", "deployment", "hub", "-n", ns, "-o", "jsonpath={.spec.replicas}"),
                         mutating=False, check=False)
    replicas = got.output.strip() if got.ok and got.output.strip().isdigit() else "1"
    ctx.runner.run(stage, ctx.kubectl("scale", "deployment", "hub", "-n", ns, "--replicas=0"))
    try:
        ctx.runner.run(stage, ctx.kubectl("wait", "--for=delete", "pod", "-n", ns, "-l", HUB_POD_LABELS,
                                          "--timeout=120s"), mutating=False, check=False)
        left = ctx.runner.run(stage, ctx.kubectl("get", "pods", "-n", ns, "-l", HUB_POD_LABELS, "-o",
                                                 "jsonpath={.items[*].metadata.name}"), mutating=False, check=False)
        if left.ok and left.output.strip():
            raise BackupError(f"the hub pod {left.output.split()[0]} did not stop within 120 s; the database "
                              "was not restored")
        argv, passfile = _pg_command(ctx, backup.path, "psql", "--quiet", "--single-transaction",
                                     "--set=ON_ERROR_STOP=1", f"--file={backup.path / POSTGRES_FILE}",
                                     f"--dbname={ctx.settings.hub.database.url}")
        try:
            done = ctx.runner.run(stage, argv, hide_output=True, check=False)
        finally:
            passfile.unlink(missing_ok=True)
        if not done.ok:
            raise BackupError(f"psql could not load {backup.path / POSTGRES_FILE} (exit {done.exit_code}); the "
                              "database is as it was before the rollback (one transaction)")
    finally:
        ctx.runner.run(stage, ctx.kubectl("scale", "deployment", "hub", "-n", ns, f"--replicas={replicas}"),
                       check=False)
    return f"database {POSTGRES_FILE} loaded into the PostgreSQL database with psql; the hub was restarted"


def make_backup(ctx: "Context", reason: str, revisions: dict[str, int] | None = None, *,
                database: bool | str = True, files: dict[str, bytes] | None = None) -> Backup:
    """Back up the hub database, secret.yaml, the answers and the ledger of ctx.directory (DIR) into
    DIR/backups/TIMESTAMP/ (`files`: those files as read before the run rendered into DIR). The database cannot be copied (no hub pod): said in backup.json, the
    rest is kept. A copy that fails on the way raises BackupError (the upgrade must not go on)."""
    import shutil

    target = _new_folder(ctx.directory)
    try:
        return _fill(ctx, target, reason, revisions or {}, database, files)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # no half backup that `rollback` could pick
        raise


def read_files(directory: Path) -> dict[str, bytes]:
    """secret.yaml, the answers and the ledger of DIR as they are now (read before a run renders
    the new answers into DIR, so that the backup holds the ones that were applied)."""
    found = {}
    for name in (SECRET_FILE, ANSWERS_FILE, LEDGER_FILE):
        try:
            found[name] = read_private(Path(directory) / name)
        except FileNotFoundError:
            continue
    return found


def remember_applied(directory: Path) -> None:
    """Keep secret.yaml and the answers as the hub now runs them in DIR/applied/ (0700, files 0600):
    called when the binderhub stage was applied and its checks pass. The TUI saves answers.yaml as
    you type, so by the time a run starts DIR holds the NEW answers; the backup before the next
    change takes these instead (files_before)."""
    target = Path(directory) / APPLIED_DIR
    for name, data in read_files(directory).items():
        if name != LEDGER_FILE:  # the ledger is read as it is when the run starts
            write_atomic(target / name, data, 0o600)


def files_before(directory: Path) -> dict[str, bytes]:
    """What a backup before a change to the hub keeps: secret.yaml and the answers as the hub last
    ran them (DIR/applied/, when an earlier run recorded them), else as DIR holds them now; the
    ledger as it is now. Read before the run renders into DIR."""
    found = read_files(directory)
    for name in (SECRET_FILE, ANSWERS_FILE):
        try:
            found[name] = read_private(Path(directory) / APPLIED_DIR / name)
        except FileNotFoundError:
            continue
    return found


def forget_applied_secrets(directory: Path) -> None:
    """--forget-secrets: no copy of secret.yaml stays behind in DIR/applied/."""
    try:
        (Path(directory) / APPLIED_DIR / SECRET_FILE).unlink()
    except FileNotFoundError:
        pass


def _fill(ctx: "Context", target: Path, reason: str, revisions: dict, database, files) -> Backup:
    stage = "backup"
    copied = []
    for name, data in (read_files(ctx.directory) if files is None else files).items():
        write_atomic(target / name, data, 0o600)
        copied.append(name)
    try:
        if database is not True:
            database = {"note": f"not copied: {database or '--no-database-backup'}"}
        elif ctx.settings.hub.database.type == "postgres":
            database = _dump_postgres(ctx, stage, target)
        else:
            database = _copy_sqlite(ctx, stage, target)
    except CommandFailed as err:
        raise BackupError(f"the hub database could not be copied ({err}); fix that, or pass "
                          "--no-database-backup to back up the files only") from None
    manifest = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reason": reason,
                "files": copied, "database": database, "revisions": revisions,
                "charts": live_chart_versions(ctx, stage), "complete": True}
    write_atomic(target / MANIFEST, json.dumps(manifest, indent=2) + "\n", 0o600)
    ctx.runner.log(stage, f"backup {target.name}: {', '.join(copied)}; database: "
                          f"{database.get('file') or database.get('note')}")
    return Backup(target.name, target, manifest)


def live_chart_versions(ctx: "Context", stage: str) -> dict[str, str]:
    """Chart key -> the version of its live release (one `helm list`), for the releases the wizard
    makes; empty when helm cannot answer. A rollback re-applies these versions."""
    from .charts import CHARTS

    done = ctx.runner.run(stage, ctx.helm("list", "--all-namespaces", "-o", "json"), mutating=False, check=False)
    try:
        rows = json.loads(done.output) if done.ok else []
    except ValueError:
        return {}
    s = ctx.settings
    ours = {(chart.release or s.cluster.release, chart.namespace or s.cluster.namespace): chart
            for chart in CHARTS.values()}
    found = {}
    for row in rows if isinstance(rows, list) else []:
        chart = ours.get((row.get("name"), row.get("namespace")))
        label = str(row.get("chart", ""))
        if chart is not None and label.startswith(chart.chart + "-"):
            found[chart.key] = label[len(chart.chart) + 1:]  # "binderhub-1.0.0-0.dev..." -> the version
    return found


def pin_recorded_charts(backup: Backup, directory: Path) -> list[str]:
    """After restore_files: where the backup recorded a live chart version other than this
    wizard's pin, and the restored answers neither pin a version nor name a local chart for it,
    write that version into answers.yaml `versions:` so the re-apply installs what ran then.
    One line per chart pinned."""
    from . import yamlio
    from .charts import CHARTS, chart_ref

    recorded = backup.manifest.get("charts") or {}
    path = Path(directory) / ANSWERS_FILE
    try:
        raw = yamlio.loads(read_private(path).decode("utf-8")) or {}
    except FileNotFoundError:
        return []
    versions = dict(raw.get("versions") or {})
    sources = raw.get("charts") or {}
    pinned = []
    for key, version in sorted(recorded.items()):
        if key not in CHARTS or key in versions or version == CHARTS[key].version \
                or chart_ref(key, {}, sources).kind == "local":
            continue
        versions[key] = version
        pinned.append(f"{key} {version} (this wizard pins {CHARTS[key].version})")
    if pinned:
        raw["versions"] = versions
        write_atomic(path, yamlio.dumps(raw), 0o644)
    return pinned


def restore_files(backup: Backup, directory: Path) -> list[str]:
    """secret.yaml and the answers back into DIR (the ledger is history: it stays as it is)."""
    restored = []
    for name, mode in ((SECRET_FILE, 0o600), (ANSWERS_FILE, 0o644)):
        try:
            data = read_private(backup.path / name)
        except FileNotFoundError:
            continue
        write_atomic(Path(directory) / name, data, mode)
        restored.append(name)
    return restored


def restore_database(ctx: "Context", backup: Backup) -> str:
    """Put the backed-up database back into the hub pod and restart the hub; what was done."""
    database = backup.manifest.get("database", {})
    if not database.get("file"):
        return "no database in this backup: not restored"
    data = read_private(backup.path / database["file"])
    if hashlib.sha256(data).hexdigest() != database.get("sha256"):
        raise BackupError(f"{backup.path / database['file']} does not match its checksum in backup.json")
    if database.get("type") == "postgres":
        return _restore_postgres(ctx, backup)
    pod = hub_pod(ctx, "rollback")
    if pod is None:
        raise BackupError("no running hub pod to restore the database into; start the hub, then run again")
    ns = ctx.settings.cluster.namespace
    done = ctx.runner.run("rollback", ctx.kubectl("exec", "-i", "-n", ns, pod, "-c", "hub", "--", "python3", "-c",
                                                  RESTORE_SCRIPT, database.get("path", HUB_DB_PATH),
                                                  database["sha256"]),
                          stdin=base64.encodebytes(data).decode(), hide_output=True, check=False)
    if not done.ok or "RESTORED" not in done.output:
        raise BackupError(f"restoring the hub database in pod {pod} failed (exit {done.exit_code})")
    # The hub has the replaced file open: a new pod starts on the restored one.
    ctx.runner.run("rollback", ctx.kubectl("delete", "pod", "-n", ns, pod, "--wait=false"))
    return f"database {database['file']} restored into pod {pod}; the hub pod was restarted"


def before_hub_change(ctx: "Context", state, reasons: dict[str, str], selected: list[str], *,
                      database: bool = True, files: dict[str, bytes] | None = None) -> Backup | None:
    """Back up before a run that changes a hub installed before: the binderhub stage is selected,
    must run, and was applied before. `database` False: the files only (said in backup.json)."""
    record = state.stages.get("binderhub")
    if "binderhub" not in selected or "binderhub" not in reasons or record is None \
            or record.status not in ("done", "failed", "interrupted"):
        return None
    try:
        made = make_backup(ctx, "before a change to the hub", database=database, files=files)
    except BackupError as err:
        if record.status == "done":
            raise  # a working hub is about to change: not without its database
        # The hub never finished installing (failed, interrupted): its database may not be reachable.
        ctx.notify("backup", f"warning: {err}; the hub was {record.status}, so the run goes on with the files only")
        made = make_backup(ctx, "before a change to the hub", database=str(err), files=files)
    ctx.notify("backup", f"backed up to {made.path}: {made.line()}")
    return made
