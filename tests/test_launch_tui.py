"""The progress screen shows the launch stage's phases as BinderHub sends them: the real stage of
the plan (wizard/stages.py launch_stage) runs in the TUI against the stand-in BinderHub (its
target pointed there), and every phase reaches the stage's note and output as it comes. What it
cannot show: a real BinderHub's timing."""

from __future__ import annotations

import dataclasses
import time

from tests.binderhub_standin import BinderHubStandin, success_script
from tests.test_tui_support import aio, export_example, make_app

TOKEN = "tui-service-token"


@aio
async def test_the_progress_screen_shows_each_launch_phase_while_it_runs(tmp_path, monkeypatch):
    from screens.progress import ProgressScreen
    from wizard import launch
    from wizard.stages import launch_stage

    standin = BinderHubStandin(TOKEN, ["delete:servers", "delete:users"], script=success_script(0.15)).start()
    monkeypatch.setattr(launch, "target_for", lambda ctx: launch.Target(
        standin.url, standin.url, "binder-examples/requirements", "HEAD", TOKEN, False, 30))
    directory = tmp_path / "setup"
    export_example(directory)
    app = make_app(directory, plan=lambda settings: [dataclasses.replace(launch_stage(settings), needs=())])
    notes_seen = []
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await app.push_screen(ProgressScreen())
            progress = app.screen
            deadline = time.monotonic() + 30
            while progress.status.get("launch") != "done" and time.monotonic() < deadline:
                note = progress.notes.get("launch", "")
                if note and (not notes_seen or notes_seen[-1] != note):
                    notes_seen.append(note)
                await pilot.pause(0.02)
            assert progress.status.get("launch") == "done", progress.errors
            # leave only once the Done screen is up, so the app does not close mid-push
            from screens.done import DoneScreen
            while not isinstance(app.screen, DoneScreen) and time.monotonic() < deadline:
                await pilot.pause(0.02)
            assert isinstance(app.screen, DoneScreen)
            while app.focused is None and time.monotonic() < deadline:
                await pilot.pause(0.02)
            assert app.focused is not None and app.focused.id == "quit"
            output = [line for line in progress.output["launch"] if line.startswith("» ")]
    finally:
        standin.stop()
    phases = [phase for phase in ("waiting", "fetching", "building", "pushing", "built", "launching", "ready")
              if any(f" {phase}:" in note for note in notes_seen)]
    assert len(phases) >= 5, notes_seen  # seen live on the screen, not only at the end
    assert [line.split(": ")[0].split()[-1] for line in output[1:8]] == \
        ["waiting", "fetching", "building", "pushing", "built", "launching", "ready"]
    assert output[-1].startswith("» ready in ") and "push 0." in output[-1]
