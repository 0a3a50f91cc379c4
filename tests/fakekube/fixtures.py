"""pytest fixtures for the fake API server. Import them into a test module:

    from tests.fakekube.fixtures import fake_kube, kube_env  # noqa: F401

`fake_kube` is a started `FakeKube` (closed after the test); `kube_env` is an environment for
subprocesses (kubectl, helm, the wizard) that points them at it and nowhere else.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .server import FakeKube

REPO = Path(__file__).resolve().parents[2]


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
    """KUBECONFIG for the fake, plus private kubectl and helm cache/config directories (kubectl's
    discovery cache is keyed by host:port, and a stale one hides CRDs a test just created), and
    a PATH that finds the venv's kubectl and the project's helm before any system ones (Debian's
    kubectl is 1.20)."""
    env = dict(os.environ)
    state = tmp_path / "kube-state"
    env.update(
        KUBECONFIG=str(fake_kube.kubeconfig_path),
        KUBECACHEDIR=str(state / "kubectl-cache"),
        HELM_CACHE_HOME=str(state / "helm-cache"),
        HELM_CONFIG_HOME=str(state / "helm-config"),
        HELM_DATA_HOME=str(state / "helm-data"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), str(REPO / ".tools" / "bin"),
                              env.get("PATH", "")]),
    )
    return env
