"""1. Welcome: a new install, or an install directory that exists: its stages (as `wizard
status` shows them) with Continue, Reconfigure or Start over."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Static

INTRO = ("From a Kubernetes cluster to a working BinderHub with HTTPS and Keycloak login. The wizard "
         "asks, shows what it will do, then installs stage by stage and checks each one.")


class WelcomeScreen(Screen):
    BINDINGS = [Binding("escape", "app.request_quit", "Quit", show=False)]

    class StatusRead(Message):
        def __init__(self, rows: list[tuple[str, str, str]], error: str = ""):
            super().__init__()
            self.rows = rows
            self.error = error

    def compose(self) -> ComposeResult:
        app = self.app
        existing = app.existing
        yield Static("[b]BinderHub wizard[/b]", classes="title")
        with VerticalScroll(id="body"):
            yield Static(INTRO, classes="intro")
            yield Static(f"Install directory: [b]{app.directory}[/b]", id="where")
            if existing:
                yield Static("An install directory was found here. Reading its stages…", id="status")
            else:
                yield Static("Nothing here yet: this is a new install. Answers are saved here as you go.",
                             id="status")
        with Horizontal(id="nav"):
            if existing:
                yield Button("Continue", id="continue", variant="primary")
                yield Button("Reconfigure", id="reconfigure")
                yield Button("Start over", id="start-over", variant="warning")
                yield Button("Uninstall", id="uninstall", variant="error")
            else:
                yield Button("Start", id="start", variant="primary")
            yield Button("Quit", id="quit")
        # A plain line, not a Footer: the first screen comes up quicker without one.
        yield Static("[dim]Tab moves · Enter presses · Ctrl+T light/dark · Ctrl+Q quits[/dim]", id="keys")

    def on_mount(self) -> None:
        self.query_one("#nav Button").focus()
        if self.app.existing:
            self.read_status()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def read_status(self) -> None:
        from .session import directory_status

        try:
            rows = directory_status(self.app.directory, self.app.plan)
        except Exception as err:  # noqa: BLE001 - shown, not raised: the user can still start over
            self.post_message(self.StatusRead([], f"{err}"))
            return
        self.post_message(self.StatusRead(rows))

    def on_welcome_screen_status_read(self, message: StatusRead) -> None:
        status = self.query_one("#status", Static)
        if message.error:
            status.update(f"[b]The directory's state cannot be read:[/b] {message.error}")
            return
        if not message.rows:
            status.update("Answers were found, but no stage has run yet.")
            return
        lines = [f"[b]{'stage':<14}{'status':<13}note[/b]"]
        for name, state, note in message.rows:
            colour = {"done": "green", "failed": "red", "interrupted": "yellow", "stale": "yellow"}.get(state, "")
            shown = f"[{colour}]{state:<13}[/{colour}]" if colour else f"{state:<13}"
            lines.append(f"{name:<14}{shown}{note[:48]}")
        status.update("Stages of the install found here:\n" + "\n".join(lines))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id
        if button == "quit":
            self.app.action_request_quit()
        elif button in ("start", "reconfigure"):
            self.app.start_steps("cluster")
        elif button == "continue":
            self.app.start_steps("review")
        elif button == "uninstall":
            from .uninstall import UninstallScreen

            self.app.push_screen(UninstallScreen())
        elif button == "start-over":
            from .dialogs import StartOver

            self.app.push_screen(StartOver(), self._start_over)

    def _start_over(self, delete_secrets: bool | None) -> None:
        if delete_secrets is None:
            return
        self.clear_directory(delete_secrets)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def clear_directory(self, delete_secrets: bool) -> None:
        from wizard.directory import InstallDir

        from .session import Answers

        directory = self.app.directory
        InstallDir(directory).clear(secrets=delete_secrets)
        fresh = Answers.load(directory)  # the kept secrets fill the secret fields again
        self.app.call_from_thread(self._started_over, fresh)

    def _started_over(self, fresh) -> None:
        self.app.answers = fresh
        self.app.start_steps("cluster")
