"""Secrets: where each lives in `secret.yaml`, reading them back, and generating missing ones.

`secret.yaml` is a helm values file (merged over config.yaml). It is also the store: a re-export
reads the secrets it holds and reuses them, so tokens are generated once and never rotated.
"""

from __future__ import annotations

import secrets as _random
from pathlib import Path
from typing import Callable

from . import redact, yamlio
from .installdir import SECRET_FILE, read_private  # noqa: F401 - SECRET_FILE: named in installdir


# answer path (or generated.NAME) -> path inside the BinderHub chart values
LOCATIONS: dict[str, tuple[str, ...]] = {
    "generated.proxy_secret_token": ("jupyterhub", "proxy", "secretToken"),
    "generated.binder_api_token": ("jupyterhub", "hub", "services", "binder", "apiToken"),
    "auth.client_secret": ("jupyterhub", "hub", "config", "GenericOAuthenticator", "client_secret"),
    "registry.password": ("registry", "password"),
    "hub.database.password": ("jupyterhub", "hub", "db", "password"),
    "generated.launch_check_token": ("jupyterhub", "hub", "services", "launch-check", "apiToken"),
}
# Generated like the original notes' `openssl rand -hex 32`.
GENERATED = ("generated.proxy_secret_token", "generated.binder_api_token", "generated.launch_check_token")
# What a new value of a generated secret does to a running install (said before rotating one).
ROTATION_EFFECTS = {
    "generated.proxy_secret_token": "the hub and its proxy restart with a new shared token; until both have, "
                                    "the hub cannot add routes and new servers are unreachable",
    "generated.binder_api_token": "BinderHub's token for the hub changes; launches in flight fail, and "
                                  "BinderHub cannot start servers until the hub and BinderHub both restarted",
    "generated.launch_check_token": "the launch check's token for the hub changes; `wizard verify --launch` "
                                    "fails until the hub restarted with it",
    "registry.password": "the in-cluster registry gets a new password; pushes and pulls with the old one "
                         "fail until BinderHub and the registry restarted (images already built stay)",
}


class SecretFileError(Exception):
    pass


def read_stored(directory: Path) -> dict[str, str]:
    """Secrets already in DIR/secret.yaml, by answer path. Missing file: none."""
    path = directory / SECRET_FILE
    try:
        text = read_private(path).decode("utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise SecretFileError(f"{path} is not UTF-8 text; fix or move it (it holds the install's secrets, so "
                              "the wizard will not overwrite it)") from None
    try:
        values = yamlio.loads(text) or {}
    except yamlio.YAMLShapeError as err:
        raise SecretFileError(f"{path}: {err}. Fix it (it holds the install's secrets, so the wizard will not "
                              "overwrite it)") from None
    except yamlio.YAMLError:
        # Never include the parser's message: it quotes the line, which may hold a secret.
        raise SecretFileError(f"{path} is not valid YAML; fix or move it (it holds the install's "
                              "secrets, so the wizard will not overwrite it)") from None
    stored: dict[str, str] = {}
    for key, location in LOCATIONS.items():
        node = values
        for part in location:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str) and node:
            stored[key] = node
    redact.remember(*stored.values())
    return stored


def new_token() -> str:
    return _random.token_hex(32)


def complete(given: dict[str, str], stored: dict[str, str], generate: tuple[str, ...] | list[str] = GENERATED,
             token: Callable[[], str] = new_token) -> dict[str, str]:
    """All secrets of an install: answers first, then stored ones, then new tokens for the rest."""
    merged = dict(stored)
    merged.update(given)
    for key in generate:
        if key not in merged:
            merged[key] = token()
    redact.remember(*merged.values())
    return merged


def values(all_secrets: dict[str, str]) -> dict:
    """The secret.yaml values tree."""
    tree: dict = {}
    for key, location in LOCATIONS.items():
        if key not in all_secrets:
            continue
        node = tree
        for part in location[:-1]:
            node = node.setdefault(part, {})
        node[location[-1]] = all_secrets[key]
    return tree


def store(directory: Path, given: dict[str, str]) -> list[str]:
    """Write secrets typed but not yet exported into DIR/secret.yaml now, at their chart keys,
    keeping everything else the file holds: 0600, atomically, under the install lock (so never
    beside a running install or export). The next export reads them back like any stored secret.
    A file that cannot be read is refused (SecretFileError), never overwritten. Returns the answer
    paths written."""
    from . import __version__
    from .installdir import write_atomic
    from .state import InstallLock

    known = {path: value for path, value in given.items() if path in LOCATIONS and isinstance(value, str) and value}
    if not known:
        return []
    redact.remember(*known.values())
    path = directory / SECRET_FILE
    with InstallLock(directory):
        read_stored(directory)  # the same checks as every reader: raises on a file it cannot read
        try:
            tree = yamlio.loads(read_private(path).decode("utf-8")) or {}
        except FileNotFoundError:
            tree = {}
        for key, value in known.items():
            node = tree
            for part in LOCATIONS[key][:-1]:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            node[LOCATIONS[key][-1]] = value
        write_atomic(path, f"# Written by binderhub-wizard {__version__}. Secrets: keep this file private "
                           "(mode 0600). Reused on every re-run.\n" + yamlio.dumps(tree), 0o600)
    return sorted(known)
