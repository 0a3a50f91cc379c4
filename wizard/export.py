"""`wizard export`: answers in, every file of an install directory out; never touches a cluster.

Nothing is written unless the whole answers file is valid and every file rendered; the changed
files are then replaced all or nothing. Export holds the directory's lock, as install does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__, secretstore, yamlio
from .installdir import InstallDirError, RenderedFile, WriteReport, read_private, write_files
from .render import ANSWERS_FILE, render_all
from .settings import FIELDS_BY_PATH, LoadResult, Problem, Settings, load_answers
from .state import STATE_FILE, InstallLock, load_state


# Files earlier versions wrote that nothing reads any more, and what replaced each.
RETIRED_FILES = {"openebs-values.yaml": "storage is now the OpenEBS Local PV hostpath chart alone, with "
                                       "localpv-provisioner-values.yaml"}


class AnswersError(Exception):
    """The answers could not be read at all (missing file, not YAML)."""


class SecretsMissing(Exception):
    """secret.yaml lacks secrets the wizard generated for this directory before."""

    def __init__(self, path: Path, missing: list[str]):
        effects = "; ".join(f"{key}: {secretstore.ROTATION_EFFECTS.get(key, 'a new value')}" for key in missing)
        # A whole command, not a bare option: status and verify meet this too and take no such option.
        super().__init__(f"{path} lacks secrets this directory generated before: {', '.join(missing)}. Restore "
                         f"it from a backup, or make new ones with `wizard export --regenerate-secrets --dir "
                         f"{path.parent}` ({effects})")
        self.missing = missing


@dataclass
class ExportResult:
    load: LoadResult
    report: WriteReport | None = None
    notes: list[str] = field(default_factory=list)
    regenerated: list[str] = field(default_factory=list)  # generated secrets made anew (--regenerate-secrets)

    @property
    def ok(self) -> bool:
        return self.report is not None


def read_answers_file(path: Path, *, follow_links: bool = True) -> Any:
    """The answers as YAML data. A file of the install directory itself is read without following
    a link (`follow_links=False`); one the user names may be anywhere."""
    try:
        text = (path.read_bytes() if follow_links else read_private(path)).decode("utf-8")
    except FileNotFoundError:
        raise AnswersError(f"{path}: no such answers file") from None
    except InstallDirError as err:
        raise AnswersError(str(err)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise AnswersError(f"{path}: cannot be read ({err.__class__.__name__})") from None
    try:
        return yamlio.loads(text)
    except yamlio.YAMLShapeError as err:
        raise AnswersError(f"{path}: {err}") from None
    except yamlio.YAMLError as err:
        # Only the position: the parser's message quotes the offending line, which may be a secret.
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise AnswersError(f"{path}: not valid YAML{where}") from None


def generated_keys(settings: Settings) -> list[str]:
    """The secrets the wizard makes for these answers (never asked for)."""
    generate = list(secretstore.GENERATED)
    if settings.registry.type == "in-cluster":
        generate.append("registry.password")  # the wizard's own registry: its password is ours to make
    return generate


def applicable_secrets(settings: Settings, stored: dict[str, str],
                       token: Callable[[], str] | None = None) -> dict[str, str]:
    """The secrets this install uses: answered ones that apply, stored generated ones, new ones."""
    given = {path: value for path, value in settings.secrets.items()
             if FIELDS_BY_PATH[path].applies(settings.answers)}
    generate = generated_keys(settings)
    kept = {key: value for key, value in stored.items() if key in generate}
    kwargs = {"token": token} if token else {}
    return secretstore.complete(given, kept, generate=generate, **kwargs)


def export(raw_answers: Any, directory: Path, *, token: Callable[[], str] | None = None,
           source: Path | None = None, regenerate: bool = False, state_from: Path | None = None) -> ExportResult:
    """Render the answers into `directory` under its lock. `state_from`: the directory whose
    state says which secrets were generated (a scratch render reads the real directory's)."""
    if not directory.exists():
        # Nothing there to read, and nothing may be created for answers that are refused.
        loaded = load_answers(raw_answers, {})
        if not loaded.ok:
            return ExportResult(loaded)
    with InstallLock(directory):
        return _export(raw_answers, directory, token, source, regenerate, state_from or directory)


def _export(raw_answers: Any, directory: Path, token: Callable[[], str] | None, source: Path | None,
            regenerate: bool, state_from: Path) -> ExportResult:
    stored = secretstore.read_stored(directory)
    loaded = load_answers(raw_answers, stored)
    result = ExportResult(loaded)
    if not loaded.ok:
        return result
    settings = loaded.settings
    state = load_state(state_from)
    generate = generated_keys(settings)
    # A secret.yaml cut short would otherwise silently get new tokens, breaking the running install.
    missing = [key for key in state.generated_secrets if key in generate and key not in stored]
    if missing and not regenerate:
        raise SecretsMissing(directory / secretstore.SECRET_FILE, missing)
    result.regenerated = missing
    secrets = applicable_secrets(settings, stored, token)
    files = render_all(settings, secrets, __version__)
    if state_from == directory and state.generated_secrets != sorted(generate):
        state.generated_secrets = sorted(generate)
        files.append(RenderedFile(STATE_FILE, state.to_json(), 0o644))
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
