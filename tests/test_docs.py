"""The README documents every answer key, and CI runs the README's test command."""

from __future__ import annotations

import re

from tests.conftest import REPO
from wizard.settings import FIELDS


def test_readme_documents_every_answers_key():
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", readme, flags=re.M))
    missing = {f.path for f in FIELDS} - documented
    assert not missing, f"README lacks: {sorted(missing)}"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    command = "./scripts/test.sh"
    assert f"```sh\n{command}\n```" in readme
    assert command in (REPO / ".ci" / "run").read_text()
