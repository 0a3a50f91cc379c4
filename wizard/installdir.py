"""The install directory: answers, rendered files, secrets (0600), state and log live in it.

The directory is created 0700 (whatever the umask: secrets live in it). Files in it are never
opened through a symbolic link (O_NOFOLLOW), so a link planted there cannot make the wizard read or
write elsewhere. Writes are atomic (a temporary file in the same directory, then rename), and a
file that holds a secret is created 0600 before its first byte is written. A set of files is
written all or nothing: every new content is staged first, and only then renamed into place.
"""

from __future__ import annotations

import atexit
import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

# Every file of the install directory the wizard itself reads or writes (the rendered files are
# named by the render and the plan's stages).
ANSWERS_FILE = "answers.yaml"   # the answers, no secrets
SECRET_FILE = "secret.yaml"     # every secret, 0600
STATE_FILE = "state.json"       # each stage's status and fingerprint
LOG_FILE = "install.log"        # every command and its output, secrets masked
LOCK_FILE = ".install.lock"     # held by the one install or export at work in the directory
BACKUPS_DIR = "backups"         # backups/TIMESTAMP/: hub database, secret.yaml, answers, ledger (0700)
APPLIED_DIR = "applied"         # applied/: secret.yaml and answers as the hub last ran them (0700)
LEDGER_FILE = "ledger.jsonl"    # what each stage created or changed, append only, no secrets (wizard/ledger.py)
DIAGNOSTICS_PREFIX = "diagnostics-"  # DIR/diagnostics-TIMESTAMP.tar.gz, written by `wizard diagnose`

_CAUSES = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (check the owner and mode of the directory, or run as its owner)",
    errno.EPERM: "the operation is not permitted",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ELOOP: "it is a symbolic link, which the wizard does not follow inside the install directory",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EEXIST: "it exists and is not a directory",
    errno.EIO: "an input/output error of the device",
}


class InstallDirError(Exception):
    """The install directory could not be read or written: one line saying what and why."""


def explain(err: OSError, action: str, path: Path | str) -> InstallDirError:
    cause = _CAUSES.get(err.errno or 0) or (err.strerror or err.__class__.__name__).lower()
    name = errno.errorcode.get(err.errno or 0, "")
    return InstallDirError(f"cannot {action} {path}: {cause}" + (f" ({name})" if name else ""))


@dataclass(frozen=True)
class RenderedFile:
    name: str
    content: str
    mode: int = 0o644
    secret: bool = False


def ensure_directory(directory: Path) -> bool:
    """Create DIR 0700 if missing (its parents as the umask says); True when it was created."""
    if directory.is_dir():
        return False
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.mkdir(mode=0o700)
        return True
    except FileExistsError:
        if directory.is_dir():
            return False
        raise explain(OSError(errno.EEXIST, "exists"), "create the install directory", directory) from None
    except OSError as err:
        raise explain(err, "create the install directory", directory) from None


def open_private(path: Path, flags: int, mode: int = 0o600) -> int:
    """os.open without following a symbolic link at `path`; errors explained in one line."""
    try:
        return os.open(path, flags | _NOFOLLOW, mode)
    except FileNotFoundError:
        raise
    except OSError as err:
        action = "write" if flags & (os.O_WRONLY | os.O_RDWR) else "read"
        raise explain(err, action, path) from None


def read_private(path: Path) -> bytes:
    """The bytes of a file of the install directory (FileNotFoundError if it is not there)."""
    fd = open_private(path, os.O_RDONLY)
    try:
        with os.fdopen(fd, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise explain(err, "read", path) from None


def _stage(path: Path, data: bytes, mode: int) -> str:
    """A fully written, synced temporary file beside `path`; its name."""
    # mkstemp creates the file 0600 with O_EXCL, so a secret is never readable by others, not even
    # briefly, and no link is followed.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def write_atomic(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    ensure_directory(path.parent)
    try:
        tmp = _stage(path, data, mode)
    except OSError as err:
        raise explain(err, "write", path) from None
    try:
        os.replace(tmp, path)  # a link at `path` is replaced, never followed
    except OSError as err:
        _remove(tmp)
        raise explain(err, "write", path) from None
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True)
class WriteReport:
    written: list[str]
    unchanged: list[str]


class PartialWrite(InstallDirError):
    """Renaming the staged files failed part-way: says exactly which files are new."""


def _unchanged(path: Path, item: RenderedFile) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return False  # missing, or a link: (re)write it
    try:
        same_mode = (os.fstat(fd).st_mode & 0o777) == item.mode
        with os.fdopen(fd, "rb") as handle:
            return same_mode and handle.read() == item.content.encode("utf-8")
    except OSError:
        return False


def write_files(directory: Path, files: list[RenderedFile]) -> WriteReport:
    """Write every file whose content or mode changed; leave the others untouched. All or nothing:
    on a full disk or a read-only directory, no file changes (and a directory made for it goes)."""
    created = ensure_directory(directory)
    changed = [item for item in files if not _unchanged(directory / item.name, item)]
    staged: list[tuple[str, RenderedFile]] = []
    try:
        for item in changed:
            staged.append((_stage(directory / item.name, item.content.encode("utf-8"), item.mode), item))
    except OSError as err:
        for tmp, _item in staged:
            _remove(tmp)
        if created:
            _remove_empty(directory)
        raise explain(err, "write", directory / item.name) from None
    written: list[str] = []
    for index, (tmp, item) in enumerate(staged):
        try:
            os.replace(tmp, directory / item.name)
        except OSError as err:
            for rest, _item in staged[index:]:
                _remove(rest)
            missing = [i.name for _t, i in staged[index:]]
            raise PartialWrite(f"{explain(err, 'write', directory / item.name)}; written before that: "
                               f"{', '.join(written) or 'none'}; not written: {', '.join(missing)}") from None
        written.append(item.name)
    _fsync_dir(directory)
    return WriteReport(written, [item.name for item in files if item not in changed])


def _remove_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


# --- the install directory as one object -----------------------------------------------------------

_scratch: set[Path] = set()  # scratch copies (they hold secret.yaml) not yet removed


def scratch_directory() -> Path:
    """A private scratch directory, removed by `remove_scratch` or, at the latest, when the process
    ends, even by SIGTERM (the CLI turns it into an exit): it may hold a copy of secret.yaml."""
    path = Path(tempfile.mkdtemp(prefix="binderhub-wizard-"))
    _scratch.add(path)
    return path


def remove_scratch(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    _scratch.discard(path)


def remove_all_scratch() -> None:
    for path in list(_scratch):
        remove_scratch(path)


atexit.register(remove_all_scratch)
