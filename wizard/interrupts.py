"""Ctrl+C and SIGTERM in the headless commands. The first one stops the work: an install cancels
its stages (recorded as interrupted), anything else unwinds, so scratch copies of secret.yaml are
removed. Any later one is ignored while that happens. The command then exits 1 with a message,
never killed half-way by the signal itself."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_stopping = threading.Event()


def _raise_once(signum, frame) -> None:  # noqa: ARG001
    if _stopping.is_set():
        return
    _stopping.set()
    raise KeyboardInterrupt


@contextmanager
def handled() -> Iterator[None]:
    """For a whole command: the first signal raises KeyboardInterrupt, later ones do nothing."""
    _stopping.clear()
    previous = {number: signal.signal(number, _raise_once) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            # Stopping already: the command is on its way out, and another signal must not cut that short.
            signal.signal(number, signal.SIG_IGN if _stopping.is_set() else handler)


@contextmanager
def cancelling(cancel: Callable[[], None]) -> Iterator[None]:
    """While stages run: the first signal calls `cancel` instead (the stages stop and record it)."""
    def handler(signum, frame) -> None:  # noqa: ARG001
        if not _stopping.is_set():
            _stopping.set()
            cancel()

    previous = {number: signal.signal(number, handler) for number in SIGNALS}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def stopping() -> bool:
    return _stopping.is_set()
