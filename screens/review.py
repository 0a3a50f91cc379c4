"""8. Review: every answer (secrets as ****), the files that will be written, what changed since
the last run and which stages that makes stale, and the exact commands. Install, Export only, Back.
Everything is computed in a worker against a scratch copy: DIR changes only on Install or Export."""

from __future__ import annotations

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from wizard.runner import MASK
from wizard.settings import FIELDS

from .session import to_text


class ReviewScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+e", "export", "Export only"),
    ]

    class Computed(Message):
        def __init__(self, data):
            super().__init__()
            self.data = data

    class Exported(Message):
        def __init__(self, text: str, ok: bool, then_install: bool):
            super().__init__()
            self.text = text
            self.ok = ok
            self.then_install = then_install

    def compose(self) -> ComposeResult:
        yield Static("[b]Review[/b]  [dim]step 7 of 7[/dim]", classes="title")
        with VerticalScroll(id="body"):
            yield Static(self.answers_text(), id="answers")
            yield Static("Rendering the files and asking the engine what would run…", id="plan")
        yield Static("", id="help")
        with Horizontal(id="nav"):
            yield Button("Back", id="back")
            yield Button("Export only", id="export", disabled=True)
            yield Button("Install", id="install", variant="primary", disabled=True)
        yield Footer()

    def answers_text(self) -> str:
        answers = self.app.answers
        lines = ["[b]Answers[/b]"]
        for spec in FIELDS:
            if not answers.applies(spec.path):
                continue
            value = answers.get(spec.path)
            shown = (MASK if value else "(not set)") if spec.secret else escape(to_text(value)) or '""'
            lines.append(f"  {spec.path:<28} {shown}")
        return "\n".join(lines)

    def on_mount(self) -> None:
        self.compute()

    @work(thread=True, exclusive=True, group="review", exit_on_error=False)
    def compute(self) -> None:
        from .session import review_data

        self.post_message(self.Computed(review_data(self.app.answers, self.app.plan, self.app.options)))

    def on_review_screen_computed(self, message: Computed) -> None:
        data = message.data
        self.data = data
        out: list[str] = []
        if data.problems:
            out.append("[b red]Problems: fix these first (Back)[/b red]")
            out += [f"  [red]✗[/red] {escape(p)}" for p in data.problems]
        if data.warnings:
            out.append("[b yellow]Warnings[/b yellow]")
            out += [f"  [yellow]![/yellow] {escape(w)}" for w in data.warnings]
        if not data.problems:
            out.append(f"[b]Files written to {escape(str(self.app.directory))}[/b]")
            out.append("  " + ", ".join(data.files))
            out.append("[b]Changed since the last run[/b]")
            out.append("  " + (", ".join(data.changed) if data.changed else "nothing"))
            if data.what_changes:
                out.append("[b]What will change[/b] (the same diff as `wizard upgrade`; secrets masked)")
                out += [f"  {escape(line)}" for line in data.what_changes]
            if data.refused:
                out.append(f"[b yellow]The cluster refuses the install now:[/b yellow] {escape(data.refused)}")
            out.append("[b]Stages[/b]")
            for name in data.stages:
                out.append(f"  {name:<13} {escape(data.verdicts.get(name, ''))}")
            out.append("[b]Commands[/b] (secrets masked)")
            out += [f"  {escape(command)}" for command in data.commands] or ["  none: every stage is done"]
        self.query_one("#plan", Static).update("\n".join(out))
        self.query_one("#install", Button).disabled = bool(data.problems)
        self.query_one("#export", Button).disabled = bool(data.problems)
        if not data.problems:
            self.query_one("#install", Button).focus()

    # --- actions ---------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"back": self.action_back, "export": self.action_export, "install": self.action_install}[event.button.id]()

    def action_back(self) -> None:
        self.app.go_back()

    def action_export(self) -> None:
        if not self.query_one("#export", Button).disabled:
            self.export(False)

    def action_install(self) -> None:
        if self.query_one("#install", Button).disabled:
            return
        from .dialogs import ConfirmInstall

        def answered(install: bool | None) -> None:
            if install:
                self.query_one("#install", Button).disabled = True
                self.export(True)

        self.app.push_screen(ConfirmInstall.of(self.app.directory, getattr(self, "data", None)), answered)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def export(self, then_install: bool) -> None:
        from wizard.export import export

        try:
            result = export(self.app.answers.combined(), self.app.directory)
        except Exception as err:  # noqa: BLE001 - shown to the user, nothing half-written
            self.post_message(self.Exported(f"export failed: {err}", False, False))
            return
        if not result.ok:
            self.post_message(self.Exported(f"{len(result.load.problems)} problem(s); nothing written", False, False))
            return
        report = result.report
        text = (f"wrote {len(report.written)} file(s) to {self.app.directory}"
                + (f"; {len(report.unchanged)} unchanged" if report.unchanged else ""))
        self.post_message(self.Exported(text, True, then_install))

    def on_review_screen_exported(self, message: Exported) -> None:
        self.query_one("#help", Static).update(message.text)
        if not message.ok:
            self.query_one("#install", Button).disabled = False
            self.notify(message.text, severity="error")
            return
        if message.then_install:
            from .progress import ProgressScreen

            self.app.push_screen(ProgressScreen())
        else:
            self.notify(message.text, title="Export only")
