"""The layering contract, checked on the source: the core (`wizard/`) never imports the UI
(`screens/`, Textual, questionary outside the prompts it owns is allowed), and the screens reach the
core only through its public names (no `_private` name of a `wizard` module).

An equivalent of an import-linter contract, without the dependency: the import graph is read with
`ast` from every file (so an import inside a function counts too), and the core is then imported
for real in a fresh interpreter to prove that nothing it pulls in imports Textual transitively.
What it cannot see: an import built from a string (importlib with a computed name)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

UI_PACKAGES = ("screens", "textual")


def _sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_the_core_never_imports_the_ui():
    offences = []
    for path in _sources("wizard"):
        for line, module in _imported_modules(ast.parse(path.read_text(), str(path))):
            if module.split(".")[0] in UI_PACKAGES:
                offences.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert offences == []


def test_importing_every_core_module_loads_no_ui_module():
    modules = [".".join(path.relative_to(REPO).with_suffix("").parts) for path in _sources("wizard")]
    modules = [name.removesuffix(".__init__") for name in modules if not name.endswith("__main__")]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'screens')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")  # __version__ and the like are public


def _private_uses(path: Path, root: Path = REPO) -> list[str]:
    """`from wizard.x import _name`, `import wizard._x`, and `module._name` on a wizard module."""
    tree = ast.parse(path.read_text(), str(path))
    offences, module_names = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "wizard":
            if any(part.startswith("_") and part != "__init__" for part in node.module.split(".")):
                offences.append(f"{node.lineno}: from {node.module}")
            for alias in node.names:
                if alias.name.startswith("_") and not _dunder(alias.name):
                    offences.append(f"{node.lineno}: from {node.module} import {alias.name}")
                elif node.module == "wizard":  # `from wizard import settings`: a module bound to a name
                    module_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "wizard":
                    if any(part.startswith("_") for part in alias.name.split(".")):
                        offences.append(f"{node.lineno}: import {alias.name}")
                    module_names.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not _dunder(node.attr)
                and ast.unparse(node.value).split(".")[0] in module_names):
            offences.append(f"{node.lineno}: {ast.unparse(node)}")
    return [f"{path.relative_to(root)}:{offence}" for offence in offences]


def test_the_screens_use_only_public_names_of_the_core():
    offences = [offence for path in _sources("screens") for offence in _private_uses(path)]
    assert offences == []


def test_the_private_name_check_can_fail(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from wizard.settings import _get, FIELDS\nimport wizard.runner as r\nr._chain\n"
                      "from wizard import install, __version__\ninstall._context\n")
    assert [o.split(":", 1)[1] for o in _private_uses(sample, root=tmp_path)] == [
        "1: from wizard.settings import _get", "3: r._chain", "5: install._context"]
