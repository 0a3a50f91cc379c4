"""pytest fixtures for the fake API server. Import them into a test module:

    from tests.fakekube.fixtures import fake_kube, kube_env  # noqa: F401

`fake_kube` is a started `FakeKube` (closed after the test); `kube_env` is an environment for
subprocesses (kubectl, helm, the wizard) that points them at it and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.toolenv import kube_tool_env

from .server import FakeKube


@pytest.fixture
def fake_kube(tmp_path: Path):
    directory = tmp_path / "fakekube"
    directory.mkdir()
    fake = FakeKube(directory).start()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def kube_env(fake_kube: FakeKube, tmp_path: Path) -> dict[str, str]:
    return kube_tool_env(fake_kube.kubeconfig_path, tmp_path / "kube-state")
