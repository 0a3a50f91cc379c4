"""10. Done: the BinderHub and hub URLs, how to log in as admin, where the files and the log are."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Static

from .footer import Footer


class DoneScreen(Screen):
    # Textual focuses it once composed; an on_mount query raced the app's exit when the last
    # stage finished just as the app closed (seen in CI: NoMatches '#quit').
    AUTO_FOCUS = "#quit"
    BINDINGS = [Binding("escape", "app.request_quit", "Quit", show=False)]

    def __init__(self, settings):
        super().__init__()
        self.settings = settings

    def compose(self) -> ComposeResult:
        from wizard.render.values import urls

        s = self.settings
        address = urls(s)
        directory = self.app.directory
        lines = ["[b green]BinderHub is installed, and every check passed.[/b green]", "",
                 f"BinderHub   [b]{escape(address['binder'])}[/b]", f"JupyterHub  [b]{escape(address['hub'])}[/b]", ""]
        if s.auth.type == "keycloak":
            admins = ", ".join(s.auth.admin_users) or "(none listed)"
            lines += [f"Log in as admin: open the hub and sign in through Keycloak (realm {escape(s.auth.realm)}) as "
                      f"one of the admin users: {escape(admins)}. The admin page is {escape(address['hub'])}hub/admin.", ""]
        else:
            lines += ["No login: every visitor gets a throwaway account.", ""]
        lines += [f"Files: {escape(str(directory))} (answers.yaml, config.yaml; secret.yaml is private)",
                  f"Log:   {escape(str(directory / 'install.log'))}",
                  "Run `wizard` again on this directory to change answers; `wizard verify` re-runs every check."]
        yield Static("[b]Done[/b]", classes="title")
        with VerticalScroll(id="body"):
            yield Static("\n".join(lines), id="summary")
        with Horizontal(id="nav"):
            yield Button("Quit", id="quit", variant="primary")
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.app.exit_saving(0)
