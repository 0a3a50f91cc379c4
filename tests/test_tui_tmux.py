"""The installed `wizard` command in a real terminal (tmux): the Welcome screen, the Cluster screen
(no kubeconfig here: it says so and offers a way on), the Network screen with an error beside a
field as it is typed, Back, and a clean quit that leaves the typed answers in the directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

WIZARD = Path(sys.executable).parent / "wizard"


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], check=True, capture_output=True, text=True).stdout


def _wait_for_text(socket: str, text: str, timeout: float = 30, *, gone: str | None = None) -> str:
    """The screen once `text` shows (and `gone`, if given, no longer does): the typed characters
    can reach the screen a frame before the validation that follows them."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(socket, "capture-pane", "-p", "-t", "wizard")
        if text in screen and (gone is None or gone not in screen):
            return screen
        time.sleep(0.1)
    missing = f"{text!r} did not appear" + (f" without {gone!r}" if gone else "")
    raise AssertionError(f"{missing}; the screen:\n{screen}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by scripts/test.sh")
def test_wizard_in_a_real_terminal_first_screens_and_a_clean_quit(tmp_path):
    socket = f"test-tui-{os.getpid()}"
    directory = tmp_path / "setup"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env.update(KUBECONFIG=str(tmp_path / "no-kubeconfig"), TERM="xterm-256color")
    marker = tmp_path / "exit-code"
    command = f"{WIZARD} --dir {directory}; echo $? > {marker}; sleep 30"
    subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "wizard", "-x", "80",
                    "-y", "24", command], check=True, env=env)
    try:
        _wait_for_text(socket, "this is a new install")
        _tmux(socket, "send-keys", "-t", "wizard", "Enter")              # Start
        screen = _wait_for_text(socket, "No cluster answers")
        assert "Cluster" in screen and "step 1 of 7" in screen
        _tmux(socket, "send-keys", "-t", "wizard", "C-n")                # Next
        _wait_for_text(socket, "Network and TLS")
        time.sleep(0.3)
        _tmux(socket, "send-keys", "-t", "wizard", "Tab")                # Profile -> Public IP
        time.sleep(0.3)
        _tmux(socket, "send-keys", "-t", "wizard", "-l", "203.0.113")
        _wait_for_text(socket, "is not an IP address")
        _tmux(socket, "send-keys", "-t", "wizard", "-l", ".10")
        _wait_for_text(socket, "203.0.113.10", gone="is not an IP address")
        _tmux(socket, "send-keys", "-t", "wizard", "Escape")             # Back
        _wait_for_text(socket, "step 1 of 7")
        _tmux(socket, "send-keys", "-t", "wizard", "C-q")                # quit: nothing runs, no question
        deadline = time.monotonic() + 15
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    assert "public_ip: '203.0.113.10'" in (directory / "answers.yaml").read_text()
