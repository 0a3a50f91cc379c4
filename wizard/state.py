"""The state of an install directory: `state.json` (per stage: status, times, fingerprint of the
inputs it applied, last error) and the lock that allows one install at a time.

state.json never holds a secret: fingerprints of files that carry secrets are keyed hashes, and
error texts are masked by the runner before they get here.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .installdir import write_atomic

STATE_FILE = "state.json"
LOCK_FILE = ".install.lock"
STATUSES = ("pending", "running", "done", "failed", "interrupted", "skipped")


@dataclass
class StageState:
    status: str = "pending"
    started: float | None = None
    finished: float | None = None
    fingerprint: str | None = None
    error: str | None = None


@dataclass
class InstallState:
    stages: dict[str, StageState] = field(default_factory=dict)
    version: int = 1

    def stage(self, name: str) -> StageState:
        return self.stages.setdefault(name, StageState())

    def to_json(self) -> str:
        return json.dumps({"version": self.version,
                           "stages": {name: asdict(st) for name, st in self.stages.items()}}, indent=2) + "\n"


class StateFileError(Exception):
    pass


def load_state(directory: Path) -> InstallState:
    path = directory / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return InstallState()
    except (ValueError, UnicodeDecodeError):
        raise StateFileError(f"{path} is not readable JSON; move it away to start the stages afresh") from None
    stages = {}
    for name, raw in (data.get("stages") or {}).items():
        known = {k: raw.get(k) for k in StageState.__dataclass_fields__}
        if known.get("status") not in STATUSES:
            known["status"] = "pending"
        stages[name] = StageState(**known)
    state = InstallState(stages)
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
    """An exclusive flock on DIR/.install.lock. The kernel drops it when the holder dies, even by
    SIGKILL, so a stale lock never blocks the next run; the file only says who holds it."""

    def __init__(self, directory: Path):
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> "InstallLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 512).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise LockHeld(f"another install is running in {self.path.parent}: {holder}. "
                           "Wait for it to finish, or stop it.") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
