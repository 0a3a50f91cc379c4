"""`wizard install`, `status` and `verify`: the headless front of the engine (the TUI uses the
same pieces). Install renders as export does, shows what will run and why, then applies."""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import __version__, interrupts, secretstore
from .context import Context, Options
from .engine import Engine, Event, fingerprint, stale_stages
from .export import AnswersError, ExportResult, SecretsMissing, export, format_problems, read_answers_file
from .installdir import ANSWERS_FILE, InstallDir, InstallDirError, remove_scratch
from .runner import LOG_FILE, Masker, Runner, time_limit
from .settings import Settings
from .stages import Stage, plan
from .state import InstallLock, LockHeld, StateFileError, load_state

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PREFLIGHT = 0, 1, 2, 3


@dataclass
class Prepared:
    settings: Settings
    directory: Path         # where the rendered files are read from (a scratch copy in a dry run)
    masker: Masker
    scratch: bool = False
    warnings: tuple[str, ...] = ()

    def cleanup(self) -> None:
        if self.scratch:
            remove_scratch(self.directory)


class BadInput(Exception):
    pass


def _source(directory: Path, answers: Path | None) -> Path:
    source = answers or directory / ANSWERS_FILE
    if not source.exists():
        raise BadInput(f"no answers: {source} does not exist. Pass --answers FILE, or run "
                       f"`wizard export` first")
    return source


def render_into(directory: Path, answers: Path | None, *, scratch: bool = False,
                overrides: dict | None = None, regenerate: bool = False) -> Prepared:
    """Render the install directory (or, with scratch, a copy of it that DIR never sees)."""
    raw = read_answers_file(_source(directory, answers), follow_links=answers is not None)
    if overrides:
        for section, values in overrides.items():
            raw.setdefault(section, {}).update(values)
    target = directory
    if scratch:
        target = InstallDir(directory).scratch_copy()
    try:
        result: ExportResult = export(raw, target, source=None, regenerate=regenerate, state_from=directory)
    except BaseException:
        if scratch:
            remove_scratch(target)
        raise
    if not result.ok:
        if scratch:
            remove_scratch(target)
        raise BadInput(f"{len(result.load.problems)} problem(s) in the answers; nothing applied:\n"
                       + format_problems(result.load.problems))
    settings = result.load.settings
    secrets = secretstore.read_stored(target)
    return Prepared(settings, target, Masker(secrets.values()), scratch,
                    tuple(str(w) for w in result.load.warnings))


def _printer(stream=None, verbose: bool = False):
    lock = threading.Lock()  # stages run in threads: one whole line at a time
    stream = stream or sys.stdout  # the stdout of now (the CLI masks it), not of import time

    def show(event: Event) -> None:
        with lock:
            _show(event)

    def _show(event: Event) -> None:
        if event.kind == "stage":
            line = f"[{event.stage}] {event.status}"
            if event.message:
                line += f": {event.message}"
            print(line, file=stream, flush=True)
        elif event.kind == "note" or (verbose and event.kind == "output"):
            print(f"[{event.stage}] {event.message}", file=stream, flush=True)
    return show


def _context(prepared: Prepared, directory: Path, options: Options, *, dry_run: bool,
             answers: Path | None) -> Context:
    # A dry run changes nothing in DIR either: its log goes with the scratch copy.
    runner = Runner(prepared.directory / LOG_FILE, prepared.masker, dry_run=dry_run,
                    command_limit=time_limit(options.timeout))
    if prepared.directory != directory:
        # Show the real directory in commands, not the scratch copy a dry run renders into.
        scratch, real = str(prepared.directory), str(directory)
        runner.mask = _chain(runner.mask, lambda text: text.replace(scratch, real))
    ctx = Context(prepared.settings, prepared.directory, runner, options)

    def rerender(overrides: dict) -> Settings:
        # export writes the changed answer into answers.yaml too, so the next run starts from it.
        source = answers if prepared.directory == directory else prepared.directory / ANSWERS_FILE
        return render_into(prepared.directory, source, overrides=overrides).settings

    ctx.rerender = rerender
    return ctx


def _chain(first, second):
    return lambda text: second(first(text))


def _ctrl_c_cancels(ctx: Context):
    def stop() -> None:
        print("\nstopping: the running command is being stopped; the state is kept", file=sys.stderr)
        ctx.cancel.set()
        if "cluster" in ctx.__dict__:  # opened already: end its waits too
            ctx.cluster.cancel()
        threading.Thread(target=ctx.runner.cancel, daemon=True).start()  # it waits up to 5 s

    return interrupts.cancelling(stop)


def review(ctx: Context, stages: list[Stage], state) -> dict[str, str]:
    from .render import builder_for, builder_reason

    s = ctx.settings
    reasons = stale_stages(ctx, stages, state)
    runtime = s.cluster.runtime
    print(f"Image builder: {builder_for(runtime)}, because {builder_reason(runtime)} (preflight reads the "
          f"runtime from the nodes and corrects this if it differs). Registry: {s.registry.type}.")
    if not s.production:
        print("Profile local: plain HTTP on the public IP, no certificates. For trying things, not for production.")
    print("Stages:")
    for stage in stages:
        why = reasons.get(stage.name)
        print(f"  {stage.name:<13} {'will run: ' + why if why else 'done; checks run again'}"
              f"{'  (' + stage.describe + ')' if stage.describe else ''}")
    return reasons


# Refusals before anything was applied: exit 2, one message.
REFUSED = (BadInput, AnswersError, LockHeld, StateFileError, secretstore.SecretFileError, SecretsMissing,
           InstallDirError)


