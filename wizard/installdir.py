"""The install directory: answers, rendered files, secrets (0600), state and log live in it.

Writes are atomic (a temporary file in the same directory, then rename), and a file that holds a
secret is created 0600 before its first byte is written.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RenderedFile:
    name: str
    content: str
    mode: int = 0o644
    secret: bool = False


def write_atomic(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600, so a secret is never readable by others, not even briefly.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
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


def write_files(directory: Path, files: list[RenderedFile]) -> WriteReport:
    """Write every file whose content or mode changed; leave the others untouched."""
    directory.mkdir(parents=True, exist_ok=True)
    written, unchanged = [], []
    for item in files:
        path = directory / item.name
        try:
            same = path.read_text(encoding="utf-8") == item.content and (path.stat().st_mode & 0o777) == item.mode
        except (FileNotFoundError, UnicodeDecodeError):
            same = False
        if same:
            unchanged.append(item.name)
            continue
        write_atomic(path, item.content, item.mode)
        written.append(item.name)
    return WriteReport(written, unchanged)
