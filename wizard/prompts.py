"""Plain prompts (questionary) for `wizard export` on a terminal without an answers file.

Walks the same field table as the answers file, asking only what applies given the answers so
far. Each field's kind (settings.KINDS) decides the question; the core parses what is typed
(`Field.parse`) and finds its problems (`settings.problems`: the field's own, and the rules across
fields whose fields were asked), as it does for the answers file and the TUI. A select or yes/no
question takes no validator: a rule whose last field is one is reported when the answers are
checked as a whole.
"""

from __future__ import annotations

import copy
from typing import Any

from . import validate as v
from .settings import FIELDS, REQUIRED, Field, value_at, set_value_at, problems

def _default(spec: Field, answers: dict) -> Any:
    default = spec.default(answers) if callable(spec.default) else spec.default
    return None if default is REQUIRED else default


# Walks at most: after a walk whose answers break a rule, the questions are asked again with those
# answers as defaults and each problem beside its question.
WALKS = 3


def _validator(spec: Field, answers: dict, kept: Any = None):
    """The core's verdict on text typed for this field: its own check, and the rules across fields
    whose other fields were asked already (a rule reading a field asked later waits for it).
    `kept`: the answer of the walk before, which an empty reply keeps (a secret is not shown)."""
    later = _ASKED_AFTER[spec.path]

    def check(text: str) -> bool | str:
        if text == "":
            value = kept if kept is not None else _default(spec, answers)
            if value is None:
                return f"{spec.path} is required: {spec.help}"
        else:
            try:
                value = spec.parse(text)
            except v.Invalid as err:
                return str(err)
        candidate = copy.deepcopy(answers)
        set_value_at(candidate, spec.path, value)
        found = problems(candidate, (spec.path,), later=later)
        return f"{spec.path}: {found[spec.path]}" if spec.path in found else True
    return check


_ASKED_AFTER = {spec.path: tuple(later.path for later in FIELDS[index + 1:]) for index, spec in enumerate(FIELDS)}


def ask_answers(**io: Any) -> dict | None:
    """Ask every applicable question; None if the user cancels (Ctrl+C). Where the answers break
    a rule a question could not check (its last field a select or yes/no), offer to walk again
    with every answer as the default and the problems beside their questions. `io` goes to
    questionary (input/output), so tests can drive it."""
    import questionary

    answers: dict | None = {}
    found: dict[str, str] = {}
    for _walk_number in range(WALKS):
        answers = _walk(questionary, answers, found, io)
        if answers is None:
            return None
        found = problems(answers, [spec.path for spec in FIELDS])
        if not found:
            return answers
        listed = "; ".join(f"{path}: {why}" for path, why in found.items())
        again = questionary.confirm(f"These answers break a rule ({listed}). Go through the questions again, "
                                    "your answers the defaults?", default=True, **io).ask()
        if again is None:
            return None
        if not again:
            break
    return answers  # export lists what is still wrong


def _walk(questionary: Any, before: dict, found: dict[str, str], io: dict) -> dict | None:
    answers: dict = {}
    advanced = False
    for spec in FIELDS:
        if spec.advanced and not advanced and spec.path not in found:
            continue
        if not spec.applies(answers):
            continue
        kept = value_at(before, spec.path)
        reply = _question(questionary, spec, answers, io, kept, found.get(spec.path)).ask()
        if reply is None:
            return None
        if spec.path == "profile":
            advanced = questionary.confirm("Ask the advanced questions too?", default=False, **io).ask()
            if advanced is None:
                return None
        if reply == "":
            if kept is not None:
                set_value_at(answers, spec.path, kept)
            continue  # else the default applies
        set_value_at(answers, spec.path, reply if spec.kind in ("bool", "choice") else spec.parse(reply))
    return answers


def _question(questionary: Any, spec: Field, answers: dict, io: dict, kept: Any = None, problem: str | None = None):
    label = f"{spec.path} — {spec.help}" if spec.help else spec.path
    if problem:
        label = f"✗ {problem}\n{label}"
    default = kept if kept is not None else _default(spec, answers)
    if spec.kind == "choice":
        return questionary.select(label, choices=list(spec.choices), default=default, **io)
    if spec.kind == "bool":
        return questionary.confirm(label, default=bool(default), **io)
    validate = _validator(spec, answers, kept)
    if spec.kind == "secret":
        return questionary.password(label, validate=validate, **io)
    return questionary.text(label, default=spec.format(default), validate=validate, **io)
