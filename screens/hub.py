"""7. Hub: named servers and their limit, culling idle servers (with why it matters for the login
chosen), the hub database, user storage and the resources of each user server; the launch check
that ends the install (wizard/launch.py)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from wizard.render.values import culling_why

from .step import StepScreen


class HubScreen(StepScreen):
    STEP = 6
    TITLE_TEXT = "Hub"

    def body(self) -> ComposeResult:
        yield self.field("hub.named_servers", "Named servers")
        yield self.field("hub.named_server_limit", "Servers per user")
        yield self.field("hub.cull.enabled", "Stop idle servers")
        yield self.field("hub.cull.timeout", "Idle seconds")
        yield Static("", id="cull-why", classes="why")
        yield self.field("hub.database.type", "Database")
        yield self.field("hub.database.url", "Database URL", placeholder="postgresql://hub@db.example.org:5432/hub")
        yield self.field("hub.database.password", "DB password")
        yield self.field("hub.user_storage.enabled", "User storage")
        yield self.field("hub.user_storage.capacity", "Volume per user")
        yield self.field("hub.resources.cpu_limit", "CPU limit")
        yield self.field("hub.resources.memory_limit", "Memory limit")
        yield self.field("hub.resources.cpu_guarantee", "CPU guarantee")
        yield self.field("hub.resources.memory_guarantee", "Memory guarantee")
        yield self.field("launch.enabled", "Launch check")
        yield self.field("launch.repository", "Test repository")
        yield self.field("launch.ref", "Its ref")
        yield self.field("launch.timeout", "Launch seconds")

    def refresh_fields(self) -> None:
        super().refresh_fields()
        # Fields that only matter when their switch is on stay, but are dimmed.
        self.query_one("#f-hub-named-server-limit").set_class(not self.answers.get("hub.named_servers"), "-off")
        self.query_one("#f-hub-cull-timeout").set_class(not self.answers.get("hub.cull.enabled"), "-off")
        for name in ("repository", "ref", "timeout"):
            self.query_one(f"#f-launch-{name}").set_class(not self.answers.get("launch.enabled"), "-off")
        self.query_one("#f-hub-user-storage-capacity").set_class(
            not self.answers.get("hub.user_storage.enabled"), "-off")
        self.query_one("#cull-why", Static).update(self._culling_why())

    def _culling_why(self) -> str:
        """Why culling matters with the login and named servers answered so far."""
        get = self.answers.get
        timeout, limit = get("hub.cull.timeout"), get("hub.named_server_limit")
        return culling_why(get("auth.type"), bool(get("hub.cull.enabled")),
                           timeout if isinstance(timeout, int) else None, bool(get("hub.named_servers")),
                           limit if isinstance(limit, int) else 0, short=True)
