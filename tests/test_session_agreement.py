"""The CLI and the TUI on the same install directory tell the same truth (issue 11): after a full
install and after an answer changes, `wizard status` and the Welcome screen agree on each stage's
status (stale included), and `wizard install --dry-run` and the Review screen agree on what a run
would do: nothing after a full install (done stages are re-checked read-only, and pass), only the
changed stage's commands after a change.

Real: the control plane, helm, kubectl, the chart archives and the CLI as a process; the TUI is the
real App driven by Textual's pilot, with the real plan. Stand-ins as in tests/install_harness.py.
It cannot show a real hub starting, nor the two faces running at the same moment."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from tests.install_harness import install_cluster, make_real_install  # noqa: F401
from tests.test_tui_support import aio, present, wait_for


def cli_status(run) -> dict[str, str]:
    out = run.run("status")
    assert out.returncode == 0, out.stderr
    return {line.split()[0]: line.split()[1] for line in out.stdout.splitlines()[1:] if line.strip()}


def cli_preview(run) -> tuple[int, set[str], str]:
    out = run.run("install", "--dry-run", *run.cluster_options(wait=30))
    stages = set(re.findall(r"^  \[([a-z-]+)\] ", out.stdout, re.M))
    return out.returncode, stages, out.stdout + out.stderr


@aio
async def tui_view(directory, options) -> tuple[dict[str, str], set[str], str]:
    """What the Welcome screen lists (stage -> status) and what the Review screen's plan says."""
    from screens.app import WizardApp

    app = WizardApp(directory, options=options, animate=False, save_delay=0.05)
    async with app.run_test(size=(140, 60)) as pilot:
        await wait_for(pilot, lambda: "Stages of the install" in str(app.screen.query_one("#status").render()),
                       timeout=60)
        status_text = str(app.screen.query_one("#status").render())
        await pilot.click("#continue")
        await wait_for(pilot, lambda: present(app, "#install") and "Commands" in str(app.screen.query_one("#plan").render()),
                       timeout=90)
        plan_text = str(app.screen.query_one("#plan").render())
    rows = {}
    for line in status_text.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 2:
            rows[parts[0]] = parts[1]
    commands = set(re.findall(r"^  \[([a-z-]+)\] ", plan_text, re.M))
    return rows, commands, plan_text


@pytest.mark.slow
def test_cli_and_tui_agree_on_status_and_preview_after_an_install_and_after_a_change(tmp_path, install_cluster,
                                                                                   monkeypatch):
    from wizard.context import Options

    run = make_real_install(tmp_path, install_cluster)
    for key, value in run.env.items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    options = Options(timeout=30, resolve=run.resolve(), ca_bundle=str(run.ca_bundle), kubeconfig=run.env["KUBECONFIG"])
    try:
        installed = run.install()
        assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-2000:]

        # After the full install: every stage done, and a run would apply nothing.
        status = cli_status(run)
        assert set(status.values()) == {"done"}, status
        code, cli_commands, said = cli_preview(run)
        assert code == 0 and cli_commands == set(), said[-3000:]
        assert "0 command(s) would run" in said and said.count("done; checks pass") >= 7, said[-3000:]
        rows, tui_commands, plan_text = tui_view(run.directory, options)
        assert rows == status, (rows, status)
        assert tui_commands == set() and "none: every stage is done" in plan_text, plan_text
        assert "binderhub     done; checks pass" in plan_text, plan_text

        # An answer changes (the TUI saves answers.yaml as you type): binderhub is stale for both,
        # and both previews list binderhub's commands and no other stage's.
        answers = yaml.safe_load((run.directory / "answers.yaml").read_text())
        answers["hub"]["named_server_limit"] = 7
        (run.directory / "answers.yaml").write_text(yaml.safe_dump(answers))
        status = cli_status(run)
        assert status["binderhub"] == "stale" and status["storage"] == "done", status
        code, cli_commands, said = cli_preview(run)
        assert code == 0 and cli_commands == {"binderhub"}, said[-3000:]
        assert "binderhub     will run: its inputs changed" in said, said[-3000:]
        rows, tui_commands, plan_text = tui_view(run.directory, options)
        assert rows == status, (rows, status)
        assert tui_commands == cli_commands, plan_text
        assert "binderhub     will run: its inputs changed" in plan_text, plan_text
        # config.yaml in DIR is still the old one: both say the install writes it first.
        written_first = f"{run.directory}/config.yaml is written by the install first"
        assert written_first in said and written_first in plan_text, said[-3000:]
    finally:
        run.stop()
