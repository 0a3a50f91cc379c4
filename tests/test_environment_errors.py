"""The machine gets in the way: a read-only file system, no permission, a full disk, links planted
in the install directory, a umask of 000. Each is one line with exit 2 and nothing half-written.

Real conditions, not mocks: a tmpfs mounted read-only or nearly full, and the wizard run without
the capability to override file permissions (root otherwise ignores them). Mounting needs root,
as on these machines and in CI; without it these tests skip.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLE_ANSWERS, REPO
from tests.test_hostile_files import snapshot
from wizard.cli import main

NO_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.fixture
def tmpfs(tmp_path):
    mounts = []

    def mount(size: str = "4m") -> Path:
        point = tmp_path / f"mnt{len(mounts)}"
        point.mkdir()
        run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _changed_answers(tmp_path: Path) -> Path:
    """The example answers with names that feed most files, so an export rewrites many of them."""
    raw = yaml.safe_load(EXAMPLE_ANSWERS.read_text())
    raw["network"]["domain"] = "other.example.org"
    raw["cluster"]["namespace"] = "elsewhere"
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _one_line_refusal(run: subprocess.CompletedProcess, *words: str) -> None:
    assert run.returncode == 2, (run.stdout[-1500:], run.stderr[-1500:])
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if not line.startswith(("warning:", "note:"))]
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], lines[0]


def wizard(capsys, *args: str) -> subprocess.CompletedProcess:
    """The wizard's CLI in this process (quicker than a new one; an exception fails the test)."""
    capsys.readouterr()
    code = main(list(args))
    printed = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, printed.out, printed.err)


def test_a_read_only_directory_is_explained_and_left_as_it_was(tmp_path, tmpfs, capsys):
    mount = tmpfs()
    out = mount / "setup"
    assert wizard(capsys, "export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)).returncode == 0
    before = snapshot(out)
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    _one_line_refusal(wizard(capsys, "export", "--answers", str(_changed_answers(tmp_path)), "--dir", str(out)),
                      "read-only", "EROFS", "nothing written")
    _one_line_refusal(wizard(capsys, "install", "--yes", "--dir", str(out)), "read-only", "EROFS")
    _one_line_refusal(wizard(capsys, "export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(mount / "new")),
                      "read-only", "EROFS")
    assert snapshot(out) == before


def test_a_full_disk_writes_nothing_and_says_so(tmp_path, tmpfs, capsys):
    mount = tmpfs("1m")
    out = mount / "setup"
    assert wizard(capsys, "export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)).returncode == 0
    before = snapshot(out)
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as handle:  # fill the disk up to its last few blocks
        try:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
        except OSError:
            pass
    os.truncate(filler, filler.stat().st_size - 8192)  # room for one small file, not for the export
    run = wizard(capsys, "export", "--answers", str(_changed_answers(tmp_path)), "--dir", str(out))
    _one_line_refusal(run, "no space left", "ENOSPC", "nothing written")
    assert snapshot(out) == before, "answers.yaml and every other file as they were"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")], "no temporary file left behind"


def test_no_permission_is_explained(tmp_path, capsys):
    out = tmp_path / "setup"
    assert wizard(capsys, "export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)).returncode == 0
    os.chown(out, 65534, 65534)  # someone else's directory, 0700
    before = snapshot(out)
    for args in (["export", "--dir", str(out)], ["install", "--yes", "--dir", str(out)]):
        run = subprocess.run([*NO_DAC, sys.executable, "-m", "wizard", *args], capture_output=True, text=True,
                             cwd=REPO, timeout=60)
        _one_line_refusal(run, "permission denied", "EACCES")
    assert snapshot(out) == before


# file -> the commands that open it
OPENED_BY = {"install.log": ["install"], ".install.lock": ["export", "install"],
             "state.json": ["export", "install", "status"], "secret.yaml": ["export", "install", "status"]}


@pytest.mark.parametrize("name", sorted(OPENED_BY))
def test_a_link_in_the_install_directory_is_never_followed(tmp_path, name, capsys, monkeypatch):
    out = tmp_path / "setup"
    assert wizard(capsys, "export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)).returncode == 0
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = out / name
    if target.exists():
        target.unlink()
    target.symlink_to(victim)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-cluster"))
    for command in OPENED_BY[name]:
        args = [command, "--dir", str(out)] + (["--yes"] if command == "install" else [])
        run = wizard(capsys, *args)
        assert run.returncode == 2, (name, command, run.stdout[-800:], run.stderr[-800:])
        assert "symbolic link" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert victim.read_text() == "precious\n"
    assert (out / name).is_symlink(), "left for the user to look at"


def test_the_directory_is_private_whatever_the_umask(tmp_path):
    out = tmp_path / "setup"
    code = ("import os, sys; os.umask(0); from wizard.cli import main; "
            f"sys.exit(main(['export', '--answers', {str(EXAMPLE_ANSWERS)!r}, '--dir', {str(out)!r}]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in out.iterdir()}
    assert modes["secret.yaml"] == 0o600 and modes["install.sh"] == 0o755 and modes["config.yaml"] == 0o644
    assert modes[".install.lock"] == 0o644 and all(mode & 0o002 == 0 for mode in modes.values()), modes
