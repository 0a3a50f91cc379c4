"""Render answers in memory for tests, the way export does, without writing."""

from __future__ import annotations

from wizard import __version__
from wizard.export import applicable_secrets
from wizard.installdir import RenderedFile
from wizard.render import render_all
from wizard.settings import load_answers
from wizard.yamlio import loads, loads_all


def render(raw: dict, stored: dict | None = None, token=None) -> dict[str, RenderedFile]:
    result = load_answers(raw, stored or {})
    assert result.ok, [str(p) for p in result.problems]
    secrets = applicable_secrets(result.settings, stored or {}, token)
    return {f.name: f for f in render_all(result.settings, secrets, __version__)}


def yaml_of(files: dict[str, RenderedFile], name: str):
    return loads(files[name].content)


def documents_of(files: dict[str, RenderedFile], name: str) -> list:
    return loads_all(files[name].content)
