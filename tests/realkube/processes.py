"""Child processes of the test control plane that cannot outlive the test run.

Three layers, because each covers a way the run can end that the others miss:
- a normal end or Ctrl+C: the fixtures stop every process (SIGTERM to its process group, then SIGKILL);
- an exception that skips the fixtures' teardown, or `sys.exit`: an atexit hook kills what is left;
- SIGKILL of pytest itself: the kernel sends each child SIGKILL (PR_SET_PDEATHSIG, Linux).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_running: dict[int, "Process"] = {}


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Process:
    """One binary with its log file; its own process group, so stopping it reaches any children."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          env=env, start_new_session=True, preexec_fn=_die_with_parent)
        _running[self.popen.pid] = self

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, grace: float = 5.0) -> None:
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait(5)
        _running.pop(self.popen.pid, None)

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass


class StartupError(RuntimeError):
    """A component did not come up: names it and shows the end of its log."""

    def __init__(self, what: str, process: Process | None = None):
        detail = f"\n--- last lines of {process.log_path} ---\n{process.tail()}" if process else ""
        super().__init__(f"{what}{detail}")


def wait_until(ready, what: str, timeout: float, *watched: Process, interval: float = 0.05):
    """Poll `ready()` until it returns a true value; fail early, with its log, when a process died."""
    deadline = time.monotonic() + timeout
    while True:
        for process in watched:
            if not process.alive():
                raise StartupError(f"{process.name} exited with {process.popen.returncode} while waiting for {what}",
                                   process)
        result = ready()
        if result:
            return result
        if time.monotonic() > deadline:
            raise StartupError(f"gave up after {timeout:.0f}s waiting for {what}", watched[0] if watched else None)
        time.sleep(interval)


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_running.values()):
        process._signal(signal.SIGKILL)
