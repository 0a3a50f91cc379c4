"""The install directory as one object: where each of its files is (their names are in
wizard/installdir.py, with the safe ways to read and write them), its secrets (read once), its
state, its lock, scratch copies of it, and starting over. Light: no kubernetes, no Textual."""

from __future__ import annotations

from pathlib import Path

from .installdir import (ANSWERS_FILE, LOG_FILE, SECRET_FILE, STATE_FILE, read_private, remove_scratch,
                         scratch_directory, write_atomic)
from .secretstore import read_stored
from .state import InstallLock, InstallState, load_state


class InstallDir:
    """The install directory: where each of its files is, its secrets (read once), its state,
    its lock, and scratch copies of it that the directory itself never sees."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._secrets: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"InstallDir({str(self.path)!r})"

    @property
    def answers(self) -> Path:
        return self.path / ANSWERS_FILE

    @property
    def secret_file(self) -> Path:
        return self.path / SECRET_FILE

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    @property
    def log(self) -> Path:
        return self.path / LOG_FILE

    def existing(self) -> bool:
        """An install was started here: answers or a state."""
        return self.answers.exists() or self.state_file.exists()

    def secrets(self) -> dict[str, str]:
        """The stored secrets by answer path, read once (SecretFileError if secret.yaml is bad)."""
        if self._secrets is None:
            self._secrets = read_stored(self.path)
        return self._secrets

    def forget_secrets(self) -> None:
        """secret.yaml was (re)written: read it again when next asked."""
        self._secrets = None

    def state(self) -> InstallState:
        return load_state(self.path)

    def lock(self) -> InstallLock:
        return InstallLock(self.path)

    def scratch_copy(self) -> Path:
        """A scratch directory holding a copy of secret.yaml (if any): rendering there leaves DIR as it is."""
        target = scratch_directory()
        try:
            write_atomic(target / SECRET_FILE, read_private(self.secret_file), 0o600)
        except FileNotFoundError:
            pass
        except BaseException:
            remove_scratch(target)
            raise
        return target

    def clear(self, *, secrets: bool) -> None:
        """Start over: answers and state go; secret.yaml too when asked."""
        for name in (ANSWERS_FILE, STATE_FILE, *((SECRET_FILE,) if secrets else ())):
            try:
                (self.path / name).unlink()
            except FileNotFoundError:
                pass
        self.forget_secrets()
