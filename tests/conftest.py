"""Shared fixtures: the upstream schemas beside the repository, and rendering the example answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# ../shared beside the repository; a git worktree under a folder of worktrees finds it one level up.
UPSTREAM = next((base / "shared" / "upstream" for base in (REPO.parent, REPO.parent.parent)
                 if (base / "shared" / "upstream").is_dir()), REPO.parent / "shared" / "upstream")
# The tests' answers: every section filled (Keycloak, an external registry with its password,
# ingress-nginx), so one file reaches every renderer. The README's example (examples/answers.yaml)
# holds no secrets and is tested on its own (tests/test_examples.py).
EXAMPLE_ANSWERS = REPO / "tests" / "data" / "full-answers.yaml"
FIXED_TOKENS = ("1" * 64, "2" * 64, "3" * 48, "4" * 48)


def upstream(name: str) -> Path:
    """A file of ../shared/upstream. Missing in CI is a failure, not a skip: it is what the tests check against."""
    path = UPSTREAM / name
    if not path.exists():
        message = f"{path} is missing: the tests validate against ../shared/upstream"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def fixed_tokens():
    """A token generator that gives the same tokens on every run (golden files need that)."""
    tokens = iter(FIXED_TOKENS)
    return lambda: next(tokens)


@pytest.fixture(autouse=True)
def _no_secrets_from_other_tests():
    """The process-wide masking list starts empty for each test, as it does for each command."""
    from wizard import redact

    redact.everything.clear()


@pytest.fixture
def example_raw():
    from wizard.export import read_answers_file

    return read_answers_file(EXAMPLE_ANSWERS)


# The real control plane's (started once per session, only when a test asks for it).
from tests.realkube.fixtures import (  # noqa: E402,F401
    pod_behaviours, real_api_server, real_kube, real_kube_env, real_namespace,
)
from tests.realkube.fixtures import (  # noqa: E402,F401
    cert_manager_crds, fault_proxy, fault_proxy_env, real_kube_without_nodes,
)


def pytest_terminal_summary(terminalreporter):
    from tests.realkube.fixtures import started

    for control_plane in started:
        terminalreporter.write_line(f"real control plane ({control_plane.directory.name}) started in "
                                    f"{control_plane.startup_seconds:.1f}s; logs in {control_plane.directory}")
