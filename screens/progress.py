"""9. Progress: one row per stage with its state, a bar for the whole install, a spinner while
stages run, the live output of the selected stage, elapsed time and each check's deadline. On a
failure: the check's explanation, the failed command's last lines, Retry, Skip (where safe),
Open log, Diagnose (wizard/diagnose.py: an archive and the likely cause), Quit. The engine runs in a thread worker; its events arrive here as messages."""

from __future__ import annotations

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Log, ProgressBar, Static

from .install_run import InstallRun

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
FINAL = ("done", "skipped")


class ProgressScreen(Screen):
    BINDINGS = [
        Binding("ctrl+r", "retry", "Retry", show=False),
        Binding("ctrl+l", "open_log", "Open log"),
    ]

    class EngineEvent(Message):
        def __init__(self, event):
            super().__init__()
            self.event = event

    class Planned(Message):
        def __init__(self, stages: list[str]):
            super().__init__()
            self.stages = stages

    class Finished(Message):
        def __init__(self, ok: bool, error: str = ""):
            super().__init__()
            self.ok = ok
            self.error = error

    def __init__(self):
        super().__init__()
        self.stages: list[str] = []
        self.status: dict[str, str] = {}
        self.notes: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.output: dict[str, list[str]] = {}
        self.selected: str | None = None
        self.frame = 0
        self.began = 0.0
        self.failed: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("[b]Installing[/b]", classes="title", id="progress-title")
        with Horizontal(id="overall"):
            yield ProgressBar(total=None, show_eta=False, id="bar")
            yield Static("", id="elapsed")
        table = DataTable(id="stages", cursor_type="row", zebra_stripes=False)
        self.columns = table.add_columns("", "stage", "state", "time", "note")
        yield table
        with Vertical(id="failure"):
            yield Static("", id="explanation")
            with Horizontal(classes="buttons"):
                yield Button("Retry", id="retry", variant="primary")
                yield Button("Skip", id="skip")
                yield Button("Open log", id="open-log")
                yield Button("Diagnose", id="diagnose", tooltip="collect what the install looks like into "
                             "DIR/diagnostics-TIMESTAMP.tar.gz (secrets masked) and name the likely cause")
                yield Button("Quit", id="quit", variant="error")
        yield Log(id="output", auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#failure").display = False
        self.began = self.app.clock()
        app = self.app
        self.runner_ = InstallRun(app.directory, app.options or _options(), app.plan,
                                  lambda event: self.post_message(self.EngineEvent(event)),
                                  cluster_factory=app.cluster_factory)
        app.install_run = self.runner_
        self.start()
        self.set_interval(0.5 if app.animate else 3600, self.tick)

    # --- the worker ------------------------------------------------------------------------------
    def start(self) -> None:
        self.failed = None
        self.query_one("#failure").display = False
        self.app.install_running = True
        self.app.install_done.clear()
        self.install()

    @work(thread=True, exclusive=True, group="install", exit_on_error=False)
    def install(self) -> None:
        try:
            if self.runner_.ctx is None:
                self.post_message(self.Planned(self.runner_.prepare()))
            ok = self.runner_.run()
            self.post_message(self.Finished(ok))
        except Exception as err:  # noqa: BLE001 - a bad directory or a held lock: shown, state kept
            self.post_message(self.Finished(False, str(err)))
        finally:
            self.app.install_done.set()

    # --- engine events ------------------------------------------------------------------------------
    def on_progress_screen_planned(self, message: Planned) -> None:
        self.stages = message.stages
        for name in self.stages:
            self.status.setdefault(name, "skipped" if name in self.runner_.skipped else "pending")
        self.query_one("#bar", ProgressBar).update(total=len(self.stages), progress=0)
        self.redraw()
        if self.stages and self.selected is None:
            self.select(self.stages[0])

    def on_progress_screen_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        if event.kind == "stage":
            self.status[event.stage] = event.status
            now = self.app.clock()
            if event.status == "running":
                self.started[event.stage] = now
                self.ended.pop(event.stage, None)
                self.errors.pop(event.stage, None)
                self.select(event.stage)
            elif event.status in ("done", "failed", "interrupted"):
                self.ended[event.stage] = now
                self.started.setdefault(event.stage, now)
            if event.status == "failed":
                self.errors[event.stage] = event.message
            elif event.message:
                self.notes[event.stage] = event.message
        elif event.kind == "output":
            self.add_line(event.stage, event.message)
            return
        elif event.kind == "note":
            self.notes[event.stage] = event.message
            self.add_line(event.stage, f"» {event.message}")
        self.redraw()

    def add_line(self, stage: str, line: str) -> None:
        self.output.setdefault(stage, []).append(line)
        if stage == self.selected:
            self.query_one("#output", Log).write_line(line)

    def on_progress_screen_finished(self, message: Finished) -> None:
        self.app.install_running = False
        if message.ok:
            from .done import DoneScreen

            self.app.push_screen(DoneScreen(self.runner_.settings))
            return
        failed = [name for name in self.stages if self.status.get(name) in ("failed", "interrupted")]
        self.failed = failed[0] if failed else None
        self.show_failure(message.error)

    def show_failure(self, error: str) -> None:
        lines = []
        if self.failed:
            error = self.errors.get(self.failed, "").splitlines() or [""]
            lines.append(f"[b red]Stage {self.failed} failed:[/b red] {escape(error[0])}")
            tail = (error[1:] or self.output.get(self.failed, []))[-3:]
            if tail:
                lines.append("[dim]last lines:[/dim] " + "\n".join(escape(line) for line in tail))
            self.select(self.failed)
        elif error:
            lines.append(f"[b red]The install could not start:[/b red] {escape(error)}")
        self.query_one("#retry", Button).disabled = False
        stage = self.runner_.stage(self.failed) if self.failed else None
        reason = stage.skippable if stage is not None else None
        skip = self.query_one("#skip", Button)
        skip.disabled = reason is None
        skip.tooltip = f"safe to skip: {reason}" if reason else "not safe to skip: later stages rely on it"
        self.query_one("#explanation", Static).update("\n".join(lines) or "The install stopped.")
        self.query_one("#failure").display = True
        self.query_one("#retry", Button).focus()
        self.redraw()

    # --- drawing ---------------------------------------------------------------------------------
    def tick(self) -> None:
        self.frame += 1
        self.redraw()

    def _time(self, name: str) -> str:
        if name not in self.started:
            return ""
        end = self.ended.get(name, self.app.clock())
        return f"{max(0, end - self.started[name]):.0f}s"

    def redraw(self) -> None:
        table = self.query_one("#stages", DataTable)
        marks = {"done": "[green]✓[/green]", "failed": "[red]✗[/red]", "interrupted": "[yellow]■[/yellow]",
                 "skipped": "[dim]»[/dim]", "pending": "[dim]·[/dim]"}
        for name in self.stages:
            state = self.status.get(name, "pending")
            mark = SPINNER[self.frame % len(SPINNER)] if state == "running" else marks.get(state, " ")
            note = self.errors.get(name) or self.notes.get(name, "")
            cells = (mark, name, state, self._time(name), escape(note.splitlines()[0] if note else "")[:70])
            if name not in table.rows:
                table.add_row(*cells, key=name)
                continue
            for column, value in zip(self.columns, cells):
                table.update_cell(name, column, value, update_width=True)
        finished = sum(1 for name in self.stages if self.status.get(name) in FINAL)
        if self.stages:
            self.query_one("#bar", ProgressBar).update(progress=finished)
        running = [name for name in self.stages if self.status.get(name) == "running"]
        total = max(0, self.app.clock() - self.began)
        self.query_one("#elapsed", Static).update(
            f"{finished}/{len(self.stages)} stages · {total:.0f}s" + (f" · running: {', '.join(running)}" if running else ""))

    def select(self, stage: str) -> None:
        if stage == self.selected:
            return
        self.selected = stage
        log = self.query_one("#output", Log)
        log.clear()
        log.write_lines(self.output.get(stage, []))
        self.query_one("#progress-title", Static).update(f"[b]Installing[/b]  [dim]output of {stage}[/dim]")
        if stage in self.stages:
            with self.prevent(DataTable.RowHighlighted):
                self.query_one("#stages", DataTable).move_cursor(row=self.stages.index(stage), animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value in self.stages:
            self.select(event.row_key.value)

    # --- failure actions --------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"retry": self.action_retry, "skip": self.action_skip, "open-log": self.action_open_log,
         "diagnose": self.action_diagnose, "quit": self.app.action_request_quit}[event.button.id]()

    def action_retry(self) -> None:
        if self.app.install_running:
            return
        self.runner_.reset_for_retry()
        self.start()

    def action_skip(self) -> None:
        if self.app.install_running or not self.failed or self.query_one("#skip", Button).disabled:
            return
        self.runner_.skipped.add(self.failed)
        self.status[self.failed] = "skipped"
        self.notes[self.failed] = "skipped by you; runs again next time"
        self.errors.pop(self.failed, None)
        self.runner_.reset_for_retry()
        self.start()

    def action_open_log(self) -> None:
        self.read_log()

    def action_diagnose(self) -> None:
        if self.app.install_running:
            return
        self.query_one("#diagnose", Button).disabled = True
        self.diagnose()

    @work(thread=True, exclusive=True, group="diagnose", exit_on_error=False)
    def diagnose(self) -> None:
        from .dialogs import LogViewer

        try:
            result = self.runner_.diagnose()
            title, text = result.archive, result.report + f"\nWritten to {result.archive} (0600), secrets masked.\n"
        except Exception as err:  # noqa: BLE001 - shown, never fatal to the screen
            title, text = self.app.directory, f"Diagnose could not run: {err}"
        self.app.call_from_thread(self._diagnosed, LogViewer(title, text))

    def _diagnosed(self, viewer) -> None:
        self.query_one("#diagnose", Button).disabled = False
        self.app.push_screen(viewer)

    @work(thread=True, exclusive=True, group="log", exit_on_error=False)
    def read_log(self) -> None:
        from wizard.runner import LOG_FILE

        path = self.app.directory / LOG_FILE
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            text = "(no log yet)"
        from .dialogs import LogViewer

        self.app.call_from_thread(self.app.push_screen, LogViewer(path, text))


def _options():
    import os

    from wizard.context import Options

    # Explicitly: the kubernetes client reads KUBECONFIG once, when it is first imported.
    return Options(kubeconfig=os.environ.get("KUBECONFIG") or None)
