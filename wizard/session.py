"""One install directory, one session: the settings, the plan, the status, the preview of a run
and the run itself, for the CLI (wizard/install.py) and the TUI (screens/) alike. The faces print,
prompt and choose exit codes; everything they say about the directory comes from here, so they
cannot disagree.

    directory -> render (DIR, or a scratch copy DIR never sees) -> settings -> plan -> engine
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import secretstore
from .context import Context, Options
from .engine import Engine, Event, Listener, Outcome, RunResult, fingerprint, stale_stages
from .export import AnswersError, ExportResult, SecretsMissing, export, format_problems, read_answers_file
from .directory import InstallDir
from .installdir import ANSWERS_FILE, LOG_FILE, InstallDirError, remove_scratch
from .runner import Masker, Runner, time_limit
from .settings import Settings
from .stage import Stage
from .state import InstallState, LockHeld, StateFileError

# How long a check waits when the session only looks (verify, the preview's re-checks): the
# cluster as it is now, not as it may become. The checks honour it through their deadline.
LOOK_ONLY_TIMEOUT = 1.0


class BadInput(Exception):
    pass


def check_names() -> tuple[str, ...]:
    """Every check `--skip-check` accepts: the cluster preflight's, then the host's (and "all",
    which turns every host check's error into a warning)."""
    from .checks import PREFLIGHT
    from .host import CHECKS

    return (*PREFLIGHT, *CHECKS, "all")


def refuse_unknown_checks(names) -> None:
    unknown = sorted(set(names) - set(check_names()))
    if unknown:
        raise BadInput(f"--skip-check {', '.join(unknown)}: no such check; the checks are: {', '.join(check_names())}")


class AnswersProblems(BadInput):
    """The answers do not validate: every problem at once."""

    def __init__(self, problems: list, warnings: list):
        super().__init__(f"{len(problems)} problem(s) in the answers; nothing applied:\n" + format_problems(problems))
        self.problems = [str(p) for p in problems]
        self.warnings = [str(w) for w in warnings]


# Refusals before anything was applied: the CLI exits 2 with one message, the TUI shows it.
REFUSED = (BadInput, AnswersError, LockHeld, StateFileError, secretstore.SecretFileError, SecretsMissing,
           InstallDirError)


@dataclass
class Rendered:
    settings: Settings
    directory: Path         # where the rendered files are (a scratch copy when `scratch`)
    masker: Masker
    scratch: bool = False
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ()      # what the render wrote
    changed: tuple[str, ...] = ()    # rendered files that are missing from DIR or differ there

    def cleanup(self) -> None:
        if self.scratch:
            remove_scratch(self.directory)


@dataclass(frozen=True)
class StageStatus:
    name: str
    status: str               # pending, running, done, stale, failed, interrupted, skipped
    started: float | None = None
    finished: float | None = None
    note: str = ""


@dataclass
class Status:
    stages: list[StageStatus] = field(default_factory=list)
    problem: str = ""         # why the answers could not be rendered (the recorded stages are shown)
    backups: list[str] = field(default_factory=list)   # DIR/backups/*, oldest first, one line each


@dataclass
class Preview:
    """What a run would do now, found by a dry run in a scratch copy (DIR is not touched)."""
    settings: Settings
    warnings: list[str]
    files: list[str]
    changed: list[str]
    stages: list[Stage]
    stale: dict[str, str]                        # stage -> why it must run
    result: RunResult
    commands: list[tuple[str, str]]              # (stage, command) with DIR's paths, secrets masked
    notes: dict[int, list[str]] = field(default_factory=dict)   # index in commands -> where its files come from
    changes: Any = None                          # wizard.upgrade.Changes: rendered files, objects per release

    @property
    def refused(self):
        return self.result.refused

    def verdict(self, name: str) -> str:
        """One line per stage: what the run would do with it, and why."""
        outcome = self.result.outcomes.get(name)
        message = self.result.messages.get(name, "")
        if outcome is Outcome.DONE_BEFORE:
            return message.replace("done before; ", "done; ") or "done"
        if outcome in (Outcome.FAILED, Outcome.REFUSED):
            return f"would fail: {message.splitlines()[0] if message else ''}"
        if outcome is Outcome.PENDING or outcome is None:
            return "not reached: " + (message or "not selected")
        why = self.stale.get(name) or "its checks fail now"
        if outcome is Outcome.DONE:
            return f"will run: {why}; checks pass"
        return f"will run: {why}"


@dataclass
class Run:
    """A rendered directory, its context, plan and state: ready to be shown, then executed."""
    session: "InstallSession"
    rendered: Rendered
    ctx: Context
    stages: list[Stage]
    state: InstallState
    reasons: dict[str, str]
    before: dict[str, bytes] | None = None   # DIR's secret.yaml, answers, ledger before this run rendered

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def execute(self, *, from_stage: str | None = None, only: str | None = None,
                skipped: frozenset[str] | set[str] = frozenset()) -> RunResult:
        """Run (or resume) the plan without the `skipped` stages; every event goes to the session's listener."""
        for wanted in (from_stage, only):
            if wanted and wanted not in self.stage_names():
                raise BadInput(f"no stage {wanted!r} in this plan; stages: {', '.join(self.stage_names())}")
        stages = [dataclasses.replace(stage, needs=tuple(n for n in stage.needs if n not in skipped))
                  for stage in self.stages if stage.name not in skipped]
        self.state = self.session.dir.state()  # what DIR says now (under the lock, for a real run)
        if not self.ctx.runner.dry_run:
            from .backup import before_hub_change  # a backup before any change to an installed hub

            before_hub_change(self.ctx, self.state, self.reasons, Engine(self.ctx, stages, self.state).selected(
                from_stage, only), database=self.session.database_backup, files=self.before)
        engine = Engine(self.ctx, stages, self.state, self.session.listener)
        result = engine.run(from_stage=from_stage, only=only)
        if not self.ctx.runner.dry_run and result.outcomes.get("binderhub") == Outcome.DONE:
            from .backup import remember_applied  # what the next backup keeps as "before"

            remember_applied(self.session.directory)
        return result

    def verify(self) -> RunResult:
        return Engine(self.ctx, self.stages, self.state, self.session.listener).verify_all()

    def cancel(self) -> None:
        """Stop the running commands and the checks' waits; the engine records the stage as interrupted."""
        self.ctx.cancel.set()
        if "cluster" in self.ctx.__dict__:  # opened already: end its waits too
            self.ctx.cluster.cancel()
        self.ctx.runner.cancel()

    def close(self) -> None:
        self.rendered.cleanup()


class InstallSession:
    """The install directory and what is known of it. `answers`: a file to render from (default
    DIR/answers.yaml); `raw`: answers in memory (the TUI's, secrets in) instead of a file. `plan`:
    the plan for settings (tests hand in their own); `listener`: where every event of a run goes,
    command output and the checks' notes included."""

    def __init__(self, directory: Path, *, answers: Path | None = None, raw: dict | None = None,
                 options: Options | None = None, plan: Callable[[Settings], list[Stage]] | None = None,
                 bootstrap: bool = False, cluster_factory: Callable[[], Any] | None = None,
                 regenerate: bool = False, listener: Listener | None = None):
        self.dir = InstallDir(directory)
        self.answers = answers
        self.raw = raw
        self.options = options or Options()
        self._plan = plan
        self.bootstrap = bootstrap
        self.cluster_factory = cluster_factory
        self.regenerate = regenerate
        self.listener: Listener = listener or (lambda event: None)
        self.database_backup = True  # back the hub database up before changing an installed hub

    @property
    def directory(self) -> Path:
        return self.dir.path

    # --- settings and plan ------------------------------------------------------------------------
    def plan(self, settings: Settings) -> list[Stage]:
        if self._plan is not None:
            return self._plan(settings)
        from .stages import plan

        return plan(settings, bootstrap=self.bootstrap)

    def _raw_answers(self) -> Any:
        if self.raw is not None:
            return self.raw
        source = self.answers or self.dir.answers
        if not source.exists():
            # Named as a whole command: status and verify take no --answers of their own.
            raise BadInput(f"no answers: {source} does not exist. Write them with "
                           f"`wizard export --answers FILE --dir {self.dir.path}` first")
        return read_answers_file(source, follow_links=self.answers is not None)

    def render(self, *, scratch: bool, overrides: dict | None = None) -> Rendered:
        """Render the answers into DIR, or with `scratch` into a copy of it that DIR never sees."""
        raw = self._raw_answers()
        if overrides:
            raw = {**raw}
            for section, values in overrides.items():
                raw[section] = {**raw.get(section, {}), **values}
        target = self.dir.scratch_copy() if scratch else self.directory
        try:
            result: ExportResult = export(raw, target, source=None, regenerate=self.regenerate,
                                          state_from=self.directory)
            if not result.ok:
                raise AnswersProblems(result.load.problems, result.load.warnings)
            secrets = secretstore.read_stored(target)
            files, changed = self._compare(target) if scratch else (tuple(result.report.written)
                                                                    + tuple(result.report.unchanged), ())
        except BaseException:
            if scratch:
                remove_scratch(target)
            raise
        if not scratch:
            self.dir.forget_secrets()  # export may have written secret.yaml
        return Rendered(result.load.settings, target, Masker(secrets.values()), scratch,
                        tuple(str(w) for w in result.load.warnings), files, changed)

    def _compare(self, scratch: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
        files, changed = [], []
        for path in sorted(scratch.iterdir()):
            if path.name.startswith(".") or path.name == LOG_FILE:
                continue
            files.append(path.name)
            old = self.directory / path.name
            if path.name != ANSWERS_FILE and (not old.exists() or old.read_bytes() != path.read_bytes()):
                changed.append(path.name)
        return tuple(files), tuple(changed)

    def context(self, rendered: Rendered, *, dry_run: bool, look_only: bool = False, rerender: bool = True) -> Context:
        """The context the stages work with; notes and command output go to the session's listener.
        `look_only`: the checks do not wait for a condition to come true (verify, the preview).
        `rerender`: preflight may correct answers from what it finds (not in verify)."""
        listener = self.listener
        options = dataclasses.replace(self.options, timeout=min(self.options.timeout, LOOK_ONLY_TIMEOUT)) \
            if look_only else self.options
        # A dry run changes nothing in DIR either: its log goes with the scratch copy.
        runner = Runner(rendered.directory / LOG_FILE, rendered.masker, dry_run=dry_run,
                        command_limit=time_limit(self.options.timeout),
                        listener=lambda stage, line: listener(Event("output", stage, message=line)))
        if rendered.directory != self.directory:
            # Show the real directory in commands, not the scratch copy a dry run renders into.
            scratch, real = str(rendered.directory), str(self.directory)
            mask = runner.mask
            runner.mask = lambda text: mask(text).replace(scratch, real)
        ctx = Context(rendered.settings, rendered.directory, runner, options,
                      notify=lambda stage, message: listener(Event("note", stage, message=message)),
                      cluster_factory=self.cluster_factory)
        if rerender:
            session, target = self, rendered

            def rerender(overrides: dict) -> Settings:
                # export writes the changed answer into answers.yaml too, so the next run starts from it.
                return session._rerender(target, overrides).settings

            ctx.rerender = rerender
        return ctx

    def _rerender(self, rendered: Rendered, overrides: dict) -> Rendered:
        if not rendered.scratch:
            return self.render(scratch=False, overrides=overrides)
        raw = {**self._raw_answers()}
        for section, values in overrides.items():
            raw[section] = {**raw.get(section, {}), **values}
        result = export(raw, rendered.directory, state_from=self.directory)
        if not result.ok:
            raise AnswersProblems(result.load.problems, result.load.warnings)
        return dataclasses.replace(rendered, settings=result.load.settings)

    # --- what the faces ask -----------------------------------------------------------------------
    def open(self, *, dry_run: bool, look_only: bool = False, rerender: bool = True) -> Run:
        """Render (into a scratch copy for a dry run), and make the context, plan and state of a run.
        Close it when done (a scratch copy holds secret.yaml)."""
        refuse_unknown_checks(self.options.skip_checks)
        from .backup import files_before

        before = None if dry_run else files_before(self.directory)  # what a backup keeps: not the new render
        rendered = self.render(scratch=dry_run)
        try:
            ctx = self.context(rendered, dry_run=dry_run, look_only=look_only, rerender=rerender)
            stages = self.plan(rendered.settings)
            state = self.dir.state()
            reasons = stale_stages(ctx, stages, state)
        except BaseException:
            rendered.cleanup()
            raise
        return Run(self, rendered, ctx, stages, state, reasons, before)

    def preview(self, *, from_stage: str | None = None, only: str | None = None) -> Preview:
        """What a run would do now: a dry run in a scratch copy. Finished stages are checked
        read-only, so a done, unchanged stage whose checks pass plans no command."""
        run = self.open(dry_run=True, look_only=True)
        try:
            result = run.execute(from_stage=from_stage, only=only)
            changes = self._changes(run, result)
            real = str(self.directory)
            commands = list(run.ctx.runner.planned)
            notes = {}
            for index, (_stage, command) in enumerate(commands):
                said = [f"{real}/{name} is written by the install first" for name in run.rendered.changed
                        if f"{real}/{name}" in command]
                if said:
                    notes[index] = said
            return Preview(run.settings, list(run.rendered.warnings), list(run.rendered.files),
                           list(run.rendered.changed), run.stages, run.reasons, result, commands, notes, changes)
        finally:
            run.close()

    def _changes(self, run: Run, result: RunResult):
        """What the run would change (wizard/upgrade.py): files, and objects per helm release."""
        from .upgrade import Changes, changes

        try:
            return changes(run.ctx, self.directory, run.rendered.directory, run.rendered.changed,
                           reachable=result.refused is None)
        except Exception as err:  # noqa: BLE001 - the preview stands without it; said in the log
            said = run.ctx.runner.mask(f"what will change could not be computed: {err.__class__.__name__}: {err}")
            self.listener(Event("note", "preview", message=said))
            return Changes()

    def status(self) -> Status:
        """Each stage of the plan with its recorded status; a done stage whose inputs changed since
        shows as stale. Answers that cannot be rendered: the recorded stages, and why."""
        from .backup import list_backups
        from .ledger import stage_notes

        state = self.dir.state()
        backups = [backup.line() for backup in list_backups(self.directory)]
        recorded = stage_notes(self.directory)  # what the ledger holds of each stage
        try:
            current = self.fingerprints()
        except REFUSED as err:
            return Status([self._row(name, state, None, recorded.get(name, "")) for name in state.stages], str(err),
                          backups)
        return Status([self._row(name, state, value, recorded.get(name, "")) for name, value in current.items()],
                      backups=backups)

    def fingerprints(self) -> dict[str, str]:
        """Stage -> the fingerprint of what it would apply now, in plan order (a scratch render)."""
        rendered = self.render(scratch=True)
        try:
            ctx = self.context(rendered, dry_run=True, look_only=True, rerender=False)
            return {stage.name: fingerprint(ctx, stage) for stage in self.plan(rendered.settings)}
        finally:
            rendered.cleanup()

    @staticmethod
    def _row(name: str, state: InstallState, current: str | None, recorded: str = "") -> StageStatus:
        record = state.stages.get(name)
        if record is None:
            return StageStatus(name, "pending", note=recorded)
        note = (record.error or "").splitlines()[0] if record.error else recorded
        status = record.status
        if status == "done" and current is not None and record.fingerprint != current:
            status, note = "stale", "an answer it depends on changed"
        return StageStatus(name, status, record.started, record.finished, note)

    def verify(self) -> RunResult:
        """Every stage's checks against the cluster as it is now; nothing changes."""
        run = self.open(dry_run=True, look_only=True, rerender=False)
        try:
            return run.verify()
        finally:
            run.close()


def took(row: StageStatus) -> str:
    return f"{row.finished - row.started:.0f}s" if row.started and row.finished else ""


def started_at(row: StageStatus) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.started)) if row.started else ""
