"""The environment for kubectl, helm and the wizard run as subprocesses against a test cluster."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def kube_tool_env(kubeconfig: Path, state: Path) -> dict[str, str]:
    """KUBECONFIG, private kubectl/helm cache and config directories under `state` (kubectl's
    discovery cache is keyed by host:port, and a stale one hides CRDs a test just created), and a
    PATH that finds the venv's kubectl 1.37 and the project's helm before any system ones (Debian's
    kubectl is 1.20)."""
    env = dict(os.environ)
    env.update(
        KUBECONFIG=str(kubeconfig),
        KUBECACHEDIR=str(state / "kubectl-cache"),
        HELM_CACHE_HOME=str(state / "helm-cache"),
        HELM_CONFIG_HOME=str(state / "helm-config"),
        HELM_DATA_HOME=str(state / "helm-data"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), str(REPO / ".tools" / "bin"), env.get("PATH", "")]),
    )
    return env
