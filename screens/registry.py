"""5. Registry: an external one (URL, user, password, image prefix), one in the cluster, or none,
which only works where the nodes run Docker (the reason is shown where it is not allowed)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from wizard.settings import url_host

from .fields import field_id
from .session import default_of
from .step import StepScreen

NONE_REFUSED = ("none is not offered: the nodes run {runtime}, so images BinderHub builds would never "
                "reach the kubelet without a registry (none works only on Docker nodes)")
FOLLOW = ("registry.url", "registry.username", "registry.image_prefix", "registry.host")


def suggested(path: str, raw: dict):
    """The core's default, and for an external registry a prefix on the registry's own host."""
    value = default_of(path, raw)
    registry = raw.get("registry", {})
    host = url_host(str(registry.get("url") or ""))
    if path == "registry.image_prefix" and registry.get("type") == "external" and host:
        value = f"{host}/binder/r2d-"
    return value


class RegistryScreen(StepScreen):
    STEP = 4
    TITLE_TEXT = "Registry"

    def body(self) -> ComposeResult:
        yield self.field("registry.type", "Registry")
        yield Static("", id="none-reason", classes="note")
        yield self.field("registry.url", "URL", placeholder="https://registry.example.org")
        yield self.field("registry.allow_http", "Allow http")
        yield self.field("registry.username", "User")
        yield self.field("registry.password", "Password")
        yield self.field("registry.host", "Registry host")
        yield self.field("registry.storage_size", "Volume size")
        yield self.field("registry.image_prefix", "Image prefix", placeholder="registry.example.org/binder/r2d-")

    def on_mount(self) -> None:
        self._defaults = {path: suggested(path, self.answers.raw) for path in FOLLOW}
        super().on_mount()

    def first_refresh(self) -> None:
        runtime = self.answers.get("cluster.runtime")
        reason = None if runtime == "docker" else NONE_REFUSED.format(runtime=runtime)
        self.query_one("#f-registry-type").disable_choice("none", reason)
        self.query_one("#none-reason", Static).update(reason or "")
        self.query_one("#none-reason").display = bool(reason)
        super().first_refresh()

    def extra_problem(self) -> str | None:
        if self.answers.get("registry.type") == "none" and self.answers.get("cluster.runtime") != "docker":
            return "registry none needs Docker nodes"
        return None

    def field_changed(self, path: str, value) -> None:
        if path not in ("registry.type", "registry.url", "registry.host"):
            return
        # Fields still at their old default follow the new one (as the core computes it).
        for follow in FOLLOW:
            if follow == path:
                continue
            new = suggested(follow, self.answers.raw)
            if self.answers.get(follow) in ("", self._defaults[follow]) and new != self.answers.get(follow):
                self.query_one(f"#{field_id(follow)}").set_value(new)
            self._defaults[follow] = new
