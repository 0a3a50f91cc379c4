"""Small modal screens that return a value with `dismiss`: confirm quitting during an install,
start over (keeping the secrets unless told otherwise), the install log, confirm the install,
and save or discard typed secrets at quit."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
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


class ConfirmInstall(ModalScreen[bool]):
    """Before the install starts: where, which stages will apply something and why, how many
    commands; Install or Cancel (Esc). Cancel has the focus: Enter twice is not an accident."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, directory: Path, will_run: dict[str, str], commands: int):
        super().__init__()
        self.directory = directory
        self.will_run = will_run
        self.commands = commands

    @classmethod
    def of(cls, directory: Path, review) -> "ConfirmInstall":
        """From what the review computed (its ReviewData): the stale stages, in plan order."""
        stale = getattr(review, "stale", {}) or {}
        order = getattr(review, "stages", None) or list(stale)
        will_run = {name: stale[name] for name in order if name in stale}
        commands = sum(1 for command in getattr(review, "commands", []) if command.split("]", 1)[0][1:] in stale)
        return cls(directory, will_run, commands)

    def text(self) -> str:
        lines = [f"[b]Install now?[/b] The files are written to {escape(str(self.directory))}, then:", ""]
        if self.will_run:
            lines += [f"  {escape(name)}: {escape(why)}" for name, why in self.will_run.items()]
            lines += ["", f"{self.commands} command(s) change the machine or the cluster (listed on the review); "
                          "the checks of every stage run again."]
        else:
            lines.append("  nothing is applied: every stage is done; the checks of every stage run again.")
        return "\n".join(lines)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.text(), id="confirm-text")
            with Horizontal(classes="buttons"):
                yield Button("Install", id="confirm-install", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-install")


class SaveSecrets(ModalScreen["str | None"]):
    """Quitting with secrets typed but not in secret.yaml: "save" (to secret.yaml now), "discard",
    or None (stay: Cancel or Esc). Names the fields, never their values."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Stay")]

    def __init__(self, directory: Path, paths: list[str]):
        super().__init__()
        self.directory = directory
        self.paths = paths

    def compose(self) -> ComposeResult:
        where = escape(str(self.directory / "secret.yaml"))
        with Vertical(classes="dialog"):
            yield Static(f"[b]Secrets typed here are not saved yet:[/b] {escape(', '.join(self.paths))}.\n\n"
                         f"Save them to {where} now (private, mode 0600; never answers.yaml), or discard "
                         "them (they are asked again next time)?", id="secrets-text")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Discard", id="discard", variant="warning")
                yield Button("Cancel", id="stay")

    def on_mount(self) -> None:
        self.query_one("#save").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss({"save": "save", "discard": "discard"}.get(event.button.id))
