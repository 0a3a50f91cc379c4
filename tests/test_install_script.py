"""install.sh as bash runs it: the order of its steps, what it waits for and says, its retries
and deadline, and that it leaves the kubeconfig alone.

kubectl, helm and sleep are stand-ins on PATH that record each call (and its KUBECONFIG) and
answer as a cluster would at that moment: the dry runs fail with a webhook's x509 error a given
number of times first. What those cannot show is a real cluster's behaviour; the last test runs
install.sh on the real control plane with the real charts.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.install_harness import install_cluster  # noqa: F401
from tests.rendering import render
from tests.variants import variant

STAND_IN = r"""#!/usr/bin/env bash
# Records the call; a dry run fails until it has been tried $FAILS_BEFORE_OK times.
printf '%s %s | KUBECONFIG=%s\n' "$(basename "$0")" "$*" "${KUBECONFIG:-}" >> "$CALLS"
case "$(basename "$0") $*" in
  *--dry-run=server*)
    tries=$(( $(cat "$TRIES" 2>/dev/null || echo 0) + 1 ))
    echo "$tries" > "$TRIES"
    if (( tries <= FAILS_BEFORE_OK )); then
      echo 'Internal error occurred: failed calling webhook: x509: certificate signed by unknown authority' >&2
      exit 1
    fi
    echo 0 > "$TRIES" ;;
  "kubectl get storageclass -o name"*)
    printf 'storageclass.storage.k8s.io/local-path\nstorageclass.storage.k8s.io/openebs-hostpath\n' ;;
