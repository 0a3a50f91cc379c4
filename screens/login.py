"""6. Login: Keycloak URL, realm, client id and secret (masked), admins, who may log in, whether
tokens go into user servers; Test reads the realm's OpenID configuration in a worker."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Static

from .step import StepScreen

KEYCLOAK_ONLY = ("auth.allow_http", "auth.admin_users", "auth.allow_all", "auth.allowed_users",
                 "auth.allowed_groups", "auth.pass_tokens")


class LoginScreen(StepScreen):
    STEP = 5
    TITLE_TEXT = "Login"
    # A priority binding: a text box binds ctrl+k itself (delete to the end of the line), and the
    # footer offers Test wherever the focus is.
    BINDINGS = [*StepScreen.BINDINGS, Binding("ctrl+k", "test", "Test Keycloak", priority=True)]

    class Tested(Message):
        def __init__(self, ok: bool, text: str):
            super().__init__()
            self.ok = ok
            self.text = text

    def body(self) -> ComposeResult:
        yield self.field("auth.type", "Login")
        yield self.field("auth.keycloak_url", "Keycloak URL", placeholder="https://sso.example.org")
        yield self.field("auth.allow_http", "Allow http")
        yield self.field("auth.realm", "Realm")
        with Horizontal(classes="row", id="test-row"):
            yield Static("", classes="label")
            yield Button("Test", id="test")
            yield Static("reads the realm's OpenID configuration", id="test-result")
        yield self.field("auth.client_id", "Client id")
        yield self.field("auth.client_secret", "Client secret")
        yield self.field("auth.admin_users", "Admins", placeholder="alice, bob")
        yield self.field("auth.allow_all", "Allow all users")
        yield self.field("auth.allowed_users", "Allowed users", placeholder="carol, dave")
        yield self.field("auth.allowed_groups", "Allowed groups")
        yield self.field("auth.pass_tokens", "Pass tokens")

    def shows(self, path: str) -> bool:
        # Who may log in and what reaches their servers matter only with Keycloak.
        if path in KEYCLOAK_ONLY and self.answers.get("auth.type") != "keycloak":
            return False
        return super().shows(path)

    def refresh_fields(self) -> None:
        super().refresh_fields()
        self.query_one("#test-row").display = self.answers.get("auth.type") == "keycloak"
        self.query_one("#test", Button).disabled = not self.check_action("test", ())
        self.refresh_bindings()  # the footer offers Test as the button does

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "test":
            return True
        if self.answers.get("auth.type") != "keycloak":
            return False  # nothing to test: not in the footer
        # Shown but greyed out until the URL and the realm are good.
        return None if self.answers.problems(("auth.keycloak_url", "auth.realm")) else True

    def action_test(self) -> None:
        button = self.query_one("#test", Button)
        if button.disabled or not button.display:
            return
        self.query_one("#test-result", Static).update("testing…")
        self.test_keycloak(self.answers.get("auth.keycloak_url"), self.answers.get("auth.realm"))

    @work(thread=True, exclusive=True, group="keycloak", exit_on_error=False)
    def test_keycloak(self, url: str, realm: str) -> None:
        try:
            found = self.app.read_openid(url, realm)
        except Exception as err:  # noqa: BLE001 - every failure is reported beside the button
            self.post_message(self.Tested(False, str(err)))
            return
        self.post_message(self.Tested(True, found))

    def on_login_screen_tested(self, message: Tested) -> None:
        colour = "green" if message.ok else "red"
        self.query_one("#test-result", Static).update(f"[{colour}]{'✓' if message.ok else '✗'}[/{colour}] {message.text}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "test":
            event.stop()
            self.action_test()
            return
        super().on_button_pressed(event)
