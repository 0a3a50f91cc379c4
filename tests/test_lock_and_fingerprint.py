"""Export and install share the directory's lock, and a stage records the fingerprint of what it
applied, taken before it applied it."""

from __future__ import annotations

import copy
import os

from tests.conftest import EXAMPLE_ANSWERS
from tests.test_hostile_files import run_wizard, snapshot
from tests.variants import BASE
from wizard.cli import main
from wizard.context import Context
from wizard.engine import Engine, fingerprint, stale_stages
from wizard.runner import Runner
from wizard.settings import load_answers
from wizard.stages import Stage
from wizard.state import InstallLock, InstallState, load_state


def test_export_waits_for_no_one_and_refuses_while_an_install_holds_the_directory(tmp_path):
    out = tmp_path / "setup"
    assert main(["export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)]) == 0
    (out / "answers.yaml").write_text((out / "answers.yaml").read_text().replace("capacity: 10Gi", "capacity: 20Gi"))
    before = snapshot(out)
    with InstallLock(out):  # an install of this process, in the middle of its stages
        run = run_wizard("export", "--dir", str(out))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "another install is running" in run.stderr and f"pid {os.getpid()}" in run.stderr
    assert snapshot(out) == before, "config.yaml must not change under a running install"
    assert run_wizard("export", "--dir", str(out)).returncode == 0, "and once it is done, export works"


def _context(tmp_path, config: str) -> Context:
    """An install directory holding only config.yaml, and a context over it."""
    directory = tmp_path / "setup"
    directory.mkdir()
    (directory / "config.yaml").write_text(config)
    return Context(load_answers(copy.deepcopy(BASE)).settings, directory, Runner(directory / "install.log"))


def test_a_stage_records_the_fingerprint_of_what_it_applied(tmp_path):
    """The input changes while the stage's checks wait (as an export did during `[binderhub]
    waiting`): the stage is done with what it applied, and the next run sees it stale."""
    ctx = _context(tmp_path, "applied: old\n")
    directory = ctx.directory
    applied: list[bytes] = []

    def apply(ctx: Context) -> None:
        applied.append((directory / "config.yaml").read_bytes())

    def checks_while_someone_edits(ctx: Context) -> None:
        (directory / "config.yaml").write_text("applied: new\n")

    stage = Stage("demo", (), ("config.yaml",), apply, checks_while_someone_edits)
    expected = fingerprint(ctx, stage)
    assert Engine(ctx, [stage], InstallState()).run()
    assert applied == [b"applied: old\n"]
    state = load_state(directory)
    assert state.stages["demo"].status == "done"
    assert state.stages["demo"].fingerprint == expected
    assert stale_stages(ctx, [stage], state) == {"demo": "its inputs changed"}


def test_a_stage_whose_input_changed_during_the_run_applies_again(tmp_path):
    """Done and unchanged when the run began, but an earlier stage re-rendered its input (preflight
    does when the cluster's runtime differs from the answer): it applies instead of only checking."""
    ctx = _context(tmp_path, "builder: dind\n")
    directory = ctx.directory
    calls: list[str] = []

    def rerender(ctx: Context) -> None:
        (directory / "config.yaml").write_text("builder: host\n")

    # Like preflight: nothing to apply, and its checks re-render the answers.
    first = Stage("first", (), (), lambda ctx: None, rerender)
    second = Stage("second", ("first",), ("config.yaml",), lambda ctx: calls.append("apply"),
                   lambda ctx: calls.append("check"))
    state = InstallState()
    for stage in (first, second):
        record = state.stage(stage.name)
        record.status, record.fingerprint = "done", fingerprint(ctx, stage)
    assert stale_stages(ctx, [first, second], state) == {}
    assert Engine(ctx, [first, second], state).run()
    assert calls == ["apply", "check"]
