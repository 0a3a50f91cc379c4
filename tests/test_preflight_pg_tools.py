"""Preflight says at once when the PostgreSQL client programs the hub database's backup needs are
missing (wizard/checks.py tools_present), with the real kubectl and helm on a PATH that has only
them; and says nothing for SQLite or when they are there."""

from __future__ import annotations

import copy
import os
import shutil

import pytest

from tests.variants import BASE
from wizard import checks
from wizard.context import Context
from wizard.runner import Runner
from wizard.settings import load_answers


def run_tools(tmp_path, monkeypatch, database: dict, tools: tuple[str, ...]) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("kubectl", "helm", *tools):
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not here")
        (bin_dir / tool).symlink_to(os.path.abspath(found))
    monkeypatch.setenv("PATH", str(bin_dir))
    raw = copy.deepcopy(BASE)
    raw.setdefault("hub", {})["database"] = database
    settings = load_answers(raw).settings
    notes: list[str] = []
    ctx = Context(settings, tmp_path, Runner(tmp_path / "install.log", env=dict(os.environ, PATH=str(bin_dir))),
                  notify=lambda stage, message: notes.append(message))
    checks.tools_present(ctx)
    return notes


POSTGRES = {"type": "postgres", "url": "postgresql://hub@db.example.org:5432/hub", "password": "pw-0123456789"}


def test_missing_pg_dump_and_psql_are_named_with_the_way_out(tmp_path, monkeypatch):
    notes = run_tools(tmp_path, monkeypatch, POSTGRES, ())
    assert len(notes) == 1 and notes[0].startswith("warning: pg_dump and psql not on PATH")
    assert "--no-database-backup" in notes[0] and "postgresql-client" in notes[0]


def test_nothing_is_said_when_they_are_there_or_for_sqlite(tmp_path, monkeypatch):
    assert run_tools(tmp_path / "a", monkeypatch, POSTGRES, ("pg_dump", "psql")) == []
    assert run_tools(tmp_path / "b", monkeypatch, {"type": "sqlite-pvc"}, ()) == []
