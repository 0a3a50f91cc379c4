"""A labelled field bound to one settings path: the right editor for its kind (the core's
`Field.kind`: a switch for bool, radio buttons for choice, a text box for the rest, parsed and
formatted by the core). Each change updates the answers and tells the screen, which shows beside
each field the problems the core finds (`Answers.problems`: the field's own, and the rules across
fields); the text box is also styled as you type by the core's check of the field alone."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, Static

from wizard import validate as v
from wizard.settings import FIELDS_BY_PATH, check_field

from .session import Answers, from_text, problem_text


def field_id(path: str) -> str:
    return "f-" + path.replace(".", "-").replace("_", "-")


class CoreValidator(Validator):
    """The core's validator for one path, as a Textual Validator (it styles the Input)."""

    def __init__(self, path: str, answers: Answers):
        super().__init__()
        self.path = path
        self.answers = answers

    def validate(self, value: str) -> ValidationResult:
        try:
            FIELDS_BY_PATH[self.path].read(value, self.answers.raw)
        except v.Invalid as err:
            return self.failure(problem_text(err))
        return self.success()


class SettingField(Vertical):
    """One answer: label and editor on a row, its problem (or a note) below."""

    class Changed(Message):
        def __init__(self, field: "SettingField", path: str, value: Any):
            super().__init__()
            self.field = field
            self.path = path
            self.value = value

    def __init__(self, path: str, label: str, answers: Answers, *, choices: tuple[str, ...] | None = None,
                 placeholder: str = ""):
        super().__init__(id=field_id(path), classes="setting")
        self.path = path
        self.label = label
        self.answers = answers
        self.spec = FIELDS_BY_PATH[path]
        self.choices = choices or getattr(self.spec.check, "choices", ())
        self.kind = "choice" if choices else self.spec.kind
        self.placeholder = placeholder
        self._shown: str | None = None
        self.touched = False  # an empty required field says only "required" until it is edited

    # --- composing ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        value = self.answers.get(self.path)
        with Horizontal(classes="row"):
            yield Label(self.label, classes="label")
            if self.kind == "choice":
                with RadioSet(classes="editor"):
                    for choice in self.choices:
                        yield RadioButton(choice, value=(choice == value), name=choice)
            elif self.kind == "bool":
                yield Checkbox("", value=bool(value), classes="editor")
            else:
                box = Input(self.spec.format(value), placeholder=f"e.g. {self.placeholder}" if self.placeholder else "", password=self.spec.secret,
                            validators=[CoreValidator(self.path, self.answers)], validate_on=["changed"],
                            classes="editor")
                box.cursor_blink = getattr(self.app, "blink", True)
                yield box
        message = Static("", classes="message")
        message.display = False  # until the screen shows a problem or a note
        yield message

    def on_mount(self) -> None:
        editor = self.editor
        editor.tooltip = self.spec.help  # the screen shows the problems once its fields are mounted

    @property
    def editor(self):
        return self.query_one(".editor")

    # --- values ---------------------------------------------------------------------------------
    def set_value(self, value: Any) -> None:
        """Change the value from the program (a default, a suggestion)."""
        editor = self.editor
        if isinstance(editor, Input):
            editor.value = self.spec.format(value)
        elif isinstance(editor, Checkbox):
            editor.value = bool(value)
        else:
            for button in editor.query(RadioButton):
                if button.name == value:
                    button.value = True
        self._store(value)

    def disable_choice(self, choice: str, reason: str | None) -> None:
        for button in self.query(RadioButton):
            if button.name == choice:
                button.disabled = reason is not None
                button.tooltip = reason

    def _store(self, value: Any) -> None:
        if self.answers.get(self.path) == value:
            return
        self.answers.set(self.path, value)
        self.post_message(self.Changed(self, self.path, value))  # the screen shows the problems again

    def show_problem(self, problem: str | None) -> None:
        """Show the core's problem of this field (its own, or a rule across fields), else its note."""
        if not self.display:
            problem = None
        if problem and not self.touched and self.answers.get(self.path) in ("", None):
            self._show("required", invalid=False, note=False)
            return
        note = None
        if problem is None and self.answers.applies(self.path):
            try:
                note = check_field(self.path, self.answers.get(self.path), self.answers.raw).note
            except v.Invalid:
                note = None
        text = f"✗ {problem}" if problem else (f"! {note}" if note else "")
        self._show(text, invalid=problem is not None, note=problem is None and note is not None)

    def _show(self, text: str, *, invalid: bool, note: bool) -> None:
        self.set_class(invalid, "-invalid")
        self.set_class(note, "-note")
        messages = self.query(".message").results(Static)
        message = next(messages, None)
        if message is None or text == self._shown:
            return  # not composed yet; or unchanged, which costs no layout: typing stays quick
        self._shown = text
        message.update(text)
        message.display = bool(text)

    # --- editor events ----------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.has_focus:
            self.touched = True
        self._store(from_text(self.path, event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.focus_next()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._store(event.value)

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self._store(event.pressed.name)
