"""End to end: `wizard install` on an empty fake cluster reaches endpoints, and `wizard verify`
passes; a re-run resumes without re-applying; a changed answer re-runs exactly what depends on it."""

from __future__ import annotations

import re

from tests.install_harness import make_install


def applied_stages(log_text: str) -> set[str]:
    """Stages that ran a mutating command (helm or kubectl apply/annotate), from install.log."""
    return set(re.findall(r"\[([a-z-]+)\] \$ (?:helm|kubectl) (?:.*?)(?:upgrade|apply|annotate)", log_text))


def test_install_from_empty_cluster_to_endpoints_then_verify(tmp_path, fake_kube, kube_env):
    run = make_install(tmp_path, fake_kube, kube_env)
    try:
        result = run.install()
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "[endpoints] done" in result.stdout
        assert "waiting up to 30s, until" in result.stdout
        log = (run.directory / "install.log").read_text()
        assert applied_stages(log) == {"storage", "ingress", "cert-manager", "issuer", "namespace", "binderhub"}
        assert "example-client-secret" not in log and "example-client-secret" not in result.stdout
        state = (run.directory / "state.json").read_text()
        assert "example-client-secret" not in state and '"status": "done"' in state

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
        changed = run.install()
        assert changed.returncode == 0, changed.stdout[-3000:]
        assert applied_stages((run.directory / "install.log").read_text()) == {"binderhub"}
        assert "binderhub     will run: its inputs changed" in changed.stdout
        assert "endpoints     will run: after binderhub" in changed.stdout
        releases = [s for s in fake_kube.list("secrets", "binder") if s["metadata"]["name"].startswith("sh.helm.release")]
        assert len(releases) == 2, "one upgrade, no duplicate release"
    finally:
        run.stop()
