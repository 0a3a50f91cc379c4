"""4. Ingress and storage: Traefik or ingress-nginx (retired upstream since March 2026), and how its
Service gets the public IP (network.expose); OpenEBS hostpath, or an existing StorageClass picked
from those the cluster has."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Select, Static

from wizard.settings import EXPOSE_MODES

from .fields import field_id
from .session import default_of
from .step import StepScreen

NGINX_NOTE = ("ingress-nginx is the original notes' choice, but it is retired upstream since March 2026: "
              "no releases or security fixes. Traefik serves the same Ingress objects.")


def expose_note(chosen: str) -> str:
    """One line of why for each way to put the controller on the public IP; the chosen one marked."""
    return "\n".join(f"{'▸' if mode == chosen else ' '} {mode}: {why}" for mode, why in EXPOSE_MODES.items())


class IngressStorageScreen(StepScreen):
    STEP = 3
    TITLE_TEXT = "Ingress and storage"

    def body(self) -> ComposeResult:
        yield self.field("ingress.controller", "Ingress")
        yield Static(NGINX_NOTE, id="nginx-note", classes="note")
        yield self.field("network.expose", "Public IP via")
        yield Static(expose_note(self.answers.get("network.expose")), id="expose-note", classes="note")
        yield self.field("storage.provisioner", "Storage")
        with Horizontal(classes="row", id="classes-row"):
            yield Label("In the cluster", classes="label")
            classes = getattr(self.app.cluster_info, "storage_classes", None) or []
            yield Select([(name, name) for name in classes], prompt="pick a StorageClass" if classes
                         else "no cluster read", id="classes", allow_blank=True)
        yield self.field("storage.storage_class", "StorageClass")

    def refresh_fields(self) -> None:
        super().refresh_fields()
        self.query_one("#nginx-note").display = self.answers.get("ingress.controller") == "ingress-nginx"
        self.query_one("#expose-note", Static).update(expose_note(self.answers.get("network.expose")))
        self.query_one("#classes-row").display = self.answers.get("storage.provisioner") == "existing"

    def field_changed(self, path: str, value) -> None:
        # The class follows the core's default for the provisioner (openebs-hostpath, or none to
        # pick), unless another class was chosen for an existing provisioner.
        if path == "storage.provisioner" and (
                value == "openebs" or self.answers.get("storage.storage_class") == "openebs-hostpath"):
            self.query_one(f"#{field_id('storage.storage_class')}").set_value(
                default_of("storage.storage_class", self.answers.raw))

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "classes" and event.value is not Select.BLANK:
            self.query_one(f"#{field_id('storage.storage_class')}").set_value(str(event.value))
