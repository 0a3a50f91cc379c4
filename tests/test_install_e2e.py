"""End to end on the real control plane with the real charts: `wizard install` on an empty cluster
reaches endpoints, and `wizard verify` passes; a re-run resumes without re-applying; a changed
answer re-runs exactly what depends on it.

Real: the API server, its admission (the charts' webhooks, failurePolicy Fail, called through
their Services once a pod is Ready), the controllers that roll the Deployments out and bind the hub's
claim, helm and kubectl, every chart archive. Stand-ins (tests/install_harness.py): pod readiness
(kwok), the webhooks' answers (always allowed) and CA injection, cert-manager's and the ingress
controller's status writes, the hostpath provisioner, and the HTTPS servers of the two hosts and
the registry. It cannot show that a real cert-manager issues a certificate or that a real hub starts.
"""

from __future__ import annotations

import re

import pytest

from tests.install_harness import PUBLIC_IP, helm_releases, install_cluster, make_real_install  # noqa: F401


def applied_stages(log_text: str) -> set[str]:
    """Stages that ran a mutating command (helm or kubectl apply/annotate), from install.log."""
    return set(re.findall(r"\[([a-z-]+)\] \$ (?:helm|kubectl) (?:.*?)(?:upgrade|apply|annotate)", log_text))


@pytest.mark.slow
def test_install_from_empty_cluster_to_endpoints_then_verify(tmp_path, install_cluster):
    run = make_real_install(tmp_path, install_cluster)
    try:
        result = run.install()
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "[endpoints] done" in result.stdout
        assert "waiting up to 1m, until" in result.stdout
        log = (run.directory / "install.log").read_text()
        assert applied_stages(log) == {"storage", "ingress", "cert-manager", "issuer", "namespace", "binderhub"}
        assert "example-client-secret" not in log and "example-client-secret" not in result.stdout
        state = (run.directory / "state.json").read_text()
        assert "example-client-secret" not in state and '"status": "done"' in state
        # The API server called both webhooks through their Services: the checks' dry runs, and the
        # objects the install created (the ClusterIssuer, BinderHub's Ingresses).
        cert_manager = install_cluster.webhooks["cert-manager"].reviews
        assert {"Certificate", "ClusterIssuer"} <= {r["kind"] for r in cert_manager}, cert_manager
        nginx = install_cluster.webhooks["ingress-nginx"].reviews
        assert any(r["kind"] == "Ingress" and r["dryRun"] for r in nginx), nginx
        assert any(r["kind"] == "Ingress" and not r["dryRun"] for r in nginx), nginx
        # The ingress check asked http://PUBLIC_IP/ (sent to the controller stand-in by --resolve).
        assert PUBLIC_IP in run.controller.seen, run.controller.seen

        verified = run.verify()
        assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-2000:]

        # Run again: nothing changed, so nothing is applied; every stage's checks run again.
        (run.directory / "install.log").write_text("")
        again = run.install()
        assert again.returncode == 0, again.stdout[-3000:]
        assert applied_stages((run.directory / "install.log").read_text()) == set()
        assert again.stdout.count("checks pass") >= 7

        # A changed answer re-runs the stages it feeds and those after them, and no others.
        answers = run.answers.read_text().replace("named_server_limit: 5", "named_server_limit: 7")
        run.answers.write_text(answers)
        (run.directory / "install.log").write_text("")
        # The hub pod is kwok's: `kubectl exec` cannot copy its database (tests/test_upgrade_realkube.py
        # does, through a stand-in pod); the backup before the hub changes keeps the files only.
        changed = run.install("--no-database-backup")
        assert changed.returncode == 0, changed.stdout[-3000:]
        assert applied_stages((run.directory / "install.log").read_text()) == {"binderhub"}
        assert "binderhub     will run: its inputs changed" in changed.stdout
        assert "endpoints     will run: after binderhub" in changed.stdout
        assert sorted(helm_releases(install_cluster.api)["binder"]) == ["deployed", "superseded"], \
            "one upgrade, no duplicate release"
    finally:
        run.stop()
