"""Plain prompts (questionary) for `wizard export` on a terminal without an answers file.

Walks the same field table as the answers file, asking only what applies given the answers so
far, and checks each answer with the same validator the answers file and the TUI use.
"""

from __future__ import annotations

from typing import Any

from . import validate as v
from .settings import FIELDS, REQUIRED, Field, _set, check_field

LIST_FIELDS = ("auth.admin_users", "auth.allowed_users", "auth.allowed_groups")
# Asked only when the user says they want the advanced questions.
ADVANCED = ("cluster.context", "cluster.release", "cluster.runtime", "cluster.nodes", "registry.allow_http",
            "auth.allow_http",
            "auth.login_service", "hub.named_server_limit", "hub.cull.timeout", "hub.resources.cpu_limit",
            "hub.resources.memory_limit", "hub.resources.cpu_guarantee", "hub.resources.memory_guarantee")


def _default_text(spec: Field, answers: dict) -> str:
    default = spec.default(answers) if callable(spec.default) else spec.default
    if default is REQUIRED or default is None:
        return ""
    if isinstance(default, list):
        return ", ".join(default)
    return str(default)


def _parse(spec: Field, text: str) -> Any:
    if spec.path in LIST_FIELDS:
        return [item.strip() for item in text.split(",") if item.strip()]
    if spec.check in (v.port_number,) or spec.path in ("hub.named_server_limit", "hub.cull.timeout"):
        return int(text) if text.strip().lstrip("-").isdigit() else text
    if spec.path in ("hub.resources.cpu_limit", "hub.resources.cpu_guarantee"):
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            return text
    return text


def _validator(spec: Field, answers: dict):
    def check(text: str) -> bool | str:
        if text == "":
            default = spec.default(answers) if callable(spec.default) else spec.default
            return f"{spec.path} is required: {spec.help}" if default is REQUIRED else True
        try:
            check_field(spec.path, _parse(spec, text), answers)
        except v.Invalid as err:
            return f"{err.why} (allowed: {err.allowed})"
        return True
    return check


def ask_answers(**io: Any) -> dict | None:
    """Ask every applicable question; None if the user cancels (Ctrl+C). `io` goes to questionary
    (input/output), so tests can drive it."""
    import questionary

    answers: dict = {}
    advanced = False
    for spec in FIELDS:
        if spec.path in ADVANCED and not advanced:
            continue
        if not spec.applies(answers):
            continue
        question = _question(questionary, spec, answers, io)
        reply = question.ask()
        if reply is None:
            return None
        if spec.path == "profile":
            advanced = questionary.confirm("Ask the advanced questions too?", default=False, **io).ask()
            if advanced is None:
                return None
        if reply == "" and not spec.secret:
            continue  # the default applies
        _set(answers, spec.path, reply if isinstance(reply, bool) or spec.check.__dict__.get("choices")
             else _parse(spec, reply))
    return answers


def _question(questionary: Any, spec: Field, answers: dict, io: dict):
    label = f"{spec.path} — {spec.help}" if spec.help else spec.path
    choices = getattr(spec.check, "choices", None)
    if choices:
        default = _default_text(spec, answers)
        return questionary.select(label, choices=list(choices), default=default or None, **io)
    if spec.check is v.boolean:
        return questionary.confirm(label, default=bool(spec.default), **io)
    if spec.secret:
        return questionary.password(label, validate=_validator(spec, answers), **io)
    return questionary.text(label, default=_default_text(spec, answers), validate=_validator(spec, answers), **io)
