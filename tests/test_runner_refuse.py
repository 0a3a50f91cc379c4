"""Runner.refuse_new (what Ctrl+C does during `wizard uninstall`): the command running when it is
called ends as it will and returns its result, logged with its exit code; the next one raises
Cancelled without starting. Runner.cancel, by contrast, stops the running one. Real processes."""

from __future__ import annotations

import threading
import time

import pytest

from wizard.runner import Cancelled, Runner


def test_the_running_command_finishes_and_no_new_one_starts(tmp_path):
    runner = Runner(tmp_path / "install.log")
    marker = tmp_path / "second-ran"
    threading.Timer(0.3, runner.refuse_new).start()
    result = runner.run("test", ["sh", "-c", "sleep 1; echo finished"], mutating=False)
    assert result.exit_code == 0 and result.output.strip() == "finished"
    assert runner.cancelled
    with pytest.raises(Cancelled):
        runner.run("test", ["touch", str(marker)])
    assert not marker.exists()
    log = (tmp_path / "install.log").read_text()
    assert "exit 0" in log and "(cancelled)" not in log


def test_cancel_stops_the_running_command(tmp_path):
    runner = Runner(tmp_path / "install.log")
    threading.Timer(0.3, runner.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        runner.run("test", ["sleep", "30"], mutating=False)
    assert time.monotonic() - started < 10
