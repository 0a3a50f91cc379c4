"""Files of the install directory that someone edited badly, or wrote to hurt: duplicate keys, alias
bombs, wrong shapes. Each is refused with exit 2, a message naming what is wrong, no traceback, no
secret shown, and nothing on disk changed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLE_ANSWERS, REPO
from wizard.cli import main

BOMB = "\n".join([
    'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    *[f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]" for prev, name in zip("abcdefgh", "bcdefghi")],
])


def snapshot(directory) -> dict[str, bytes]:
    """Every file but the lock (whose note says who took it last)."""
    if not directory.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != ".install.lock"}


def exported(tmp_path):
    out = tmp_path / "setup"
    assert main(["export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(out)]) == 0
    return out


def run_wizard(*args: str, limit_memory: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
    """The wizard in a process of its own; with `limit_memory`, 1 GiB of address space at most."""
    prelude = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); " if limit_memory else ""
    code = prelude + "import sys; from wizard.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_a_key_twice_in_the_answers_is_refused_naming_both_lines(tmp_path, capsys):
    text = EXAMPLE_ANSWERS.read_text()
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("client_secret:")) + 1
    lines.insert(first, "  client_secret: second-SECRET-value")
    answers = tmp_path / "answers.yaml"
    answers.write_text("\n".join(lines) + "\n")
    out = tmp_path / "setup"
    assert main(["export", "--answers", str(answers), "--dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "client_secret" in err and f"line {first}" in err and f"line {first + 1}" in err, err
    assert "SECRET" not in err and "example-client-secret" not in err
    assert not out.exists()


def test_an_alias_bomb_in_the_answers_is_refused_at_once(tmp_path):
    """Nine levels of nine aliases: 387 million strings once expanded. Refused before anything is
    built: the process may not use more than 1 GiB, and ends well within the time limit."""
    answers = tmp_path / "answers.yaml"
    anchors = "bomb:\n  " + BOMB.replace("\n", "\n  ") + "\n"
    answers.write_text(anchors + EXAMPLE_ANSWERS.read_text().replace("admin_users: [adminuser1]", "admin_users: *i"))
    run = run_wizard("export", "--answers", str(answers), "--dir", str(tmp_path / "setup"), limit_memory=True)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "aliases" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "setup").exists()


@pytest.mark.parametrize("content,expect", [
    ("jupyterhub:\n  proxy:\n    secretToken: KEEP-first\n    secretToken: KEEP-second\n", "appears twice"),
    (BOMB + "\njupyterhub: {proxy: {secretToken: *i}}\n", "aliases"),
    ("a: &a [*a]\n", "refers to a node that contains it"),
], ids=["key twice", "alias bomb", "alias loop"])
def test_a_hostile_secret_file_is_refused_and_kept(tmp_path, capsys, content, expect):
    out = exported(tmp_path)
    (out / "secret.yaml").write_text(content)
    before = snapshot(out)
    capsys.readouterr()
    run = run_wizard("export", "--dir", str(out), limit_memory=True)
    assert run.returncode == 2, run.stderr[-2000:]
    assert expect in run.stderr and "secret.yaml" in run.stderr and "Traceback" not in run.stderr
    assert "KEEP" not in run.stderr
    assert snapshot(out) == before


def test_a_key_twice_in_the_state_is_refused_naming_it(tmp_path):
    out = exported(tmp_path)
    (out / "state.json").write_text('{"version": 1, "stages": {"storage": {"status": "done"},\n'
                                    '  "storage": {"status": "failed"}}}\n')
    before = snapshot(out)
    for command in ("status", "install", "verify"):
        args = [command, "--dir", str(out)] + (["--yes"] if command == "install" else [])
        run = run_wizard(*args)
        assert run.returncode == 2, (command, run.stdout[-1000:], run.stderr[-2000:])
        assert "state.json" in run.stderr and "storage" in run.stderr and "twice" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
    assert snapshot(out) == before


# --- state.json of every wrong shape ---------------------------------------------------------------

def _stage(**record) -> str:
    import json

    return json.dumps({"version": 1, "stages": {"storage": record}})


STATE_SHAPES = {
    "not JSON": "{not json", "empty": "", "not UTF-8": b"\xff\xfe{\x00}", "a list": "[]", "a string": '"state"',
    "null": "null", "a number": "7", "no version": '{"stages": {}}', "version as text": '{"version": "1"}',
    "version a fraction": '{"version": 1.5}', "version true": '{"version": true}', "version zero": '{"version": 0}',
    "version negative": '{"version": -3}', "stages a list": '{"version": 1, "stages": []}',
    "stages text": '{"version": 1, "stages": "done"}', "stages null": '{"version": 1, "stages": null}',
    "a stage a list": '{"version": 1, "stages": {"storage": []}}',
    "a stage text": '{"version": 1, "stages": {"storage": "done"}}',
    "a stage null": '{"version": 1, "stages": {"storage": null}}',
    "an unnamed stage": '{"version": 1, "stages": {"": {"status": "done"}}}',
    "no status": _stage(), "status a number": _stage(status=1), "status unknown": _stage(status="finished"),
    "started text": _stage(status="done", started="yesterday"), "started true": _stage(status="done", started=True),
    "finished a list": _stage(status="done", finished=[1]), "fingerprint a number": _stage(status="done", fingerprint=5),
    "error an object": _stage(status="failed", error={"why": "x"}),
    "NaN": '{"version": 1, "stages": {"storage": {"status": "done", "started": NaN}}}',
    "Infinity": '{"version": 1, "stages": {"storage": {"status": "done", "finished": -Infinity}}}',
    "generated_secrets text": '{"version": 1, "stages": {}, "generated_secrets": "all"}',
    "generated_secrets numbers": '{"version": 1, "stages": {}, "generated_secrets": [1, 2]}',
    "nested too deep": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("shape", sorted(STATE_SHAPES))
def test_a_state_file_of_the_wrong_shape_is_refused_cleanly(tmp_path, capsys, shape):
    out = exported(tmp_path)
    content = STATE_SHAPES[shape]
    (out / "state.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(out)
    capsys.readouterr()
    for command in (["status"], ["export"], ["install", "--yes", "--dry-run"]):
        assert main([*command, "--dir", str(out)]) == 2, (shape, command)  # an exception would fail here
        err = capsys.readouterr().err
        assert "state.json" in err and "Traceback" not in err, (shape, command, err)
    assert snapshot(out) == before


def test_a_state_from_a_newer_wizard_is_refused_with_the_version_it_needs(tmp_path, capsys):
    out = exported(tmp_path)
    (out / "state.json").write_text('{"version": 2, "stages": {"storage": {"status": "done", "retries": 1}}, '
                                    '"ledger": [1]}\n')
    before = snapshot(out)
    capsys.readouterr()
    for command in (["status"], ["export"], ["install", "--yes"]):
        assert main([*command, "--dir", str(out)]) == 2
        err = capsys.readouterr().err
        assert "newer binderhub-wizard" in err and "state version 2" in err and "up to version 1" in err, err
    assert snapshot(out) == before, "never rewritten"


def test_fields_the_wizard_does_not_know_are_kept_when_it_writes_the_state(tmp_path):
    import json

    from wizard.state import load_state, save_state

    out = exported(tmp_path)
    state = json.loads((out / "state.json").read_text())
    state["ledger"] = {"from": "a later version"}
    state["stages"]["storage"] = {"status": "done", "started": 1.0, "finished": 2.0, "fingerprint": "f",
                                  "error": None, "retries": 3}
    (out / "state.json").write_text(json.dumps(state))
    loaded = load_state(out)
    loaded.stage("storage").status = "failed"
    save_state(out, loaded)
    again = json.loads((out / "state.json").read_text())
    assert again["ledger"] == {"from": "a later version"} and again["stages"]["storage"]["retries"] == 3
    assert again["stages"]["storage"]["status"] == "failed"
    assert again["generated_secrets"] == state["generated_secrets"]
