"""The wheel carries manifests/: built, installed into a fresh venv, `wizard export` works from there."""

from __future__ import annotations

import os
import subprocess
import sys
import venv

import pytest

from tests.conftest import EXAMPLE_ANSWERS, REPO


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_exports(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    wheel = next(dist.glob("binderhub_wizard-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    out = tmp_path / "setup"
    # Run from elsewhere, so the checkout's own packages cannot stand in for the installed ones.
    run = subprocess.run([str(env_dir / "bin" / "wizard"), "export", "--answers", str(EXAMPLE_ANSWERS),
                          "--dir", str(out)], capture_output=True, text=True, cwd=tmp_path,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert run.returncode == 0, run.stderr
    configmap = (out / "scheduler_configmap.yaml").read_text()
    assert "token_refresher.py" in configmap and len(configmap) > 500
    located = subprocess.run([str(python), "-c", "import manifests, wizard; print(manifests.__file__, wizard.__file__)"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert str(env_dir) in located.stdout and str(REPO) not in located.stdout
