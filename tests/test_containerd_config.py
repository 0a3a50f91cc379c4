"""The containerd-config step against the real containerd 2.x (built from tests/controlplane/containerd):
`containerd config default` edited by the step's sed is read back by containerd itself
(`containerd --config FILE config dump`), and the runc runtime the CRI plugin uses has
SystemdCgroup = true; the step's guard agrees, in both readings.

What this cannot prove: that a running containerd and kubelet then agree on the cgroup driver
(no daemon runs here), nor the exact containerd.io build Docker's repository ships (its config
layout is the same for every 2.x: the runc options table below).
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.built_binaries import built
from tests.test_bootstrap import _shell_holds, _step
from wizard import bootstrap as b
from wizard.host import HostFacts, containerd_release

CONTAINERD_ENV = "BINDERHUB_WIZARD_CONTAINERD"


@pytest.fixture(scope="module")
def containerd() -> Path:
    def is_2x(printed: str) -> bool:
        release = containerd_release(printed)
        return release is not None and release[0] >= 2
    return built("containerd", CONTAINERD_ENV, ("--version",), is_2x, "containerd 2.x")


def _run(containerd: Path, *args: str) -> str:
    run = subprocess.run([str(containerd), *args], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _runc_options(containerd: Path, config: Path) -> dict:
    """The runc runtime's options as containerd itself reads the file (defaults merged in)."""
    dumped = tomllib.loads(_run(containerd, "--config", str(config), "config", "dump"))
    cri = dumped["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]
    assert cri["default_runtime_name"] == "runc"
    return cri["runtimes"]["runc"]["options"]


def test_the_step_gives_containerd_the_systemd_cgroup_driver(containerd, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(_run(containerd, "config", "default"))   # what the step's `sh -c` writes
    done = _step("containerd-config").done
    assert b.CONTAINERD_RUNC_OPTIONS in config.read_text()
    assert _runc_options(containerd, config)["SystemdCgroup"] is False
    assert not done.holds(HostFacts(files={b.CONTAINERD_CONFIG: config.read_text()}))

    subprocess.run(["sed", "-i", "-E", "-e", b.SYSTEMD_CGROUP_SED, str(config)], check=True)
    assert _runc_options(containerd, config)["SystemdCgroup"] is True
    assert done.holds(HostFacts(files={b.CONTAINERD_CONFIG: config.read_text()}))
    assert _shell_holds(done, replace_paths={b.CONTAINERD_CONFIG: str(config)})


def test_the_version_guard_reads_the_real_version_line(containerd, tmp_path):
    printed = _run(containerd, "--version")
    assert b.ContainerdAtLeast(2).holds(HostFacts(containerd_version=printed))
    (tmp_path / "containerd").symlink_to(containerd)
    assert _shell_holds(b.ContainerdAtLeast(2), {"PATH": f"{tmp_path}:/usr/bin:/bin"})
