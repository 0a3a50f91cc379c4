"""2. Cluster: the kubeconfig contexts to pick from, what the chosen one sees (Kubernetes version,
nodes, their runtime and addresses), and the public IP it suggests from the node addresses."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Label, Select, Static

from .step import StepScreen

NO_CLUSTER = ("No cluster answers. Bootstrap this machine to make it a one-node kubeadm cluster first, or "
              "make a cluster's kubeconfig current (or set KUBECONFIG) and Refresh. You can also go on "
              "without a cluster and use Export only at the end (bootstrap-node.sh does the same by hand).")
BOOTSTRAP_ON = ("[b]This machine will be bootstrapped first[/b]: host checks, containerd, kubelet/kubeadm/kubectl "
                "from pkgs.k8s.io, swap off, kubeadm init, flannel and helm, each as its own stage. "
                "Run the wizard as root or with sudo. Press the button again to undo.")


class ClusterScreen(StepScreen):
    STEP = 1
    TITLE_TEXT = "Cluster"
    BINDINGS = [*StepScreen.BINDINGS, Binding("ctrl+r", "refresh_cluster", "Refresh")]

    class Read(Message):
        def __init__(self, info):
            super().__init__()
            self.info = info

    def body(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("Context", classes="label")
            yield Select([], prompt="the current context", id="context", allow_blank=True)
            yield Button("Refresh", id="refresh")
        yield Static("Reading the kubeconfig and the cluster…", id="seen")
        bootstrap = Button("Bootstrap this machine", id="bootstrap")
        bootstrap.display = False  # offered only when no cluster answers
        yield bootstrap
        note = Static("", id="bootstrap-note")
        note.display = False
        yield note
        yield self.field("cluster.namespace", "Namespace")
        yield self.field("cluster.release", "Helm release")

    def first_refresh(self) -> None:
        super().first_refresh()
        if self.app.cluster_info is not None:
            self.show(self.app.cluster_info)
        else:
            self.action_refresh_cluster()

    def action_refresh_cluster(self) -> None:
        self.query_one("#seen", Static).update("Reading the kubeconfig and the cluster…")
        self.read(self.answers.get("cluster.context") or None)

    @work(thread=True, exclusive=True, group="cluster", exit_on_error=False)
    def read(self, context: str | None) -> None:
        self.post_message(self.Read(self.app.read_cluster(context)))

    def on_cluster_screen_read(self, message: Read) -> None:
        info = message.info
        self.app.cluster_info = info
        if info.nodes:
            self.answers.set("cluster.runtime", info.runtime)
            suggested = info.suggested_ip()
            if suggested and not self.answers.get("network.public_ip"):
                self.answers.set("network.public_ip", suggested)
            self.app.answers_changed()
        self.show(info)

    def show(self, info) -> None:
        if not self.query("#context"):
            return  # not composed yet (pushed beneath another screen): on_mount shows it
        select = self.query_one("#context", Select)
        chosen = self.answers.get("cluster.context")
        with self.prevent(Select.Changed):
            select.set_options([(name + (" (current)" if name == info.current else ""), name)
                                for name in info.contexts])
            if chosen in info.contexts:
                select.value = chosen
        lines = []
        if info.version:
            lines.append(f"Kubernetes [b]{info.version}[/b], {len(info.nodes)} node(s), runtime {info.runtime}:")
        for node in info.nodes:
            addresses = ", ".join(f"{address} ({kind})" for kind, address in node.addresses)
            state = "" if node.ready else " [red]not ready[/red]"
            lines.append(f"  {node.name}{state}  {node.runtime}  {addresses}")
        if info.nodes:
            suggested = info.suggested_ip()
            if suggested:
                lines.append(f"Suggested public IP: [b]{suggested}[/b] (a node address; change it on the next screen)")
        if info.error:
            lines.append(f"[red]{info.error}[/red]")
            lines.append(NO_CLUSTER)
        self.query_one("#seen", Static).update("\n".join(lines))
        self.query_one("#bootstrap", Button).display = bool(info.error) or self.app.bootstrap
        self._show_bootstrap()

    def _show_bootstrap(self) -> None:
        note = self.query_one("#bootstrap-note", Static)
        note.update(BOOTSTRAP_ON if self.app.bootstrap else "")
        note.display = self.app.bootstrap

    def on_select_changed(self, event: Select.Changed) -> None:
        value = "" if event.value is Select.BLANK else str(event.value)
        if value != self.answers.get("cluster.context"):
            self.answers.set("cluster.context", value)
            self.app.answers_changed()
            self.action_refresh_cluster()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "refresh":
            event.stop()
            self.action_refresh_cluster()
            return
        if event.button.id == "bootstrap":
            event.stop()
            self.app.bootstrap = not self.app.bootstrap
            self._show_bootstrap()
            return
        super().on_button_pressed(event)
