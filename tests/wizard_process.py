"""The wizard as a process of its own against a test cluster: the example answers with changes,
and `wizard ...` run or started with an environment from real_kube_env / fault_proxy_env."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import EXAMPLE_ANSWERS, REPO


def example_answers(directory: Path, changes: dict | None = None) -> Path:
    """The tests' full answers (tests/data/full-answers.yaml) with `changes` merged per section, written into `directory`."""
    raw = yaml.safe_load(EXAMPLE_ANSWERS.read_text())
    for section, values in (changes or {}).items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(copy.deepcopy(values))
        else:
            raw[section] = values
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "answers-test.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def wizard_argv(directory: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "wizard", *args, "--dir", str(directory)]


def run_wizard(env: dict, directory: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(wizard_argv(directory, *args), env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


def start_wizard(env: dict, directory: Path, *args: str) -> subprocess.Popen:
    """Started with stdout and stderr on one pipe, for a test that reads as it goes and signals it."""
    return subprocess.Popen(wizard_argv(directory, *args), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=REPO)
