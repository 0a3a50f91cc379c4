"""The state of an install directory: `state.json` (per stage: status, times, fingerprint of the
inputs it applied, last error; the names of the secrets the wizard generated) and the lock that
allows one install or export at a time.

state.json never holds a secret: fingerprints of files that carry secrets are keyed hashes, and
error texts are masked by the runner before they get here.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .installdir import LOCK_FILE, STATE_FILE, ensure_directory, open_private, read_private, write_atomic  # noqa: F401

STATUSES = ("pending", "running", "done", "failed", "interrupted", "skipped")
STATE_VERSION = 1  # the newest state.json this wizard reads and writes


@dataclass
class StageState:
    status: str = "pending"
    started: float | None = None
    finished: float | None = None
    fingerprint: str | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict, repr=False)  # fields of a newer wizard, kept as they are


@dataclass
class InstallState:
    stages: dict[str, StageState] = field(default_factory=dict)
    version: int = STATE_VERSION
    # Secrets the wizard generated for this directory (names only): secret.yaml must still hold them.
    generated_secrets: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict, repr=False)

    def stage(self, name: str) -> StageState:
        return self.stages.setdefault(name, StageState())

    def to_json(self) -> str:
        stages = {name: {**st.extra, **{k: v for k, v in asdict(st).items() if k != "extra"}}
                  for name, st in self.stages.items()}
        data = {**self.extra, "version": self.version, "stages": stages}
        if self.generated_secrets:
            data["generated_secrets"] = list(self.generated_secrets)
        return json.dumps(data, indent=2) + "\n"


class StateFileError(Exception):
    pass


_FIELD_KINDS = {"started": "number", "finished": "number", "fingerprint": "text", "error": "text"}


def _kind(value) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _object(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise StateFileError(f"the key {key[:40]!r} appears twice in one object")
        seen[key] = value
    return seen


def _parse(path: Path, text: str) -> dict:
    def bad(what: str) -> StateFileError:
        return StateFileError(f"{path}: {what}. Fix it, or move it away to start the stages afresh")

    def no_constant(name: str):
        raise bad(f"holds {name}, which is not a number JSON allows")

    try:
        data = json.loads(text, object_pairs_hook=_object, parse_constant=no_constant)
    except StateFileError as err:
        raise bad(str(err)) from None
    except RecursionError:
        raise bad("is nested too deeply") from None
    except ValueError as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        raise bad(f"is not readable JSON{where}") from None
    if not isinstance(data, dict):
        raise bad(f"holds {_kind(data)}; expected an object with version and stages")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise bad(f"has version {_kind(version) if not isinstance(version, int) or isinstance(version, bool) else version}"
                  f"; expected a whole number from 1")
    if version > STATE_VERSION:
        raise StateFileError(f"{path} was written by a newer binderhub-wizard (state version {version}); this one "
                             f"reads up to version {STATE_VERSION}. Use binderhub-wizard that reads state version "
                             f"{version} or later; the file is left as it is")
    stages = data.get("stages", {})
    if not isinstance(stages, dict):
        raise bad(f"has stages as {_kind(stages)}; expected an object of stage name -> record")
    for name, record in stages.items():
        if not name or not isinstance(record, dict):
            raise bad(f"has a stage {name!r} that is {_kind(record)}; expected an object")
        if record.get("status") not in STATUSES:
            raise bad(f"has stages.{name}.status {_shown(record.get('status'))}; expected one of {', '.join(STATUSES)}")
        for key, kind in _FIELD_KINDS.items():
            value = record.get(key)
            ok = value is None or (kind == "text" and isinstance(value, str)) or (
                kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool))
            if not ok:
                raise bad(f"has stages.{name}.{key} as {_kind(value)}; expected {kind} or null")
    generated = data.get("generated_secrets", [])
    if not isinstance(generated, list) or not all(isinstance(item, str) for item in generated):
        raise bad("has generated_secrets that is not a list of names")
    return data


def _shown(value) -> str:
    return repr(value) if isinstance(value, str) and len(value) <= 40 else _kind(value)


def load_state(directory: Path) -> InstallState:
    """The directory's state, validated: any other shape is refused with what is wrong (never a
    traceback); fields this version does not know are kept for the next write."""
    path = directory / STATE_FILE
    try:
        raw = read_private(path)
    except FileNotFoundError:
        return InstallState()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StateFileError(f"{path}: is not UTF-8 text. Fix it, or move it away to start the stages afresh") from None
    data = _parse(path, text)
    known = set(StageState.__dataclass_fields__) - {"extra"}
    stages = {}
    for name, record in data.get("stages", {}).items():
        stages[name] = StageState(**{k: record.get(k) for k in known if k in record},
                                  extra={k: v for k, v in record.items() if k not in known})
    state = InstallState(stages, data["version"], list(data.get("generated_secrets", [])),
                         {k: v for k, v in data.items() if k not in ("version", "stages", "generated_secrets")})
    # A stage still "running" in the file was cut off (killed): it did not finish.
    for st in state.stages.values():
        if st.status == "running":
            st.status = "interrupted"
    return state


def save_state(directory: Path, state: InstallState) -> None:
    write_atomic(directory / STATE_FILE, state.to_json(), 0o644)


class LockHeld(Exception):
    pass


class InstallLock:
    """An exclusive flock on DIR/.install.lock, taken by install and export alike. The kernel drops
    it when the holder dies, even by SIGKILL, so a stale lock never blocks the next run; the file
    only says who holds it. Re-entrant within a process: an install that re-renders (export) while
    holding it takes it again."""

    _held: dict[str, tuple[int, int]] = {}  # real path of DIR -> (fd, depth), for this process
    _guard = threading.Lock()

    def __init__(self, directory: Path):
        self.directory = directory
        self.path = directory / LOCK_FILE
        self._key: str | None = None

    def __enter__(self) -> "InstallLock":
        ensure_directory(self.directory)
        key = os.path.realpath(self.directory)
        with self._guard:
            if key in self._held:
                fd, depth = self._held[key]
                self._held[key] = (fd, depth + 1)
                self._key = key
                return self
            fd = open_private(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 512).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise LockHeld(f"another install is running in {self.directory} (or an export): {holder}. "
                               "Wait for it to finish, or stop it.") from None
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                             f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            except OSError:
                pass  # only a note for whoever waits (a full disk must not stop us here)
            self._held[key] = (fd, 1)
            self._key = key
        return self

    def __exit__(self, *exc) -> None:
        if self._key is None:
            return
        with self._guard:
            fd, depth = self._held[self._key]
            if depth > 1:
                self._held[self._key] = (fd, depth - 1)
            else:
                del self._held[self._key]
                os.close(fd)
        self._key = None
