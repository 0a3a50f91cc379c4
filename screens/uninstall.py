"""Uninstall, reached from the Welcome screen of an existing install: what will be removed, stage by
stage in reverse order, and what is kept (from the ledger, wizard/uninstall.py's preview); one
press of Remove is the one question; the removal's lines as they come, and the verdict. Data and
CRDs are kept (the command line's --delete-data and --delete-crds remove them)."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Log, Static


class UninstallScreen(Screen):
    BINDINGS = [Binding("escape", "back", "Back", show=False)]

    class Line(Message):
        def __init__(self, text: str):
            super().__init__()
            self.text = text

    class Finished(Message):
        def __init__(self, code: int):
            super().__init__()
            self.code = code

    def __init__(self, run=None):
        super().__init__()
        # The removal (wizard.uninstall.run by default); tests hand in their own.
        self._run = run

    def compose(self) -> ComposeResult:
        yield Static("[b]Uninstall[/b]", classes="title")
        with VerticalScroll(id="body"):
            yield Static(f"Install directory: [b]{self.app.directory}[/b]. Reading its ledger…", id="plan")
            yield Log(id="output", auto_scroll=True)
        with Horizontal(id="nav"):
            yield Button("Back", id="back")
            yield Button("Remove", id="remove", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#back", Button).focus()
        self.read_plan()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def read_plan(self) -> None:
        from wizard.uninstall import preview

        try:
            lines = preview(self.app.directory)
        except Exception as err:  # noqa: BLE001 - shown: the ledger cannot be read
            lines = [f"The ledger cannot be read: {err}"]
        self.app.call_from_thread(self._show_plan, lines)

    def _show_plan(self, lines: list[str]) -> None:
        nothing = not lines or lines[0].startswith("Nothing") or lines[0].startswith("The ledger")
        self.query_one("#plan", Static).update(
            "\n".join(lines) + ("" if nothing else "\n\nRemove asks nothing more; data and CRDs are kept."))
        self.query_one("#remove", Button).disabled = nothing

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            self.action_back()
        elif event.button.id == "remove":
            event.button.disabled = True
            self.query_one("#back", Button).disabled = True
            self.remove()

    def action_back(self) -> None:
        if not self.query_one("#back", Button).disabled:
            self.app.pop_screen()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def remove(self) -> None:
        from wizard import uninstall

        run = self._run or uninstall.run
        try:
            code = run(self.app.directory, yes=True, say=lambda line: self.post_message(self.Line(line)))
        except Exception as err:  # noqa: BLE001 - shown, the state is in the ledger: running again resumes
            self.post_message(self.Line(f"error: {err}"))
            code = uninstall.EXIT_LEFT
        self.post_message(self.Finished(code))

    def on_uninstall_screen_line(self, message: Line) -> None:
        self.query_one("#output", Log).write_line(message.text)

    def on_uninstall_screen_finished(self, message: Finished) -> None:
        verdict = {0: "Removed: nothing of the install is left but what is kept.",
                   1: "Something is left (see above); Remove again resumes."}.get(
                       message.code, f"Stopped (exit {message.code}); see above.")
        self.query_one("#output", Log).write_line(verdict)
        self.query_one("#back", Button).disabled = False
        self.query_one("#remove", Button).disabled = message.code == 0
