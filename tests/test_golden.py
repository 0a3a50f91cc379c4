"""Golden files: the example answers render to exactly the files in tests/golden/example.

After an intended change, regenerate with `UPDATE_GOLDEN=1 ./scripts/test.sh tests/test_golden.py`
and read the diff before committing it.
"""

from __future__ import annotations

import os

from tests.conftest import EXAMPLE_ANSWERS, REPO, fixed_tokens
from wizard.export import export, read_answers_file

GOLDEN = REPO / "tests" / "golden" / "example"


def test_example_answers_render_to_the_golden_files(tmp_path):
    result = export(read_answers_file(EXAMPLE_ANSWERS), tmp_path, token=fixed_tokens())
    assert result.ok
    rendered = {p.name: p.read_text() for p in tmp_path.iterdir() if p.name != ".install.lock"}
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for old in GOLDEN.iterdir():
            old.unlink()
        for name, text in rendered.items():
            (GOLDEN / name).write_text(text)
    golden = {p.name: p.read_text() for p in GOLDEN.iterdir()}
    assert sorted(rendered) == sorted(golden)
    for name in golden:
        assert rendered[name] == golden[name], f"{name} differs from tests/golden/example/{name}"
    # A second export into the same directory changes nothing and keeps the generated tokens.
    again = export(read_answers_file(EXAMPLE_ANSWERS), tmp_path)
    assert again.report.written == []
    assert {p.name: p.read_text() for p in tmp_path.iterdir() if p.name != ".install.lock"} == rendered
