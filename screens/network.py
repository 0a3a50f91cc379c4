"""3. Network and TLS: public IP, domain, binder and hub hosts (filled from the domain as you type
it, until you change them), the ACME e-mail, staging or production certificates."""

from __future__ import annotations

from textual.app import ComposeResult

from .fields import field_id
from .session import default_of
from .step import StepScreen


class NetworkScreen(StepScreen):
    STEP = 2
    TITLE_TEXT = "Network and TLS"

    def body(self) -> ComposeResult:
        yield self.field("profile", "Profile")
        yield self.field("network.public_ip", "Public IP", placeholder="203.0.113.10")
        yield self.field("network.domain", "Domain", placeholder="example.org")
        yield self.field("network.binder_host", "BinderHub host")
        yield self.field("network.hub_host", "Hub host")
        yield self.field("tls.acme_email", "ACME e-mail", placeholder="ops@example.org")
        server = self.answers.get("tls.acme_server")
        choices = ("production", "staging") + ((server,) if server not in ("production", "staging") else ())
        yield self.field("tls.acme_server", "Certificates", choices=choices)

    def on_mount(self) -> None:
        self._hosts = {path: default_of(path, self.answers.raw) for path in ("network.binder_host", "network.hub_host")}
        super().on_mount()

    def field_changed(self, path: str, value) -> None:
        if path != "network.domain":
            return
        # A host still at the default of the old domain follows the new one; an edited one stays.
        for host_path, old_default in self._hosts.items():
            new_default = default_of(host_path, self.answers.raw)
            if self.answers.get(host_path) in ("", old_default):
                self.query_one(f"#{field_id(host_path)}").set_value(new_default)
            self._hosts[host_path] = new_default
