"""The one masking path. Every secret the wizard learns (answers, secret.yaml, generated tokens,
passwords written into URLs) is remembered here, and every message it shows or keeps (the
terminal, install.log, state.json, problems in the answers) passes through `redact`.

A secret is masked in each form a message may carry it: as typed, escaped the way repr, JSON,
YAML and URLs escape it, and line by line when it spans lines. A password in a URL is masked
whatever it contains (`@`, `:`, `/`, `%`, spaces, line breaks): the user part ends at the first
`:` after `://`, the password at the last `@`.
"""

from __future__ import annotations

import io
import json
import re
import sys
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator
from urllib.parse import quote, quote_plus, unquote

MASK = "****"
MIN_LENGTH = 4  # shorter values are not masked: every "abc" in a log would go
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def url_password(text: str) -> str | None:
    """The password written into a URL (`scheme://user:PASSWORD@host...`), or None."""
    match = _SCHEME.search(text)
    if not match:
        return None
    at = text.rfind("@", match.end())
    user, colon, password = text[match.end():at].partition(":") if at != -1 else ("", "", "")
    return password if colon and password else None


def hide_url_credentials(text: str) -> str:
    """The text with the password of each URL in it replaced by ****."""
    out: list[str] = []
    position = 0
    for match in _SCHEME.finditer(text):
        if match.start() < position:
            continue
        at = text.rfind("@", match.end())
        if at == -1:
            continue
        user, colon, _password = text[match.end():at].partition(":")
        if not colon:
            continue
        out.append(text[position:match.end()] + user + ":" + MASK)
        position = at
    out.append(text[position:])
    return "".join(out)


def _forms(secret: str) -> set[str]:
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             secret.replace("'", "''"), quote(secret, safe=""), quote(secret), quote_plus(secret), unquote(secret)}
    forms.update(secret.splitlines())
    return {form for form in forms if len(form) >= MIN_LENGTH}


class Redactor:
    """Known secrets, masked longest first (one secret may contain another)."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._lock = threading.Lock()
        self._forms: list[str] = []
        self._known: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        fresh = [s for s in secrets if isinstance(s, str) and len(s) >= MIN_LENGTH and s not in self._known]
        if not fresh:
            return
        with self._lock:
            self._known.update(fresh)
            forms = set(self._forms)
            for secret in fresh:
                forms |= _forms(secret)
            self._forms = sorted(forms, key=len, reverse=True)

    def clear(self) -> None:
        with self._lock:
            self._forms, self._known = [], set()

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return hide_url_credentials(text) if "://" in text else text


# The process's secrets: the CLI's output, the runner's log and the engine's state all mask with it.
everything = Redactor()


def remember(*secrets: str) -> None:
    everything.add(*secrets)


def redact(text: str) -> str:
    return everything(text)


def remember_answers(raw: object) -> None:
    """Every password written into a URL anywhere in raw answers (a refused URL included)."""
    stack = [raw]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and "://" in node:
            password = url_password(node)
            if password:
                remember(password)


class RedactingStream(io.TextIOBase):
    """stdout or stderr with every message masked. Whole messages: text is held until it ends a
    line (print's newline), so a secret is never split between two writes."""

    def __init__(self, inner):
        self.inner = inner
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if self._pending.endswith("\n"):
                self._emit()
        return len(text)

    def _emit(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            self.inner.write(redact(pending))

    def flush(self) -> None:
        with self._lock:
            self._emit()
        self.inner.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")


@contextmanager
def masked_output() -> Iterator[None]:
    """sys.stdout and sys.stderr masked for the duration (a traceback included)."""
    everything.clear()  # one command, its own secrets (a test may run several in one process)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    try:
        yield
    finally:
        for wrapped in (sys.stdout, sys.stderr):
            try:
                wrapped.flush()
            except (OSError, ValueError):
                pass  # a closed pipe: nothing more to show
        sys.stdout, sys.stderr = streams
