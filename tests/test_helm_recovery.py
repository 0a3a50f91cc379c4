"""A helm killed mid-operation leaves its release pending, and plain helm then refuses every
upgrade; the stage recovers it (rollback to the last good revision, or a fresh install).

On the real control plane with the real localpv-provisioner archive and the real helm: the release
record is rewritten the way a killed helm leaves it (status pending-* in its label and body), which
the real helm then refuses to upgrade. It cannot show a helm actually killed at that instant (the
kill tests of tests/test_install_resume.py do that, where it happens to land)."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import subprocess

import pytest
import yaml

from tests.real_charts import archive
from tests.variants import BASE
from wizard.context import Context
from wizard.kube import Cluster
from wizard.runner import Runner
from wizard.settings import load_answers
from wizard.stages import _helm_install


def helm(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["helm", *args], env=env, capture_output=True, text=True)


def leave_pending(api, namespace: str, revision: int, status: str) -> None:
    """Rewrite a release record as a killed helm leaves it: status pending-* in label and body."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = f"sh.helm.release.v1.openebs.v{revision}"
    secret = core.read_namespaced_secret(name, namespace)
    release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret.data["release"]))))
    release["info"]["status"] = status
    secret.data["release"] = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(release).encode()))).decode()
    secret.metadata.labels["status"] = status
    core.replace_namespaced_secret(name, namespace, secret)


def stage_context(kubeconfig, env, tmp_path, namespace: str) -> Context:
    # A class of this test's own: StorageClasses are cluster-wide and helm refuses to adopt another release's.
    (tmp_path / "localpv-provisioner-values.yaml").write_text(
        yaml.safe_dump({"hostpathClass": {"name": f"hostpath-{namespace}"}}))
    raw = dict(copy.deepcopy(BASE), charts={"localpv-provisioner": str(archive("localpv-provisioner"))})
    return Context(load_answers(raw).settings, tmp_path, Runner(tmp_path / "install.log", env=env),
                   cluster_factory=lambda: Cluster(str(kubeconfig)))


@pytest.mark.parametrize("revisions,status,expected", [
    (1, "pending-install", "removing the unfinished install"),
    (2, "pending-upgrade", "rolling back to revision 1"),
])
def test_a_pending_release_is_recovered(tmp_path, real_kube, real_kube_env, real_namespace, revisions, status,
                                        expected):
    namespace = real_namespace("helm-recovery")
    chart, values = str(archive("localpv-provisioner")), ("--set", f"hostpathClass.name=hostpath-{namespace}")
    for _ in range(revisions):
        done = helm(real_kube_env, "upgrade", "--install", "openebs", chart, "-n", namespace, *values)
        assert done.returncode == 0, done.stderr
    leave_pending(real_kube.api, namespace, revisions, status)
    stuck = helm(real_kube_env, "upgrade", "--install", "openebs", chart, "-n", namespace, *values)
    assert stuck.returncode != 0 and "another operation" in stuck.stderr, "the fault must be real"

    ctx = stage_context(real_kube.kubeconfig, real_kube_env, tmp_path, namespace)
    notes: list[str] = []
    ctx.notify = lambda stage, message: notes.append(message)
    _helm_install(ctx, "storage", "localpv-provisioner", "openebs", namespace, ["localpv-provisioner-values.yaml"])
    assert any(expected in note for note in notes), notes
    history = json.loads(helm(real_kube_env, "history", "openebs", "-n", namespace, "-o", "json").stdout)
    assert history[-1]["status"] == "deployed"
    helm(real_kube_env, "uninstall", "openebs", "-n", namespace)  # its StorageClass is cluster-wide
