"""A helm killed mid-operation leaves its release pending, and plain helm then refuses every
upgrade; the stage recovers it (rollback to the last good revision, or a fresh install)."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import subprocess

import pytest

from tests.conftest import REPO
from tests.variants import BASE
from wizard.context import Context
from wizard.kube import Cluster
from wizard.runner import Runner
from wizard.settings import load_answers
from wizard.stages import _helm_install

CHART = str(REPO / "tests" / "charts" / "openebs")


def helm(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["helm", *args], env=env, capture_output=True, text=True)


def leave_pending(fake, revision: int, status: str) -> None:
    """Rewrite a release record as a killed helm leaves it: status pending-* in label and body."""
    name = f"sh.helm.release.v1.openebs.v{revision}"
    secret = fake.get("secrets", name, "openebs")
    release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))
    release["info"]["status"] = status
    body = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(release).encode()))).decode()
    changed = copy.deepcopy(secret)
    changed["data"]["release"] = body
    changed["metadata"]["labels"]["status"] = status
    fake.store.update(fake.kind("secrets"), "openebs", name, changed)


def stage_context(fake, env, tmp_path) -> Context:
    (tmp_path / "localpv-provisioner-values.yaml").write_text("{}\n")
    raw = dict(copy.deepcopy(BASE), charts={"localpv-provisioner": CHART})
    return Context(load_answers(raw).settings, tmp_path, Runner(tmp_path / "install.log", env=env),
                   cluster_factory=lambda: Cluster(str(fake.kubeconfig_path)))


@pytest.mark.parametrize("revisions,status,expected", [
    (1, "pending-install", "removing the unfinished install"),
    (2, "pending-upgrade", "rolling back to revision 1"),
])
def test_a_pending_release_is_recovered(tmp_path, fake_kube, kube_env, revisions, status, expected):
    for _ in range(revisions):
        assert helm(kube_env, "upgrade", "--install", "openebs", CHART, "-n", "openebs", "--create-namespace").returncode == 0
    leave_pending(fake_kube, revisions, status)
    stuck = helm(kube_env, "upgrade", "--install", "openebs", CHART, "-n", "openebs")
    assert stuck.returncode != 0 and "another operation" in stuck.stderr, "the fault must be real"

    ctx = stage_context(fake_kube, kube_env, tmp_path)
    notes: list[str] = []
    ctx.notify = lambda stage, message: notes.append(message)
    _helm_install(ctx, "storage", "localpv-provisioner", "openebs", "openebs", ["localpv-provisioner-values.yaml"])
    assert any(expected in note for note in notes), notes
    history = json.loads(helm(kube_env, "history", "openebs", "-n", "openebs", "-o", "json").stdout)
    assert history[-1]["status"] == "deployed"
