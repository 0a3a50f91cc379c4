"""A command the runner starts gets no input: its stdin is at end of file at once.

Found through the progress screen's Diagnose: with a kubeconfig whose user entry is empty, kubectl
asks for a username on stdin, and the runner's stdin pipe stayed open, so the wizard waited for
ever. `cat` stands for any command that reads its input; the real kubectl case is what
tests/test_diagnose_tui.py runs (a kubeconfig with an empty user)."""

from __future__ import annotations

import time

from wizard.runner import Runner


def test_a_command_that_reads_stdin_ends_at_once_with_nothing_read(tmp_path):
    runner = Runner(tmp_path / "install.log", command_limit=20)
    started = time.monotonic()
    result = runner.run("test", ["cat"], mutating=False, check=False)
    assert result.exit_code == 0 and result.output == ""
    assert time.monotonic() - started < 10  # before the fix it waited for the 20 s limit


def test_given_input_still_reaches_the_command(tmp_path):
    result = Runner(tmp_path / "install.log").run("test", ["cat"], mutating=False, stdin="hello\n")
    assert result.output.strip() == "hello"
