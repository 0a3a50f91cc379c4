"""Ctrl+C and SIGTERM: the first stops the work with a message and exit 1, the state recorded;
more of them change nothing; scratch copies of secret.yaml never outlive the command.

Against the real control plane: the issuer stage's kubectl apply of the ClusterIssuer goes to the
real API server (with the real cert-manager CRDs), and its check waits on a real watch that nothing
ends (no cert-manager runs to make the issuer Ready). verify's requests are held by the fault proxy
in front of the real server. What this cannot show: a signal landing inside helm (no chart is
installed here; the install tests do that).
"""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.wizard_process import example_answers, run_wizard, start_wizard


@pytest.fixture
def issuer_kind(real_kube, cert_manager_crds):
    """The real cert-manager CRDs; the ClusterIssuer the issuer stage applies is deleted after the test."""
    yield
    try:
        client.CustomObjectsApi(real_kube.api).delete_cluster_custom_object(
            "cert-manager.io", "v1", "clusterissuers", "letsencrypt-prod")
    except ApiException as error:
        if error.status != 404:
            raise


def test_ctrl_c_again_and_again_still_exits_1(tmp_path, real_kube_env, issuer_kind):
    """Ctrl+C held down: one every 20 ms from the first until the process ends, so some land while
    the stages unwind and some after; none may kill the wizard by the signal."""
    directory = tmp_path / "setup"
    process = start_wizard(real_kube_env, directory, "install", "--answers", str(example_answers(tmp_path)),
                           "--yes", "--only", "issuer", "--timeout", "60")
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("[issuer] waiting up to"):
            break
    assert process.poll() is None, "".join(seen)[-2000:]

    def keep_pressing() -> None:
        while process.poll() is None:
            try:
                process.send_signal(signal.SIGINT)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    presser = threading.Thread(target=keep_pressing)
    presser.start()
    rest = process.communicate(timeout=60)[0]
    presser.join()
    assert process.returncode == 1, (process.returncode, rest[-2000:])
    assert "Traceback" not in rest and "to continue" in rest, rest[-2000:]
    state = json.loads((directory / "state.json").read_text())
    assert state["stages"]["issuer"]["status"] == "interrupted"


def test_sigterm_of_verify_removes_its_scratch_copy_of_the_secrets(tmp_path, fault_proxy, fault_proxy_env):
    """verify renders into a scratch copy holding secret.yaml, then waits in its checks: every API
    request is held by the fault proxy, so SIGTERM lands while a request is in flight."""
    directory = tmp_path / "setup"
    exported = run_wizard(fault_proxy_env, directory, "export", "--answers", str(example_answers(tmp_path)))
    assert exported.returncode == 0, exported.stderr
    scratch_parent = tmp_path / "tmp"
    scratch_parent.mkdir()
    env = {**fault_proxy_env, "TMPDIR": str(scratch_parent)}
    held = fault_proxy.hold("")  # every API request held: verify waits in its checks
    process = start_wizard(env, directory, "verify", "--timeout", "30")
    try:
        assert held.met.wait(60), "verify sent no API request"
        assert list(scratch_parent.glob("binderhub-wizard-*/secret.yaml")), "verify made its scratch copy"
        process.send_signal(signal.SIGTERM)
        out = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, (process.returncode, out[-2000:])
    assert "interrupted" in out and "Traceback" not in out, out[-2000:]
    assert not list(scratch_parent.iterdir()), "no copy of secret.yaml left behind"
