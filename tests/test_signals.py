"""Ctrl+C and SIGTERM: the first stops the work with a message and exit 1, the state recorded;
more of them change nothing; scratch copies of secret.yaml never outlive the command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

from tests.conftest import REPO
from tests.install_harness import make_install


def _start(install, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wizard", *args, "--dir", str(install.directory)],
                            env=env or install.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO)


def test_ctrl_c_again_and_again_still_exits_1(tmp_path, fake_kube, kube_env):
    """Ctrl+C held down: one every 20 ms from the first until the process ends, so some land while
    the stages unwind and some after; none may kill the wizard by the signal."""
    install = make_install(tmp_path, fake_kube, kube_env, delays={"ClusterIssuer.cert-manager.io": 30})
    try:
        process = _start(install, "install", "--answers", str(install.answers), "--yes",
                         *install.cluster_options(wait=60))
        for line in process.stdout:
            if line.startswith("[issuer] waiting up to"):
                break

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
        state = json.loads((install.directory / "state.json").read_text())
        assert state["stages"]["issuer"]["status"] == "interrupted"
    finally:
        install.stop()


def test_sigterm_of_verify_removes_its_scratch_copy_of_the_secrets(tmp_path, fake_kube, kube_env):
    install = make_install(tmp_path, fake_kube, kube_env)
    try:
        assert install.install().returncode == 0
        scratch_parent = tmp_path / "tmp"
        scratch_parent.mkdir()
        env = {**install.env, "TMPDIR": str(scratch_parent)}
        fake_kube.slow("", 60)  # every API request held: verify waits in its checks
        process = _start(install, "verify", *install.cluster_options(), env=env)
        deadline = time.monotonic() + 60
        while not list(scratch_parent.glob("binderhub-wizard-*/secret.yaml")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(scratch_parent.glob("binderhub-wizard-*/secret.yaml")), "verify made its scratch copy"
        time.sleep(0.5)  # into the checks
        process.send_signal(signal.SIGTERM)
        out = process.communicate(timeout=60)[0]
        assert process.returncode == 1, (process.returncode, out[-2000:])
        assert "interrupted" in out and "Traceback" not in out, out[-2000:]
        assert not list(scratch_parent.iterdir()), "no copy of secret.yaml left behind"
    finally:
        fake_kube.faults.clear()
        install.stop()
