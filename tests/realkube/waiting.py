"""A test's own polling (never the product's: the wizard waits with watches)."""

from __future__ import annotations

import time


def wait_for(predicate, what: str, timeout: float = 30, interval: float = 0.1):
    """Poll until `predicate()` returns something true, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
