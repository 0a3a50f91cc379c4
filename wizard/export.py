"""`wizard export`: answers in, every file of an install directory out; never touches a cluster.

Nothing is written unless the whole answers file is valid and every file rendered; each file is
then replaced atomically, and only if its content changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__, secretstore, yamlio
from .installdir import WriteReport, write_files
from .render import ANSWERS_FILE, render_all
from .settings import FIELDS_BY_PATH, LoadResult, Problem, Settings, load_answers


# Files earlier versions wrote that nothing reads any more, and what replaced each.
RETIRED_FILES = {"openebs-values.yaml": "storage is now the OpenEBS Local PV hostpath chart alone, with "
                                       "localpv-provisioner-values.yaml"}


class AnswersError(Exception):
    """The answers could not be read at all (missing file, not YAML)."""


@dataclass
class ExportResult:
    load: LoadResult
    report: WriteReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report is not None


def read_answers_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnswersError(f"{path}: no such answers file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise AnswersError(f"{path}: cannot be read ({err.__class__.__name__})") from None
    try:
        return yamlio.loads(text)
    except yamlio.YAMLError as err:
        # Only the position: the parser's message quotes the offending line, which may be a secret.
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise AnswersError(f"{path}: not valid YAML{where}") from None


def applicable_secrets(settings: Settings, stored: dict[str, str],
                       token: Callable[[], str] | None = None) -> dict[str, str]:
    """The secrets this install uses: answered ones that apply, stored generated ones, new ones."""
    given = {path: value for path, value in settings.secrets.items()
             if FIELDS_BY_PATH[path].applies(settings.answers)}
    generate = list(secretstore.GENERATED)
    if settings.registry.type == "in-cluster":
        generate.append("registry.password")  # the wizard's own registry: its password is ours to make
    kept = {key: value for key, value in stored.items() if key in generate}
    kwargs = {"token": token} if token else {}
    return secretstore.complete(given, kept, generate=generate, **kwargs)


def export(raw_answers: Any, directory: Path, *, token: Callable[[], str] | None = None,
           source: Path | None = None) -> ExportResult:
    stored = secretstore.read_stored(directory)
    loaded = load_answers(raw_answers, stored)
    result = ExportResult(loaded)
    if not loaded.ok:
        return result
    settings = loaded.settings
    secrets = applicable_secrets(settings, stored, token)
    files = render_all(settings, secrets, __version__)
    result.report = write_files(directory, files)
    for old_file, why in RETIRED_FILES.items():
        if (directory / old_file).exists():
            result.notes.append(f"{directory / old_file} is no longer used ({why}); you may delete it")
    if source is not None and source.resolve() != (directory / ANSWERS_FILE).resolve():
        given = [path for path in settings.secrets if path in settings.given]
        if given:
            result.notes.append(
                f"{source} holds secrets ({', '.join(given)}): they are now in {directory / 'secret.yaml'}. "
                f"Remove them from {source}, or use {directory / ANSWERS_FILE} from now on.")
    return result


def format_problems(problems: list[Problem]) -> str:
    return "\n".join(f"  - {problem}" for problem in problems)
