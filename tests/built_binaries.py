"""Real upstream programs built from source for the tests (kubeadm, containerd): found at the path
an environment variable names, or in the cache scripts/build-control-plane.sh fills. Missing is a
skip on a developer's machine and a failure in CI, where the build script must have made them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest


def control_plane_cache() -> Path:
    """${BINDERHUB_WIZARD_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/binderhub-wizard/control-plane}"""
    if os.environ.get("BINDERHUB_WIZARD_CONTROL_PLANE_CACHE"):
        return Path(os.environ["BINDERHUB_WIZARD_CONTROL_PLANE_CACHE"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "binderhub-wizard" / "control-plane"


def version_of(program: Path, *args: str) -> str:
    run = subprocess.run([str(program), *args], capture_output=True, text=True, timeout=60)
    return run.stdout.strip() if run.returncode == 0 else f"(failed: {run.stderr.strip()})"


def built(name: str, env: str, version_args: tuple[str, ...], fits: Callable[[str], bool], wanted: str) -> Path:
    """The first `name` (from $env, else CACHE/*/name) whose version output `fits`."""
    candidates = [Path(os.environ[env])] if os.environ.get(env) else sorted(control_plane_cache().glob(f"*/{name}"))
    found = {path: version_of(path, *version_args) for path in candidates if os.access(path, os.X_OK)}
    for path, version in found.items():
        if fits(version):
            return path
    where = os.environ.get(env) or f"{control_plane_cache()}/*/{name}"
    seen = ", ".join(f"{p}: {v}" for p, v in found.items()) or "none found"
    reason = (f"no {wanted} at {where} ({seen}): build it with scripts/build-control-plane.sh "
              f"or point {env} at one")
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
