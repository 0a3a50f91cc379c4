"""Every message the CLI prints on a refusal or failure advises only what the user can type: an
option named bare (`--answers FILE`) is one the command that printed it accepts, and a command
quoted in full (`wizard export --regenerate-secrets`) exists with those options.

The scenarios are the refusals an operator meets before any cluster is reached, and an install and
a verify against an address where no API server answers. Options are read from the real argument
parser, so a renamed option fails this test instead of leaving stale advice."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLE_ANSWERS, REPO
from wizard.cli import _parser

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
QUOTED = re.compile(r"`([^`]*)`")
OTHER_PROGRAM = re.compile(r"(?<![\w-])(helm|kubectl|curl|sudo|systemctl|kubeadm)\s[^\n]*")


def _accepted(command: str) -> set[str]:
    parser = _parser()
    top = set(parser._option_string_actions)
    subcommands = next(action for action in parser._actions if action.dest == "command").choices
    return top | set(subcommands[command]._option_string_actions)


def bad_advice(command: str, text: str) -> list[str]:
    """Options in `text` that `wizard COMMAND` (or the quoted wizard command) would refuse."""
    problems = []
    commands = next(action for action in _parser()._actions if action.dest == "command").choices
    for quoted in QUOTED.findall(text):
        words = shlex.split(quoted, posix=True) if quoted.count("'") % 2 == 0 else quoted.split()
        if words[:1] == ["wizard"]:
            named = next((word for word in words[1:] if word in commands), None)
            if named is None:
                continue
            problems += [f"`{quoted}`: {option}" for option in OPTION.findall(quoted)
                         if option not in _accepted(named)]
    bare = QUOTED.sub(" ", text)
    # A command of another program (the preview's `helm upgrade --install ...` lines) is not advice.
    bare = OTHER_PROGRAM.sub(" ", bare)
    problems += [f"{command}: {option}" for option in OPTION.findall(bare) if option not in _accepted(command)]
    return problems


def test_the_check_itself_finds_advice_a_command_refuses():
    assert bad_advice("status", "no answers. Pass --answers FILE") == ["status: --answers"]
    assert bad_advice("verify", "run `wizard export --regenerate-secrets` first") == []
    assert bad_advice("verify", "run `wizard status --yes`") == ["`wizard status --yes`: --yes"]
    assert bad_advice("install", "pass --yes, or see `kubectl get svc --all`") == []
    assert bad_advice("install", "  [ingress] helm upgrade --install x --repo y\nretry with --from") == []


def _run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wizard", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def env(tmp_path):
    # An API server address where nothing listens: refused at once.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "nowhere",
        "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "nobody", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "nobody"}}]}))
    return {**os.environ, "KUBECONFIG": str(kubeconfig)}


def _exported(tmp_path: Path, env: dict, answers: Path = EXAMPLE_ANSWERS) -> Path:
    directory = tmp_path / "setup"
    assert _run(env, "export", "--answers", str(answers), "--dir", str(directory)).returncode == 0
    return directory


def _scenarios(tmp_path: Path, env: dict):
    empty = tmp_path / "empty"
    empty.mkdir()
    yield "no answers", empty, []
    # The README's example: no secret of the user's, so only the generated ones are missing.
    lost = _exported(tmp_path / "lost", env, REPO / "examples" / "answers.yaml")
    (lost / "secret.yaml").unlink()  # the generated tokens are gone: a restore or a regeneration is needed
    yield "secrets lost", lost, []
    corrupt = _exported(tmp_path / "corrupt", env)
    (corrupt / "state.json").write_text("{not json")
    yield "corrupt state", corrupt, []
    fine = _exported(tmp_path / "fine", env)
    yield "no API server", fine, ["--timeout", "3"]


COMMANDS = {"export": [], "install": ["--dry-run"], "status": [], "verify": []}


def test_no_message_advises_an_option_the_command_refuses(tmp_path, env):
    runs = []
    for scenario, directory, cluster_args in _scenarios(tmp_path, env):
        for command, extra in COMMANDS.items():
            args = [command, *extra, "--dir", str(directory)]
            if command in ("install", "verify"):
                args += cluster_args
            runs.append((scenario, command, args))
    with ThreadPoolExecutor(max_workers=4) as pool:  # each is a fresh interpreter: ~3 s of imports
        done = list(pool.map(lambda run: _run(env, *run[2]), runs))
    refusals = [(scenario, command, result) for (scenario, command, _), result in zip(runs, done)
                if result.returncode != 0]
    assert len(refusals) >= 10, "the scenarios no longer make the commands refuse: the test proves nothing"
    found = [f"{scenario}: {problem}" for scenario, command, result in refusals
             for problem in bad_advice(command, result.stdout + result.stderr)]
    assert found == [], "\n".join(found)