esac
exit 0
"""


def run_script(tmp_path: Path, raw: dict, *, fails: int = 0,
               deadline: str = "30") -> tuple[subprocess.CompletedProcess, list[str]]:
    directory = tmp_path / "setup"
    directory.mkdir()
    files = render(raw)
    (directory / "install.sh").write_text(files["install.sh"].content)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kubectl", "helm", "sleep"):
        (bin_dir / tool).write_text(STAND_IN)
        (bin_dir / tool).chmod(0o755)
    calls = tmp_path / "calls.log"
    done = subprocess.run(
        ["bash", str(directory / "install.sh")], capture_output=True, text=True, timeout=60,
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), "TRIES": str(tmp_path / "tries"),
             "FAILS_BEFORE_OK": str(fails), "DEADLINE_SECONDS": deadline, "KUBECONFIG": str(tmp_path / "kubeconfig")})
    return done, calls.read_text().splitlines() if calls.exists() else []


def index_of(calls: list[str], fragment: str) -> int:
    return next(i for i, call in enumerate(calls) if fragment in call)


def test_each_step_waits_for_what_the_next_needs(tmp_path):
    done, calls = run_script(tmp_path, variant("ingress-nginx-staging"), fails=2)
    assert done.returncode == 0, done.stderr
    order = ["helm upgrade --install openebs localpv-provisioner",
             "kubectl -n openebs rollout status deployment/openebs-localpv-provisioner",
             "kubectl annotate --overwrite storageclass.storage.k8s.io/local-path",
             "helm upgrade --install ingress-nginx ingress-nginx",
             "kubectl -n ingress-nginx rollout status deployment/ingress-nginx-controller",
             "kubectl create --dry-run=server",  # the admission webhook
             "helm upgrade --install cert-manager",
             "kubectl -n cert-manager rollout status deployment/cert-manager-webhook",
             "kubectl apply -f binderhub-issuer.yaml",
             "kubectl wait --for=condition=Ready clusterissuer/letsencrypt-staging",
             "helm upgrade --install binder binderhub",
             "kubectl -n binder rollout status deployment/binder",
             "pvc/hub-db-dir",
             "kubectl -n binder get secret image-pull-secret",
             "certificate/jupyterhub-tls"]
    positions = [index_of(calls, fragment) for fragment in order]
    assert positions == sorted(positions)
    assert not any("annotate --overwrite storageclass.storage.k8s.io/openebs-hostpath" in c for c in calls)
    # Each webhook refused twice (x509), then accepted: three dry runs apiece.
    assert sum("--dry-run=server" in c for c in calls) == 6
    assert sum(c.startswith("sleep") for c in calls) == 4
    webhook_ingress = index_of(calls, "--dry-run=server")
    assert webhook_ingress < index_of(calls, "helm upgrade --install cert-manager")
    for message in ("waiting up to 30s for the ingress-nginx admission webhook to accept a dry-run Ingress",
                    "waiting up to 30s for the cert-manager webhook to accept a dry-run Certificate",
                    "waiting up to 30s for Deployment binder/hub to be available"):
        assert message in done.stdout
    # The kubeconfig is the caller's, on every call, and its current context is never changed.
    assert all(c.endswith(f"KUBECONFIG={tmp_path / 'kubeconfig'}") for c in calls if not c.startswith("sleep"))
    assert not any(c.startswith("kubectl config") for c in calls)


def test_a_webhook_that_never_answers_fails_at_the_deadline_with_its_error(tmp_path):
    done, calls = run_script(tmp_path, variant("production-keycloak-traefik"), fails=1000, deadline="0")
    assert done.returncode == 1
    assert "gave up after 0s waiting for the cert-manager webhook to accept a dry-run Certificate" in done.stderr
    assert "x509" in done.stderr
    assert not any("helm upgrade --install binder" in c for c in calls), "nothing after the failed wait"


def test_a_context_goes_on_every_call(tmp_path):
    done, calls = run_script(tmp_path, variant("context-and-names"))
    assert done.returncode == 0, done.stderr
    tools = [c for c in calls if c.startswith(("kubectl", "helm"))]
    assert all("kubectl --context prod-admin@cluster " in c for c in tools if c.startswith("kubectl"))
    assert all("helm --kube-context prod-admin@cluster " in c for c in tools if c.startswith("helm"))


@pytest.mark.parametrize("deadline", ["", "ten", "-1"])
def test_a_bad_deadline_is_refused_before_anything_runs(tmp_path, deadline):
    done, calls = run_script(tmp_path, variant("production-keycloak-traefik"), deadline=deadline)
    if deadline == "":
        assert done.returncode == 0, "empty means the default"
        return
    assert done.returncode == 2 and "DEADLINE_SECONDS must be a whole number of seconds" in done.stderr
    assert calls == []


def test_local_chart_archives_are_installed_from_their_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = variant("production-keycloak-traefik")
    raw["charts"] = {"binderhub": "charts/binderhub-1.0.0.tgz", "traefik": "/srv/charts/traefik-41.3.0.tgz"}
    done, calls = run_script(tmp_path, raw)
    assert done.returncode == 0, done.stderr
    assert any(f"helm upgrade --install binder {tmp_path}/charts/binderhub-1.0.0.tgz --namespace binder" in c
               for c in calls)
    assert any("helm upgrade --install traefik /srv/charts/traefik-41.3.0.tgz --namespace traefik" in c for c in calls)


@pytest.mark.slow
def test_install_sh_with_real_helm_and_kubectl_on_the_real_control_plane(tmp_path, install_cluster):
    """The exported install.sh, run by bash with the real helm and kubectl against the real control
    plane and the real chart archives, passes every one of its waits: rollouts (pods made Ready by
    kwok), both webhooks' dry runs (answered through their Services once their pods are Ready and
    the CA is injected), the ClusterIssuer, the hub's claim, the pull secret, the Certificates.
    Stand-ins as in tests/install_harness.py; the HTTPS checks are the wizard's, not the script's."""
    import sys

    from tests.install_harness import chart_sources, helm_releases, write_answers

    answers = write_answers(tmp_path, chart_sources())
    directory = tmp_path / "setup"
    env = install_cluster.env(tmp_path / "kube-state")
    exported = subprocess.run([sys.executable, "-m", "wizard", "export", "--answers", str(answers), "--dir",
                               str(directory)], env=env, capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    done = subprocess.run(["bash", str(directory / "install.sh")], capture_output=True, text=True, timeout=400,
                          env={**env, "DEADLINE_SECONDS": "120"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for message in ("waiting up to 120s for the ingress-nginx admission webhook to accept a dry-run Ingress",
                    "waiting up to 120s for the cert-manager webhook to accept a dry-run Certificate",
                    "waiting up to 120s for ClusterIssuer letsencrypt-prod to be Ready",
                    "waiting up to 120s for PersistentVolumeClaim binder/hub-db-dir to be Bound"):
        assert message in done.stdout
    releases = helm_releases(install_cluster.api)
    assert {name: statuses.count("deployed") for name, statuses in releases.items()} == {
        "openebs": 1, "ingress-nginx": 1, "cert-manager": 1, "binder": 1}, releases
    reviews = install_cluster.webhooks["cert-manager"].reviews + install_cluster.webhooks["ingress-nginx"].reviews
    assert {"Certificate", "ClusterIssuer", "Ingress"} <= {r["kind"] for r in reviews}, reviews