def install(directory: Path, answers: Path | None, *, yes: bool, dry_run: bool, from_stage: str | None,
            only: str | None, options: Options, verbose: bool = False, bootstrap: bool = False,
            regenerate: bool = False) -> int:
    try:
        with InstallLock(directory) if not dry_run else _no_lock():
            prepared = render_into(directory, answers, scratch=dry_run, regenerate=regenerate)
            try:
                return _apply(prepared, directory, answers, yes=yes, dry_run=dry_run, from_stage=from_stage,
                              only=only, options=options, verbose=verbose, bootstrap=bootstrap)
            finally:
                prepared.cleanup()
    except REFUSED as err:
        print(f"install: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _apply(prepared: Prepared, directory: Path, answers: Path | None, *, yes: bool, dry_run: bool,
           from_stage: str | None, only: str | None, options: Options, verbose: bool, bootstrap: bool) -> int:
    ctx = _context(prepared, directory, options, dry_run=dry_run, answers=answers)
    # The log first: a log that cannot be written (a link, no permission) refuses before anything runs.
    ctx.runner.log("install", f"binderhub-wizard {__version__}: {'dry run' if dry_run else 'install'} of {directory}")
    stages = plan(prepared.settings, bootstrap=bootstrap)
    names = [s.name for s in stages]
    for wanted in (from_stage, only):
        if wanted and wanted not in names:
            raise BadInput(f"no stage {wanted!r} in this plan; stages: {', '.join(names)}")
    state = load_state(directory)
    for warning in prepared.warnings:
        print(f"warning: {warning}")
    review(ctx, stages, state)
    if not dry_run and not yes:
        if not sys.stdin.isatty():
            raise BadInput("not on a terminal: pass --yes to apply, or --dry-run to see the commands")
        if input("Apply? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing applied")
            return EXIT_OK
    engine = Engine(ctx, stages, state, _printer(verbose=verbose))
    started = time.monotonic()
    with _ctrl_c_cancels(ctx):
        ok = engine.run(from_stage=from_stage, only=only)
    if dry_run:
        print(f"\n{len(ctx.runner.planned)} command(s) would run; nothing was changed.")
        for stage, command in ctx.runner.planned:
            print(f"  [{stage}] {command}")
        return EXIT_OK
    if verbose and "cluster" in ctx.__dict__:
        counts = ctx.cluster.requests_by_stage
        print("API requests by the checks: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    if ok:
        from .render.values import urls

        address = urls(ctx.settings)
        print(f"\ndone in {time.monotonic() - started:.0f} s: BinderHub {address['binder']}, "
              f"JupyterHub {address['hub']}. Log: {directory / LOG_FILE}")
        return EXIT_OK
    if "refused" in ctx.facts:
        print(f"\npreflight refused: {ctx.facts['refused']}", file=sys.stderr)
        return EXIT_PREFLIGHT
    if ctx.cancel.is_set():
        print(f"\ninterrupted; run `wizard install --dir {directory}` to continue", file=sys.stderr)
        return EXIT_FAILED
    print(f"\na stage failed; see above and {directory / LOG_FILE}. Run the same command again to "
          "retry from there.", file=sys.stderr)
    return EXIT_FAILED


@contextmanager
def _no_lock():
    yield


def status(directory: Path) -> int:
    try:
        state = load_state(directory)
        prepared = render_into(directory, None, scratch=True)
    except REFUSED as err:
        print(f"status: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        _status_table(prepared, state)
    finally:
        prepared.cleanup()
    return EXIT_OK


def _status_table(prepared: Prepared, state) -> None:
    ctx = Context(prepared.settings, prepared.directory, Runner(prepared.directory / LOG_FILE, dry_run=True))
    stages = plan(prepared.settings)
    print(f"{'stage':<13} {'status':<12} {'started':<20} {'took':>6}  note")
    for stage in stages:
        record = state.stages.get(stage.name)
        shown = record.status if record else "pending"
        if record and record.status == "done" and record.fingerprint != fingerprint(ctx, stage):
            shown = "stale"
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started)) if record and record.started else ""
        took = f"{record.finished - record.started:.0f}s" if record and record.started and record.finished else ""
        note = (record.error or "").splitlines()[0] if record and record.error else ""
        if shown == "stale":
            note = "an answer it depends on changed"
        print(f"{stage.name:<13} {shown:<12} {started:<20} {took:>6}  {note}")


def verify(directory: Path, options: Options) -> int:
    try:
        state = load_state(directory)
        prepared = render_into(directory, None, scratch=True)
    except REFUSED as err:
        print(f"verify: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        ctx = _context(prepared, directory, options, dry_run=True, answers=None)
        ctx.rerender = None
        engine = Engine(ctx, plan(prepared.settings), state, _printer())
        results = engine.verify_all()
    finally:
        prepared.cleanup()
    failed = [name for name, problem in results.items() if problem]
    print(f"\n{len(results) - len(failed)} of {len(results)} stages pass their checks")
    return EXIT_FAILED if failed else EXIT_OK


def print_join_command(directory: Path) -> int:
    from .nodestages import join_command
    from .runner import CommandFailed

    # The log goes to DIR when there is one; the token itself is never logged.
    runner = Runner((directory if directory.exists() else Path(tempfile.gettempdir())) / LOG_FILE)
    try:
        command = join_command(runner)
    except CommandFailed as err:
        print(f"join-command: {err}; run it on the control-plane node, as root or with sudo", file=sys.stderr)
        return EXIT_FAILED
    print(command)
    print("On the worker: run the host stages first (bootstrap-node.sh up to the packages, or see README), "
          "then the command above as root.", file=sys.stderr)
    return EXIT_OK
