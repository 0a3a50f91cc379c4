"""Small modal screens that return a value with `dismiss`: confirm quitting during an install,
start over (keeping the secrets unless told otherwise), and the install log."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Log, Static


class ConfirmQuit(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "dismiss(False)", "Stay")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("[b]A stage is running.[/b] Quit anyway?\n\nThe running command is stopped and the "
                         "stage is recorded as interrupted; the next `wizard` offers to continue.")
            with Horizontal(classes="buttons"):
                yield Button("Quit", id="quit", variant="error")
                yield Button("Stay", id="stay", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#stay").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit")


class StartOver(ModalScreen["bool | None"]):
    """None: cancelled; False: start over keeping secret.yaml; True: delete the secrets too."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("[b]Start over?[/b] The answers and the stages' state are removed. The secrets "
                         "(secret.yaml: tokens, passwords) are kept and reused unless you tick the box.")
            yield Checkbox("also delete the secrets", id="delete-secrets")
            with Horizontal(classes="buttons"):
                yield Button("Start over", id="confirm", variant="warning")
                yield Button("Cancel", id="cancel", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.dismiss(self.query_one("#delete-secrets", Checkbox).value)
        else:
            self.dismiss(None)


class LogViewer(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def __init__(self, path: Path, text: str):
        super().__init__()
        self.path = path
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(f"[b]{self.path}[/b] (the last 400 lines; Esc closes)")
            yield Log(id="log-text")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one(Log).write_lines(self.text.splitlines()[-400:])
        self.query_one("#close").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)
