"""The frame every settings screen shares: a title with the step number, a scrolling body of
fields, a line of help for the focused field, Back and Next. Next is disabled while the core finds
a problem in a field shown (its own, or a rule across fields, shown beside it); Esc goes back;
values live in the answers, so Back keeps them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Static

from .fields import SettingField
from .footer import Footer
from .session import STEP_FIELDS, asked_after

STEP_NAMES = tuple(STEP_FIELDS)  # step 1 is the first
STEP_TITLES = ("Cluster", "Network and TLS", "Ingress and storage", "Registry", "Login", "Hub", "Review")


class StepScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="the previous screen; every value is kept"),
        Binding("ctrl+n", "next", "Next", tooltip="the next screen, once this one is valid"),
    ]
    STEP = 0
    TITLE_TEXT = ""
    # Not Textual's automatic focus: it would focus the scrolling body first, restyling every field
    # under it, then again when the first field takes the focus (first_refresh).
    AUTO_FOCUS = ""

    @property
    def answers(self):
        return self.app.answers

    def compose(self) -> ComposeResult:
        yield Static(f"[b]{self.TITLE_TEXT}[/b]  [dim]step {self.STEP} of {len(STEP_TITLES)}[/dim]", classes="title")
        with VerticalScroll(id="body"):
            yield from self.body()
        yield Static("", id="help")
        with Horizontal(id="nav"):
            yield Button("Back", id="back")
            yield Button("Next", id="next", variant="primary")
        yield Footer()

    def body(self) -> ComposeResult:
        return iter(())

    def field(self, path: str, label: str, **kwargs) -> SettingField:
        return SettingField(path, label, self.answers, **kwargs)

    def _on_screen_resume(self, event) -> None:
        # Made once and shown again (screens/app.py): its widgets were styled when made, so unless
        # the theme changed since, Textual's restyle of every widget on resume is skipped.
        if self._css_update_count == self.app._css_update_count:
            event.refresh_styles = False
        self._css_update_count = self.app._css_update_count

    def on_mount(self) -> None:
        # After the first refresh: nested children (rows, buttons) are mounted by then.
        self.call_after_refresh(self.first_refresh)

    def first_refresh(self) -> None:
        self.refresh_fields()
        for f in self.fields():
            if f.display:
                f.editor.focus()
                break

    # --- validity -------------------------------------------------------------------------------
    def fields(self) -> list[SettingField]:
        return list(self.query(SettingField))

    def shows(self, path: str) -> bool:
        """Whether this screen shows the field now (it applies to the answers so far)."""
        return self.answers.applies(path)

    def problems(self) -> dict[str, str]:
        """The core's problems of the fields shown, each field's own and the rules across fields
        that read them (except those naming a field a later step asks: shown there)."""
        return self.answers.problems([f.path for f in self.fields() if self.shows(f.path)],
                                     later=asked_after(STEP_NAMES[self.STEP - 1]) if self.STEP else ())

    def extra_problem(self) -> str | None:
        """A screen-level reason to hold Next (besides the fields)."""
        return None

    def valid(self) -> bool:
        return not self.problems() and self.extra_problem() is None

    def refresh_fields(self) -> None:
        problems = self.problems()
        for f in self.fields():
            f.display = self.shows(f.path)
            f.show_problem(problems.get(f.path))
        self.query_one("#next", Button).disabled = bool(problems) or self.extra_problem() is not None

    def on_setting_field_changed(self, event: SettingField.Changed) -> None:
        self.field_changed(event.path, event.value)
        self.refresh_fields()
        self.app.answers_changed()

    def field_changed(self, path: str, value) -> None:
        """Hook: a screen fills defaults that follow from a changed answer."""

    def on_descendant_focus(self, event) -> None:
        tip = getattr(event.widget, "tooltip", None)
        self.query_one("#help", Static).update(f"[dim]{tip}[/dim]" if isinstance(tip, str) and tip else "")

    # --- navigation -----------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            event.stop()
            self.action_back()
        elif event.button.id == "next":
            event.stop()
            self.action_next()

    def action_back(self) -> None:
        self.app.go_back()

    def action_next(self) -> None:
        if self.valid():
            self.app.go_next(self)
