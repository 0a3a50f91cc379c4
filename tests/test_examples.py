"""The README's first command, on the shipped example: it must work on a fresh machine without a
cluster, print no warning, and the example must hold no secret (users copy it into their own
repositories). Run through the real `wizard` console script, as the README runs it."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.conftest import REPO
from wizard.settings import FIELDS, FIELDS_BY_PATH, SECRET_PATHS, value_at

EXAMPLE = REPO / "examples" / "answers.yaml"
_MISSING = object()


def _wizard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wizard", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_the_readme_first_command_writes_the_files_without_a_warning(tmp_path):
    readme = (REPO / "README.md").read_text()
    assert "wizard export --answers examples/answers.yaml --dir ./binderhub-setup" in readme
    out = tmp_path / "binderhub-setup"
    done = _wizard("export", "--answers", str(EXAMPLE), "--dir", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", f"the README's first command printed to stderr:\n{done.stderr}"
    for name in ("answers.yaml", "secret.yaml", "config.yaml", "install.sh", "traefik-values.yaml"):
        assert (out / name).is_file(), name
    # It ends with what to do next, naming the directory it wrote.
    assert done.stdout.rstrip().splitlines()[-1].startswith("Next: ")
    assert f"wizard install --dir {out}" in done.stdout


def test_the_example_holds_no_secret_and_uses_the_default_controller():
    raw = yaml.safe_load(EXAMPLE.read_text())
    given = [path for path in SECRET_PATHS if value_at(raw, path, _MISSING) is not _MISSING]
    assert given == [], f"examples/answers.yaml holds secrets: {given}"
    assert raw["ingress"]["controller"] == FIELDS_BY_PATH["ingress.controller"].default
    # Every key in it is one the wizard knows (a typo would be a warning, tested above; this names it).
    known = {spec.path for spec in FIELDS}

    def leaves(node, prefix=""):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and path not in known:
                yield from leaves(value, path + ".")
            else:
                yield path

    assert sorted(set(leaves(raw)) - known) == []
