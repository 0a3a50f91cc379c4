"""The one way the wizard runs an external command (helm, kubectl, kubeadm), built on `sh`.

Every command and its full output go to DIR/install.log with every secret masked; output lines
also go to a listener (the CLI or the TUI) as they arrive. A dry run records and shows the commands
that would change something and runs none of them. Cancel stops running commands cleanly.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from . import redact
from .installdir import LOG_FILE, open_private  # noqa: F401 - LOG_FILE: named in installdir

MASK = redact.MASK


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int
    output: str          # stdout and stderr as they interleaved, masked
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.rstrip("\n").splitlines()[-lines:])


TIMED_OUT = 124  # the exit code of a command stopped at its time limit (as timeout(1) has it)
LIMITED = ("helm", "kubectl")  # the commands that talk to the API server, and may hang on it


def time_limit(timeout: float) -> float:
    """How long one helm or kubectl command may run, from --timeout (how long each check waits):
    the same again as a margin, at most 30 s more. helm without --wait returns once it has sent
    its objects (hook Jobs excepted, which it bounds itself at 5 minutes)."""
    return timeout + min(30.0, timeout)


class CommandFailed(Exception):
    def __init__(self, result: CommandResult, display: str, limit: float | None = None):
        if result.exit_code == TIMED_OUT and limit is not None:
            message = (f"`{display}` did not finish within {limit:.0f} s and was stopped (each helm and kubectl "
                       "command may take --timeout plus a margin); the cluster's API server answers too slowly or "
                       "not at all: check it (kubectl get --raw /readyz), then run again to retry")
        else:
            message = f"`{display}` exited with {result.exit_code}"
        super().__init__(message)
        self.result = result
        self.display = display


class Cancelled(Exception):
    pass


OutputListener = Callable[[str, str], None]  # (stage, masked line)


class Masker:
    """Masks secrets in what a command prints or a message says: these secrets, and every other
    one the process knows (wizard.redact is the one masking path)."""

    def __init__(self, secrets: Iterable[str] = ()):
        redact.remember(*secrets)

    def add(self, secret: str) -> None:
        redact.remember(secret)

    def __call__(self, text: str) -> str:
        return redact.redact(text)


def _load_libc():
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None  # not Linux: a command may outlive a killed wizard


# Loaded here, in the parent: the forked child of a threaded process must not import a module or
# load a library (an import lock or the loader's lock another thread held at the fork stays held
# forever in the child, which then hangs before its exec; seen with a kubectl that never started).
_LIBC = _load_libc()


def _die_with_parent() -> None:
    """In the child, before exec: if the wizard dies (even by SIGKILL), the kernel kills this
    command too, so no orphaned helm keeps changing the cluster behind the next run's back."""
    if _LIBC is not None:
        try:
            _LIBC.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
        except AttributeError:
            pass


