"""`wizard install`, `status` and `verify`: the command-line face of the session (wizard/session.py),
which the TUI uses too. Here: printing, the prompt, and exit codes; nothing about the directory."""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

from . import __version__, interrupts
from .context import Options
from .engine import Event, Outcome
from .runner import LOG_FILE, Runner
from .session import REFUSED, BadInput, InstallSession, Preview, Run, Status, started_at, took

__all__ = ["BadInput", "REFUSED", "install", "status", "verify", "print_join_command", "render_into"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PREFLIGHT = 0, 1, 2, 3


def render_into(directory: Path, answers: Path | None, *, scratch: bool = False):
    """The directory rendered from its answers (for the benchmark): see InstallSession.render."""
    return InstallSession(directory, answers=answers).render(scratch=scratch)


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


def _ctrl_c_cancels(run: Run):
    def stop() -> None:
        print("\nstopping: the running command is being stopped; the state is kept", file=sys.stderr)
        threading.Thread(target=run.cancel, daemon=True).start()  # it waits up to 5 s

    return interrupts.cancelling(stop)


def _header(s, warnings) -> None:
    from .render import builder_for, builder_reason

    for warning in warnings:
        print(f"warning: {warning}")
    runtime = s.cluster.runtime
    print(f"Image builder: {builder_for(runtime)}, because {builder_reason(runtime)} (preflight reads the "
          f"runtime from the nodes and corrects this if it differs). Registry: {s.registry.type}.")
    if not s.production:
        print("Profile local: plain HTTP on the public IP, no certificates. For trying things, not for production.")


def _stage_lines(stages, verdict) -> None:
    print("Stages:")
    for stage in stages:
        print(f"  {stage.name:<13} {verdict(stage.name)}{'  (' + stage.describe + ')' if stage.describe else ''}")


def install(directory: Path, answers: Path | None, *, yes: bool, dry_run: bool, from_stage: str | None,
            only: str | None, options: Options, verbose: bool = False, bootstrap: bool = False,
            regenerate: bool = False, command: str = "install", database_backup: bool = True) -> int:
    """`wizard install`, and `wizard upgrade` (`command`), which refuses a directory with nothing
    installed. Over an earlier install, both show what will change and ask before anything."""
    from .backup import BackupError

    session = InstallSession(directory, answers=answers, options=options, bootstrap=bootstrap,
                             regenerate=regenerate, listener=_printer(verbose=verbose))
    session.database_backup = database_backup
    try:
        upgrading = _installed_before(session)
        if command == "upgrade" and not upgrading:
            raise BadInput(f"nothing is installed from {directory} yet: run `wizard install --dir {directory}`")
        if dry_run:
            return _dry_run(session, from_stage=from_stage, only=only)
        with session.dir.lock():
            if upgrading:
                if not _show_changes(session, yes=yes, from_stage=from_stage, only=only):
                    print("nothing applied")
                    return EXIT_OK
                yes = True  # asked once, over the changes
            run = session.open(dry_run=False)
            try:
                return _apply(run, yes=yes, from_stage=from_stage, only=only, verbose=verbose)
            finally:
                run.close()
    except REFUSED as err:
        print(f"{command}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackupError as err:
        print(f"{command}: the backup failed, so nothing was changed: {err}", file=sys.stderr)
        return EXIT_FAILED


def _installed_before(session: InstallSession) -> bool:
    """A stage of DIR applied something before: a new run is an upgrade or a reconfiguration."""
    state = session.dir.state()
    return any(record.status in ("done", "failed", "interrupted") for name, record in state.stages.items()
               if name in ("storage", "ingress", "cert-manager", "binderhub"))


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise BadInput("not on a terminal: pass --yes to apply, or --dry-run to see the commands")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _show_changes(session: InstallSession, *, yes: bool, from_stage: str | None, only: str | None) -> bool:
    """Print what the run would change (rendered files, objects per release, breaking changes);
    True to go on (`yes`, or the user said so)."""
    from .upgrade import format_changes

    preview = session.preview(from_stage=from_stage, only=only)
    print("What will change (secrets masked):")
    lines = format_changes(preview.changes) if preview.changes else ["  nothing in the rendered files or releases"]
    for line in lines:
        print(line)
    return yes or _confirm("Apply these changes?")


def _dry_run(session: InstallSession, *, from_stage: str | None, only: str | None) -> int:
    preview: Preview = session.preview(from_stage=from_stage, only=only)
    directory = session.directory
    print()
    _header(preview.settings, preview.warnings)
    _stage_lines(preview.stages, preview.verdict)
    print(f"\n{len(preview.commands)} command(s) would run; nothing was changed.")
    for index, (stage, command) in enumerate(preview.commands):
        print(f"  [{stage}] {command}")
        for note in preview.notes.get(index, ()):
            print(f"      ({note})")
    if preview.changes:
        from .upgrade import format_changes

        print("\nWhat will change (secrets masked):")
        for line in format_changes(preview.changes):
            print(line)
    if preview.refused is not None:
        print(f"\npreflight refused: {preview.refused}\nA real run would stop there; the commands above are what "
              f"it would run once that is fixed.", file=sys.stderr)
        return EXIT_PREFLIGHT
    failed = preview.result.failed()
    if failed:
        print(f"\na real run would fail at {', '.join(failed)} (see above); nothing was changed.", file=sys.stderr)
        return EXIT_FAILED
    if not preview.commands:
        print(f"Nothing to do: every stage is done and its checks pass. `wizard verify --dir {directory}` "
              "checks again at any time.")
    else:
        print(f"Next: `wizard install --dir {directory}` runs them.")
    return EXIT_OK


def _apply(run: Run, *, yes: bool, from_stage: str | None, only: str | None, verbose: bool) -> int:
    directory = run.session.directory
    # The log first: a log that cannot be written (a link, no permission) refuses before anything runs.
    run.ctx.runner.log("install", f"binderhub-wizard {__version__}: install of {directory}")
    names = run.stage_names()
    for wanted in (from_stage, only):
        if wanted and wanted not in names:
            raise BadInput(f"no stage {wanted!r} in this plan; stages: {', '.join(names)}")
    _header(run.settings, run.rendered.warnings)
    _stage_lines(run.stages, lambda name: "will run: " + run.reasons[name] if name in run.reasons
                 else "done; checks run again")
    if not yes and not _confirm("Apply?"):
        print("nothing applied")
        return EXIT_OK
    started = time.monotonic()
    with _ctrl_c_cancels(run):
        result = run.execute(from_stage=from_stage, only=only)
    if verbose and "cluster" in run.ctx.__dict__:
        counts = run.ctx.cluster.requests_by_stage
        print("API requests by the checks: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    if result.ok:
        from .render.values import urls

        address = urls(run.settings)
        print(f"\ndone in {time.monotonic() - started:.0f} s: BinderHub {address['binder']}, "
              f"JupyterHub {address['hub']}. Log: {directory / LOG_FILE}\n"
              f"Next: open {address['binder']}; `wizard verify --dir {directory}` checks the install again at any time.")
        return EXIT_OK
    if result.refused is not None:
        print(f"\npreflight refused: {result.refused}\nNext: fix that, then run the same command again.",
              file=sys.stderr)
        return EXIT_PREFLIGHT
    if result.cancelled:
        print(f"\ninterrupted; run `wizard install --dir {directory}` to continue", file=sys.stderr)
        return EXIT_FAILED
    print(f"\na stage failed; see above and {directory / LOG_FILE}. Run the same command again to "
          "retry from there.", file=sys.stderr)
    return EXIT_FAILED


def status(directory: Path) -> int:
    try:
        report: Status = InstallSession(directory).status()
    except REFUSED as err:
        print(f"status: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if report.problem:
        print(f"status: {report.problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{'stage':<13} {'status':<12} {'started':<20} {'took':>6}  note")
    for row in report.stages:
        print(f"{row.name:<13} {row.status:<12} {started_at(row):<20} {took(row):>6}  {row.note}")
    if report.backups:
        print(f"\nBackups ({len(report.backups)}; `wizard rollback --to NAME` restores one):")
        for line in report.backups:
            print(f"  {line}")
    return EXIT_OK


def rollback(directory: Path, to: str | None, *, yes: bool, options: Options, verbose: bool = False) -> int:
    """`wizard rollback [--to NAME]`: secret.yaml and the answers of a backup back into DIR, then
    re-apply them, then the hub database back into the hub pod (last: an older hub started on a
    database a newer one migrated would fail, and a newer hub would migrate the restored one)."""
    from .backup import BackupError, find_backup, pin_recorded_charts, restore_database, restore_files
    from .upgrade import NO_AUTO_ROLLBACK

    session = InstallSession(directory, options=options, listener=_printer(verbose=verbose))
    try:
        backup = find_backup(directory, to)
        print(f"Restoring backup {backup.line()}\nthen re-applying its answers, then its database.")
        if not yes and not _confirm("Roll back?"):
            print("nothing changed")
            return EXIT_OK
        with session.dir.lock():
            print("restored into the directory: " + (", ".join(restore_files(backup, directory)) or "nothing"))
            pinned = pin_recorded_charts(backup, directory)
            if pinned:
                print("the backup's chart versions, now pinned in answers.yaml `versions:` (remove a line there to "
                      "upgrade that chart again): " + "; ".join(pinned))
            session.dir.forget_secrets()
            run = session.open(dry_run=False)
            try:
                run.ctx.runner.log("rollback", f"binderhub-wizard {__version__}: rollback of {directory} to {backup.name}")
                run.ctx.facts[NO_AUTO_ROLLBACK] = True  # going back: a failed check must not undo it
                with _ctrl_c_cancels(run):
                    result = run.execute()
                if not result.ok:
                    print(f"\nre-applying the backup's answers failed (see above and {directory / LOG_FILE}); the "
                          f"database was not restored. Fix the cause, then run `wizard rollback --to {backup.name}` "
                          "again.", file=sys.stderr)
                    return EXIT_FAILED
                print(restore_database(run.ctx, backup))
            finally:
                run.close()
    except REFUSED as err:
        print(f"rollback: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackupError as err:
        print(f"rollback: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT if "--to" in str(err) or "no backup" in str(err) else EXIT_FAILED
    print(f"rolled back to {backup.name}. `wizard verify --dir {directory}` checks the install again.")
    return EXIT_OK


def verify(directory: Path, options: Options, launch: bool = False) -> int:
    from .launch import verify_plan  # without --launch the plan leaves the launch stage out

    try:
        result = InstallSession(directory, options=options, listener=_printer(), plan=verify_plan(launch)).verify()
    except REFUSED as err:
        print(f"verify: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    unchecked = [name for name in result.selected if result.outcomes.get(name) is Outcome.PENDING]
    failed = result.failed()
    passed = len(result.selected) - len(failed) - len(unchecked)
    print(f"\n{passed} of {len(result.selected)} stages pass their checks")
    if unchecked:
        print(f"not checked: {', '.join(unchecked)} (the cluster's API does not answer)")
    if failed or unchecked:
        print(f"Next: `wizard diagnose --dir {directory}` collects what the cluster says into an archive "
              "(secrets masked) and names the likely cause.")
    return EXIT_FAILED if failed or unchecked else EXIT_OK


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
