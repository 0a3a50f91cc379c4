"""The ledger: DIR/ledger.jsonl, one JSON object a line, of what each stage created or changed:
helm releases, objects applied with kubectl (with their uid), a StorageClass default flag moved
(with its previous value), and on a bare machine the host changes (files with their previous
content saved beside the ledger, packages installed, sysctls, the kubeadm init).

Append only: each line is written with one write() and fsync'd, so a kill leaves at most one
partial last line, which is ignored. Uninstall appends "removed" lines, so replaying the file
gives what exists now (`Ledger.current`). A re-run records only what changed: a line equal to
what the ledger already says is not written again.

No secrets: a line holds names, namespaces, kinds, uids, versions and paths only (and passes
through wizard.redact besides). Previous file contents go to DIR/ledger-files/ (0600), never into
the ledger itself. Light: no kubernetes, no Textual.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from . import redact
from .installdir import LEDGER_FILE, ensure_directory, open_private, write_atomic

LEDGER_FILES = "ledger-files"   # previous contents of host files, beside the ledger
_lock = threading.Lock()        # stages append from their threads

# What the ledger holds (field "op"):
HELM, OBJECT, DEFAULT_CLASS, KEPT_VOLUME = "helm", "object", "default-class", "kept-volume"
HOST_FILE, HOST_DIR, HOST_PACKAGE, HOST_HOLD, HOST_SYSCTL, HOST_SERVICE, HOST_SWAP, KUBEADM_INIT = (
    "host-file", "host-dir", "host-package", "host-hold", "host-sysctl", "host-service", "host-swap", "kubeadm-init")
REMOVED = "removed"
_VOLATILE = ("at", "stage")   # fields that do not make a line "changed"


def key(entry: dict) -> tuple:
    """What an entry is about: two entries with the same key describe the same thing."""
    op = entry["op"]
    if op == HELM:
        return (op, entry["namespace"], entry["name"])
    if op == OBJECT:
        return (op, entry["kind"], entry.get("namespace") or "", entry["name"])
    if op in (HOST_FILE, HOST_DIR):
        return (op, entry["path"])
    if op == KUBEADM_INIT or op == HOST_SWAP:
        return (op,)
    return (op, entry.get("name", ""))


class Ledger:
    """DIR/ledger.jsonl: append, and replay into what exists now."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path = self.directory / LEDGER_FILE

    # --- reading -----------------------------------------------------------------------------
    def entries(self) -> list[dict]:
        """Every complete line, in order (a partial last line, left by a kill, is skipped)."""
        try:
            fd = open_private(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        found = []
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue   # cut off by a kill mid-write (only the last line can be)
            if isinstance(entry, dict) and "op" in entry:
                found.append(entry)
        return found

    def current(self) -> list[dict]:
        """What the ledger says exists now, in the order each thing was first recorded. Where a
        thing was recorded twice, the newest line wins but keeps the first `previous` (the value
        before the wizard touched it, which uninstall restores)."""
        now: dict[tuple, dict] = {}
        for entry in self.entries():
            if entry["op"] == REMOVED:
                now.pop(tuple(entry["key"]), None)
                continue
            k = key(entry)
            first = now.get(k)
            merged = dict(entry)
            if first is not None:
                for field in ("previous", "saved", "mode", "existed"):
                    if field in first:
                        merged[field] = first[field]
                merged["stage"] = first["stage"]
            now[k] = merged
        return list(now.values())

    def removed(self) -> set[tuple]:
        return {tuple(e["key"]) for e in self.entries() if e["op"] == REMOVED}

    def stages(self) -> list[str]:
        """The stages with something recorded that still exists, in the order they first recorded."""
        return list(dict.fromkeys(entry["stage"] for entry in self.current()))

    # --- writing -----------------------------------------------------------------------------
    def append(self, entry: dict) -> None:
        """One line, one write, fsync'd (a kill leaves it whole or absent)."""
        line = redact.redact(json.dumps({**entry, "at": round(time.time(), 3)}, sort_keys=True))
        data = (line + "\n").encode("utf-8")
        with _lock:
            ensure_directory(self.directory)
            fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def record(self, entry: dict) -> bool:
        """Append unless the ledger already says exactly this; True when written."""
        k = key(entry)
        for existing in self.current():
            if key(existing) == k:
                same = all(existing.get(f) == v for f, v in entry.items() if f not in _VOLATILE + ("previous", "saved"))
                if same:
                    return False
        self.append(entry)
        return True

    def mark_removed(self, entry: dict, stage: str) -> None:
        self.append({"op": REMOVED, "key": list(key(entry)), "stage": stage})

    def save_previous(self, path: str, content: bytes) -> str:
        """Keep a host file's previous content beside the ledger (0600); its name there."""
        name = f"{LEDGER_FILES}/{hashlib.sha256(path.encode()).hexdigest()[:16]}-{Path(path).name}"
        target = self.directory / name
        if not target.exists():   # the first content is the one to restore
            ensure_directory(target.parent)
            write_atomic(target, content, 0o600)
        return name


# --- recording from the stages (wizard/stages.py) --------------------------------------------------

_COLUMNS = "custom-columns=APIVERSION:.apiVersion,KIND:.kind,NAMESPACE:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid"


def _objects(output: str) -> list[dict]:
    found = []
    for line in output.splitlines():
        parts = line.split()
        if len(parts) != 5 or parts[1] == "KIND" or not re.fullmatch(r"[0-9a-f-]{36}", parts[4]):
            continue
        api_version, kind, namespace, name, uid = parts
        found.append({"apiVersion": api_version, "kind": kind, "namespace": "" if namespace == "<none>" else namespace,
                      "name": name, "uid": uid})
    return found


class Recorder:
    """What one stage records; does nothing in a dry run. Used by _helm_install and _kubectl_apply."""

    def __init__(self, ctx, stage: str):
        self.ctx = ctx
        self.stage = stage
        self.active = not ctx.runner.dry_run
        self.ledger = Ledger(ctx.directory)
        self._before: set[str] = set()
        self._namespace_existed = True

    def _read(self, args: list[str], stdin: str | None = None) -> list[dict]:
        result = self.ctx.runner.run(self.stage, self.ctx.kubectl("get", *args, "--ignore-not-found", "-o", _COLUMNS),
                                     mutating=False, check=False, stdin=stdin)
        return _objects(result.output) if result.ok else []

    # kubectl apply: what existed before is not ours (never deleted by uninstall).
    def before_apply(self, args: list[str], stdin: str | None = None) -> None:
        if self.active:
            self._before = {o["uid"] for o in self._read(args, stdin)}

    def applied(self, args: list[str], stdin: str | None = None) -> None:
        if not self.active:
            return
        for obj in self._read(args, stdin):
            if obj["uid"] not in self._before:
                self.ledger.record({"op": OBJECT, "stage": self.stage, **obj})

    # helm upgrade --install: the release, and its namespace when helm created it.
    def before_helm(self, namespace: str) -> None:
        if self.active:
            self._namespace_existed = bool(self._read(["namespace", namespace]))

    def helm(self, release: str, namespace: str, chart: str, version: str) -> None:
        if not self.active:
            return
        if not self._namespace_existed:
            for obj in self._read(["namespace", namespace]):
                self.ledger.record({"op": OBJECT, "stage": self.stage, **obj})
        cluster = self.ctx.cluster
        records = cluster.items(cluster.core.list_namespaced_secret, namespace, label_selector=f"owner=helm,name={release}")
        revision = max((int(r["metadata"]["labels"].get("version", 0)) for r in records), default=0)
        self.ledger.record({"op": HELM, "stage": self.stage, "name": release, "namespace": namespace,
                            "chart": chart, "version": version, "revision": revision})

    # the StorageClass default flag
    def default_class(self, name: str, previous: str | None, value: str) -> None:
        if self.active and previous != value:
            self.ledger.record({"op": DEFAULT_CLASS, "stage": self.stage, "name": name, "previous": previous,
                                "value": value})


def default_flag(ctx, name: str) -> str | None:
    """The StorageClass's default annotation now (None: not set, or no such class)."""
    from .render.infra import DEFAULT_CLASS_ANNOTATION

    if ctx.runner.dry_run:
        return None
    sc = ctx.cluster.get(ctx.cluster.storage.read_storage_class, name)
    return (((sc or {}).get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)


# --- host changes (wizard/nodestages.py) -----------------------------------------------------------

SYSCTL_KEYS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables", "net.ipv4.ip_forward")


def _read_file(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError:
        return None


def _is_dir(path: str) -> bool:
    return os.path.isdir(path)


def _written_paths(argv: tuple[str, ...]) -> list[tuple[str, str]]:
    """(HOST_FILE or HOST_DIR, path) that one bootstrap command writes."""
    tool, args = os.path.basename(argv[0]), list(argv[1:])
    if tool == "tee":
        return [(HOST_FILE, args[-1])]
    if tool == "cp" or (tool == "install" and "-d" not in args):
        return [(HOST_FILE, args[-1])]
    if tool == "install" and "-d" in args:
        return [(HOST_DIR, args[-1])]
    if tool == "sed" and "-i" in args:
        return [(HOST_FILE, args[-1])]
    if tool in ("curl", "gpg") and "-o" in args:
        return [(HOST_FILE, args[args.index("-o") + 1])]
    if tool == "sh" and len(args) == 2 and " > " in args[1]:
        return [(HOST_FILE, args[1].rsplit(" > ", 1)[1].strip())]
    return []


def host_changes(ledger: Ledger, stage: str, commands: Iterable, *, read: Callable[[str], bytes | None] | None = None,
                 installed: Callable[[str], bool] | None = None, sysctl: Callable[[str], str | None] | None = None) -> None:
    """Record, before they run, what these bootstrap commands will change on this machine: every
    file with its content now (saved beside the ledger), directories made, packages not installed
    yet, sysctls with their values now, services enabled, swap turned off, the kubeadm init."""
    read = read or _read_file
    for command in commands:
        argv = tuple(command.argv)
        tool = os.path.basename(argv[0])
        for op, path in _written_paths(argv):
            before = read(path) if op == HOST_FILE else None
            entry = {"op": op, "stage": stage, "path": path}
            if op == HOST_FILE:
                entry["existed"] = before is not None
                if before is not None:
                    entry["saved"] = ledger.save_previous(path, before)
                    try:
                        entry["mode"] = f"{os.stat(path).st_mode & 0o7777:04o}"
                    except OSError:
                        entry["mode"] = "0644"
            else:
                entry["existed"] = _is_dir(path)
            ledger.record(entry)
        if tool == "apt-get" and "install" in argv:
            for package in [a for a in argv[argv.index("install") + 1:] if not a.startswith("-")]:
                if installed is None or not installed(package):
                    ledger.record({"op": HOST_PACKAGE, "stage": stage, "name": package})
        elif tool == "apt-mark" and "hold" in argv:
            for package in argv[argv.index("hold") + 1:]:
                ledger.record({"op": HOST_HOLD, "stage": stage, "name": package})
        elif tool == "sysctl" and "--system" in argv:
            for name in SYSCTL_KEYS:
                ledger.record({"op": HOST_SYSCTL, "stage": stage, "name": name,
                               "previous": sysctl(name) if sysctl else None})
        elif tool == "systemctl" and "enable" in argv and "--now" in argv:
            ledger.record({"op": HOST_SERVICE, "stage": stage, "name": argv[-1], "now": "--now" in argv})
        elif tool == "swapoff":
            ledger.record({"op": HOST_SWAP, "stage": stage})
        elif tool == "kubeadm" and len(argv) > 1 and argv[1] == "init":
            ledger.record({"op": KUBEADM_INIT, "stage": stage})


def record_host(ctx, stage: str, commands: list) -> None:
    """host_changes for a node stage of the engine (nothing in a dry run)."""
    if ctx.runner.dry_run or not commands:
        return

    def installed(package: str) -> bool:
        result = ctx.runner.run(stage, ["dpkg-query", "-W", "-f=${Status}", package], mutating=False, check=False)
        return result.ok and "install ok installed" in result.output

    def sysctl(name: str) -> str | None:
        value = _read_file("/proc/sys/" + name.replace(".", "/"))
        return value.decode().strip() if value is not None else None

    host_changes(Ledger(ctx.directory), stage, commands, installed=installed, sysctl=sysctl)


def stage_notes(directory: Path) -> dict[str, str]:
    """For `wizard status`: per stage, what the ledger holds of it now, or that uninstall removed it."""
    ledger = Ledger(directory)
    everything = ledger.entries()
    now: dict[str, int] = {}
    for entry in ledger.current():
        now[entry["stage"]] = now.get(entry["stage"], 0) + 1
    notes = {}
    for stage in dict.fromkeys(e["stage"] for e in everything if e["op"] != REMOVED):
        count = now.get(stage, 0)
        notes[stage] = f"{count} thing(s) in the ledger" if count else "removed by wizard uninstall"
    return notes