class Runner:
    def __init__(self, log_path: Path, masker: Masker | None = None, *, dry_run: bool = False,
                 listener: OutputListener | None = None, env: dict[str, str] | None = None,
                 command_limit: float | None = None):
        self.log_path = log_path
        self.command_limit = command_limit  # seconds a helm or kubectl command may run; None: no limit
        self.mask = masker or Masker()
        self.dry_run = dry_run
        self.listener = listener
        self.env = env
        self.planned: list[tuple[str, str]] = []   # (stage, masked command) seen in a dry run
        self._lock = threading.Lock()
        self._running: dict[int, object] = {}  # id -> sh RunningCommand (not hashable)
        self._cancelled = threading.Event()
        self._refusing = threading.Event()  # refuse_new(): no command starts; running ones end as they will

    # --- logging -----------------------------------------------------------------------------
    def log(self, stage: str, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        masked = self.mask(text)
        with self._lock:
            # Never through a link: a planted install.log -> /etc/... must not be appended to.
            try:
                fd = open_private(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except FileNotFoundError:
                return  # its directory is gone: a scratch copy removed while output still trickled in
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                for line in masked.splitlines() or [""]:
                    handle.write(f"{stamp} [{stage}] {line}\n")

    def _emit(self, stage: str, line: str) -> None:
        if self.listener:
            self.listener(stage, line)

    # --- running -----------------------------------------------------------------------------
    def run(self, stage: str, argv: list[str], *, mutating: bool = True, stdin: str | None = None,
            check: bool = True, timeout: float | None = None, hide_output: bool = False) -> CommandResult:
        """Run argv; raise CommandFailed on a non-zero exit when `check`. In a dry run a mutating
        command is only recorded; a read-only one (a `get`, a `version`) still runs. With
        `hide_output` (output that is itself a secret, like a join token) nothing of the output is
        logged or shown, and the result carries it unmasked for the caller alone."""
        display = self.mask(" ".join(shlex.quote(a) for a in argv))
        if stdin is not None and len(stdin) <= 200:
            display += f" <<< {shlex.quote(self.mask(stdin))}"
        if self.cancelled:
            raise Cancelled(display)
        if self.dry_run and mutating:
            self.planned.append((stage, display))
            self.log(stage, f"(dry run) would run: {display}")
            self._emit(stage, f"would run: {display}")
            return CommandResult(tuple(argv), 0, "", dry_run=True)
        import sh  # the runner is the only user; keeps `wizard --help` and export free of it

        self.log(stage, f"$ {display}")
        self._emit(stage, f"$ {display}")
        if timeout is None and os.path.basename(argv[0]) in LIMITED:
            timeout = self.command_limit
        chunks: list[str] = []

        def collect(line: str) -> None:
            if hide_output:
                chunks.append(line.rstrip("\n"))
                return
            masked = self.mask(line.rstrip("\n"))
            chunks.append(masked)
            self.log(stage, masked)
            self._emit(stage, masked)

        try:
            command = sh.Command(argv[0])
        except sh.CommandNotFound:
            result = CommandResult(tuple(argv), 127, f"{argv[0]}: command not found")
            self.log(stage, result.output)
            if check:
                raise CommandFailed(result, display) from None
            return result
        # No input: stdin at end of file at once. Left open, a command that asks (kubectl prompting
        # for a username when the kubeconfig's user is empty) would wait for ever on a pipe no one writes.
        process = command(*argv[1:], _out=collect, _err=collect, _bg=True, _bg_exc=False,
                          _in=stdin if stdin is not None else "", _env=self.env or dict(os.environ), _new_session=True,
                          _timeout=timeout, _preexec_fn=_die_with_parent)
        with self._lock:
            self._running[id(process)] = process
        try:
            try:
                process.wait()
            except (KeyboardInterrupt, SystemExit):
                # Ctrl+C or SIGTERM while waiting: the command must not outlive the wizard's exit.
                self._kill(process)
                raise
            code = 0
        except sh.ErrorReturnCode as err:
            code = err.exit_code
        except sh.SignalException as err:
            code = -abs(getattr(err, "exit_code", 1))
        except sh.TimeoutException:
            code = TIMED_OUT
            chunks.append(f"(stopped after {timeout:.0f} s: the time limit of this command)")
        finally:
            with self._lock:
                self._running.pop(id(process), None)
        if self._cancelled.is_set():
            self.log(stage, f"(cancelled) {display}")
            raise Cancelled(display)
        result = CommandResult(tuple(argv), code, "\n".join(chunks))
        self.log(stage, f"exit {code}" + (" (output not logged: it holds a secret)" if hide_output else ""))
        if check and code != 0:
            raise CommandFailed(result, display, timeout)
        return result

    @staticmethod
    def _kill(process) -> None:
        try:
            process.signal_group(9)
            process.wait()
        except Exception:  # noqa: BLE001 - gone already, or it ended with an error code
            pass

    def cancel(self) -> None:
        """Stop every running command: SIGTERM to its process group, SIGKILL after 5 s."""
        self._cancelled.set()
        with self._lock:
            running = list(self._running.values())
        for process in running:
            try:
                process.signal_group(15)
            except (ProcessLookupError, OSError):
                continue
        deadline = time.monotonic() + 5
        for process in running:
            while process.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if process.is_alive():
                try:
                    process.signal_group(9)
                except (ProcessLookupError, OSError):
                    pass

    def refuse_new(self) -> None:
        """Start no more commands (each raises Cancelled), but let a running one finish and return
        its result: for work where a command killed half-way is worse than waiting for it (a removal)."""
        self._refusing.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set() or self._refusing.is_set()
