"""Killed at any moment and started again, the install finishes: no duplicate releases or objects,
the same secrets, a readable state. Faults from the API and from helm fail a stage with an
explanation, keep the state, and a retry works. One install at a time per directory.

The installs run on the real control plane with the real charts (tests/install_harness.py says
what is real and what stands in). The faults a real API server does not make on demand (HTTP 500s
and 409s on chosen paths, slow and held requests, the API stopped and started) come from the fault
proxy in front of it (tests/realkube/faultproxy.py): everything else is the real server's answer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.install_harness import helm_releases, install_cluster, install_fault_proxy, make_real_install  # noqa: F401

STAGES = ("storage", "ingress", "cert-manager", "issuer", "registry", "namespace", "binderhub", "endpoints")


def run_until(install, trigger: str, timeout: float = 120) -> str:
    """Start `wizard install -v`, SIGKILL it the moment a line starts with `trigger`; its output."""
    args = [sys.executable, "-m", "wizard", "install", "--answers", str(install.answers), "--yes", "-v",
            *install.cluster_options(), "--dir", str(install.directory)]
    process = subprocess.Popen(args, env=install.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=REPO, start_new_session=True)
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith(trigger):
                os.killpg(process.pid, signal.SIGKILL)
                break
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return "".join(seen)


@pytest.mark.slow
def test_sigkill_at_stage_boundaries_and_mid_stage_then_resume_and_status(tmp_path, install_cluster):
    """SIGKILL (the whole process group: helm and kubectl too) at stage boundaries, as helm starts
    installing a chart with hooks and CRDs, in the middle of a helm upgrade and in the middle of a
    check; each run resumes the last. The real helm's release records show no duplicate and nothing
    left pending, verify passes, and `status` shows every stage done, then binderhub stale after an
    answer it depends on changed. (A subset of the boundaries: each run costs a preflight.)"""
    install = make_real_install(tmp_path, install_cluster)
    triggers = ["[cert-manager] running",      # the boundary after preflight, three helm installs starting
                "[ingress] waiting up to",     # mid-check
                "[issuer] done",               # the boundary before registry and binderhub
                "[binderhub] $ helm upgrade",  # mid-command: helm killed as it starts (a release it leaves
                                               # pending is recovered by the next run: test_helm_recovery)
                "[binderhub] done"]            # the boundary before endpoints
    try:
        secrets_before = None
        for trigger in triggers:
            out = run_until(install, trigger)
            assert trigger in out or "[endpoints] done" in out, out[-2000:]
            state = json.loads((install.directory / "state.json").read_text()) \
                if (install.directory / "state.json").exists() else {"stages": {}}
            assert set(state["stages"]) <= set(("preflight",) + STAGES)
            secret_file = install.directory / "secret.yaml"
            if secrets_before is None:
                secrets_before = secret_file.read_bytes()
            assert secret_file.read_bytes() == secrets_before, "a re-run must never rotate secrets"
        final = install.install()
        assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-2000:]
        assert (install.directory / "secret.yaml").read_bytes() == secrets_before
        releases = helm_releases(install_cluster.api)
        assert set(releases) == {"openebs", "ingress-nginx", "cert-manager", "binder"}
        assert all(statuses.count("deployed") == 1 and not any(s.startswith("pending") for s in statuses)
                   for statuses in releases.values()), releases
        verified = install.verify()
        assert verified.returncode == 0, verified.stdout[-3000:]

        table = install.run("status").stdout
        assert all(f"{stage:<13} done" in table for stage in STAGES), table
        answers = (install.directory / "answers.yaml").read_text().replace("capacity: 10Gi", "capacity: 20Gi")
        (install.directory / "answers.yaml").write_text(answers)
        table = install.run("status").stdout
        assert "binderhub     stale" in table and "storage       done" in table
    finally:
        install.stop()


@pytest.mark.slow
def test_api_faults_fail_a_stage_with_an_explanation_and_a_retry_works(tmp_path, install_cluster,
                                                                      install_fault_proxy):
    """Through the fault proxy: HTTP 500s on every ClusterIssuer read fail the issuer stage with the
    server's message while the stages before it stay done; 409 conflicts on every ConfigMap request
    fail the namespace stage's kubectl, explained; then a slow API within the limits (the Deployment
    reads 0.3 s, kubectl's ConfigMap requests 3 s each) and the install finishes. What it
    cannot show: faults that are not a well-formed Status (a cut or garbled answer)."""
    proxy = install_fault_proxy
    install = make_real_install(tmp_path, install_cluster, through=proxy)
    try:
        proxy.inject("GET", r"^/apis/cert-manager\.io/v1/clusterissuers", status=500, times=None,
                     message="etcdserver: leader changed")
        first = install.install(wait=30)
        assert first.returncode == 1
        assert "[issuer] failed" in first.stdout and "leader changed" in first.stdout, first.stdout[-1500:]
        state = json.loads((install.directory / "state.json").read_text())
        assert state["stages"]["storage"]["status"] == "done" and state["stages"]["issuer"]["status"] == "failed"
        proxy.clear()

        # 409 conflicts on ConfigMap requests, then a slow API: still explained, then recovered.
        proxy.inject(None, r"/configmaps", status=409, times=None, message="the object has been modified")
        second = install.install(wait=30)
        assert second.returncode == 1 and "[namespace] failed" in second.stdout, second.stdout[-1500:]
        assert "kubectl" in second.stdout and "exited with" in second.stdout
        proxy.clear()
        # Slow, but within the limits: the Deployment reads (the checks' and helm's), and kubectl's
        # ConfigMap requests, 2 x 3 s of its 40 s (--timeout 20: the real helm upgrade of BinderHub
        # alone can take more than the 10 s of --timeout 5 on a busy machine).
        reads = proxy.slow(r"/deployments", 0.3, times=6)
        writes = proxy.slow(r"^/api/v1/namespaces/binder/configmaps", 3, times=2)
        third = install.install(wait=20)
        assert third.returncode == 0, third.stdout[-3000:]
        assert reads.times == 0 and writes.times == 0, "every delay was met: the step tested slowness"
    finally:
        install.stop()


@pytest.mark.slow
def test_an_unreachable_api_is_explained_and_a_retry_works(tmp_path, install_cluster, install_fault_proxy):
    """The API stops listening (the fault proxy stopped: connections refused): the install stops at
    preflight with exit 3 saying the API does not answer; once it listens again on the same address,
    the next run finishes."""
    install = make_real_install(tmp_path, install_cluster, through=install_fault_proxy)
    try:
        install_fault_proxy.stop()
        down = install.install(wait=3)
        assert down.returncode == 3 and "does not answer" in down.stdout + down.stderr, down.stdout + down.stderr
        install_fault_proxy.start()
        up = install.install()
        assert up.returncode == 0, up.stdout[-3000:]
    finally:
        install.stop()


@pytest.mark.slow
def test_a_failing_helm_is_explained_and_fixing_the_answer_recovers(tmp_path, install_cluster):
    from tests.real_charts import archive

    broken = make_real_install(tmp_path, install_cluster, changes={"charts": {"binderhub": str(tmp_path / "missing")}})
    try:
        failed = broken.install()
        assert failed.returncode == 1
        assert "[binderhub] failed" in failed.stdout and "helm upgrade" in failed.stdout
        assert "exited with" in failed.stdout
        answers = broken.answers.read_text().replace(str(tmp_path / "missing"), str(archive("binderhub")))
        broken.answers.write_text(answers)
        fixed = broken.install()
        assert fixed.returncode == 0, fixed.stdout[-3000:]
        assert "[storage] done: done before; checks pass" in fixed.stdout
    finally:
        broken.stop()


def test_one_install_at_a_time_and_the_second_says_who_holds_it(tmp_path, install_cluster):
    from wizard.state import InstallLock

    install = make_real_install(tmp_path, install_cluster)
    try:
        with InstallLock(install.directory):
            second = install.install()
        assert second.returncode == 2
        assert f"pid {os.getpid()}" in second.stderr and "another install is running" in second.stderr
    finally:
        install.stop()


def test_dry_run_lists_every_mutating_command_masked_and_changes_nothing(tmp_path, install_cluster):
    """Nothing changes in the cluster (no namespace, no helm release) nor in DIR."""
    from kubernetes import client

    install = make_real_install(tmp_path, install_cluster)
    core = client.CoreV1Api(install_cluster.api)
    try:
        namespaces = sorted(n.metadata.name for n in core.list_namespace().items)
        before = helm_releases(install_cluster.api, namespaces)
        dry = install.run("install", "--answers", str(install.answers), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert sorted(n.metadata.name for n in core.list_namespace().items) == namespaces
        assert helm_releases(install_cluster.api, namespaces) == before, "a dry run sends nothing to the cluster"
        assert not install.directory.exists(), "a dry run writes nothing"
        assert dry.stdout.count("helm upgrade --install") == 4 and "kubectl apply" in dry.stdout
        assert "example-client-secret" not in dry.stdout and "example-registry-password" not in dry.stdout
    finally:
        install.stop()


@pytest.mark.slow
def test_a_hung_kubectl_is_stopped_at_its_time_limit_and_explained(tmp_path, install_cluster,
                                                                  install_fault_proxy):
    """The API holds kubectl's ConfigMap create (the fault proxy, until the end of the test): with
    --timeout 5, kubectl is stopped after 10 s, the namespace stage fails saying so and records it,
    and the next run (the API answering again) finishes. The ConfigMaps are deleted first so that
    kubectl apply must create them (an earlier test in this module may have made them)."""
    from kubernetes import client

    from wizard.render.userpods import CONFIGMAPS

    core = client.CoreV1Api(install_cluster.api)
    for name, *_rest in CONFIGMAPS:
        try:
            core.delete_namespaced_config_map(name, "binder")
        except client.ApiException as error:
            if error.status != 404:
                raise
    install = make_real_install(tmp_path, install_cluster, through=install_fault_proxy)
    try:
        held = install_fault_proxy.hold(r"^/api/v1/namespaces/binder/configmaps$", method="POST", times=1)
        first = install.run("install", "--answers", str(install.answers), "--yes", "--only", "namespace",
                            *install.cluster_options(5), timeout=150)
        assert held.met.is_set() and held.times == 0, "the create was held"
        assert first.returncode == 1, first.stdout[-3000:]
        assert "[namespace] failed" in first.stdout and "did not finish within 10 s and was stopped" in first.stdout
        state = json.loads((install.directory / "state.json").read_text())
        assert "did not finish within 10 s" in state["stages"]["namespace"]["error"]
        again = install.install()
        assert again.returncode == 0, again.stdout[-3000:]
    finally:
        install.stop()


@pytest.mark.slow
def test_ctrl_c_and_sigterm_stop_the_running_command_and_record_interrupted(tmp_path, install_cluster):
    """Interrupted while the issuer check waits (the staging ClusterIssuer, held not Ready by the
    stand-in), the install stops at once and records the stage as interrupted: Ctrl+C (SIGINT),
    then, resuming in the same directory, SIGTERM."""
    install_cluster.controllers.withhold_issuer("letsencrypt-staging")
    install = make_real_install(tmp_path, install_cluster, changes={"tls": {"acme_server": "staging"}})
    try:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            args = [sys.executable, "-m", "wizard", "install", "--answers", str(install.answers), "--yes",
                    *install.cluster_options(wait=60), "--dir", str(install.directory)]
            process = subprocess.Popen(args, env=install.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, cwd=REPO)
            seen = []
            for line in process.stdout:
                seen.append(line)
                if line.startswith("[issuer] waiting up to"):
                    process.send_signal(signal_number)
                    break
            rest = process.communicate(timeout=30)[0]
            assert process.returncode == 1, "".join(seen) + rest
            state = json.loads((install.directory / "state.json").read_text())
            assert state["stages"]["issuer"]["status"] == "interrupted", signal_number
            assert "to continue" in rest
    finally:
        install.stop()
