"""The `wizard` command. Quick paths (`--help`, `export`) import neither kubernetes nor textual:
each subcommand imports what it needs when it runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__

DEFAULT_DIR = "./binderhub-setup"

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PREFLIGHT = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wizard",
        description="From a bare-metal Kubernetes cluster to a working BinderHub with HTTPS and Keycloak "
                    "login. Without a command, opens the interactive wizard on --dir.",
    )
    parser.add_argument("--version", action="version", version=f"binderhub-wizard {__version__}")
    parser.add_argument("--dir", default=DEFAULT_DIR, type=Path,
                        help=f"install directory: answers, rendered files, secrets, state, log (default {DEFAULT_DIR})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    export = commands.add_parser(
        "export", help="write every file of the install directory; never touches a cluster",
        description="Validate the answers and write every file an install needs into --dir, plus "
                    "install.sh that performs the same install by hand. Never touches a cluster. "
                    "Without --answers, reads DIR/answers.yaml, or asks on a terminal.")
    export.add_argument("--answers", type=Path, help="answers file (YAML); see README for every key")
    _dir_option(export)
    _regenerate_option(export)

    install = commands.add_parser(
        "install", help="render, then apply stage by stage and check each against the cluster",
        description="Render the install directory as export does, show which stages will run and why, "
                    "then apply them (independent stages at the same time) and check each against the "
                    "cluster. Running again resumes.")
    install.add_argument("--answers", type=Path, help="answers file (default DIR/answers.yaml)")
    _dir_option(install)
    _regenerate_option(install)
    install.add_argument("--yes", action="store_true", help="apply without asking")
    install.add_argument("--dry-run", action="store_true",
                         help="print every command that would change something (secrets masked); change nothing")
    from .stage import CLUSTER_STAGES as stage_names  # light: the plan is built from these names
    install.add_argument("--from", dest="from_stage", metavar="STAGE",
                         help=f"run this stage and every stage after it, even if done ({', '.join(stage_names)})")
    install.add_argument("--only", metavar="STAGE", help="run only this stage")
    install.add_argument("--bootstrap", action="store_true",
                         help="start from a bare Debian/Ubuntu machine: host checks, containerd, kubeadm, "
                              "flannel and helm on this machine first (as root or with sudo)")
    install.add_argument("-v", "--verbose", action="store_true",
                         help="show every command's output as it runs (it always goes to DIR/install.log)")
    _database_backup_option(install)
    _cluster_options(install)

    status = commands.add_parser("status", help="a table of the stages: done, failed, pending, stale")
    _dir_option(status)
    join = commands.add_parser("join-command", help="print the command that joins a worker node (a fresh token)",
                               description="Run on the control-plane node. Prints `kubeadm join ...` with a new "
                                           "token (valid 24 h). A worker first needs the host stages: run "
                                           "bootstrap-node.sh's host steps there, or `wizard install --bootstrap` "
                                           "stopped before kubeadm-init; see README.")
    _dir_option(join)
    verify = commands.add_parser("verify", help="run every check against the live cluster; change nothing")
    _dir_option(verify)
    _cluster_options(verify)
    verify.add_argument("--launch", action="store_true",
                        help="also the launch check: BinderHub builds and launches launch.repository, the check "
                             "opens the server's API, then stops it and removes its user (minutes on a first build)")
    _upgrade_commands(commands)
    _uninstall_parser(commands)
    diagnose = commands.add_parser(
        "diagnose", help="collect what a failed install looks like into DIR/diagnostics-TIMESTAMP.tar.gz",
        description="Read the install directory and the cluster (objects, events, logs of pods not ready, "
                    "cert-manager's certificates and challenges, nodes, helm releases), name the likely cause and "
                    "the next command, and write it all, secrets masked, to DIR/diagnostics-TIMESTAMP.tar.gz "
                    "(0600). Changes nothing. Exit 0: written; 3: the cluster did not answer (the archive holds "
                    "what DIR says); 2: bad input.")
    _dir_option(diagnose)
    _cluster_options(diagnose)  # --resolve and --ca-bundle reach the hub's login for the Keycloak probe
    return parser


# --- upgrade and roll back (wizard/upgrade.py, wizard/backup.py) -------------------------------------

def _upgrade_commands(commands) -> None:
    upgrade = commands.add_parser(
        "upgrade", help="show what changes (files, objects per release, breaking changes), back up, apply",
        description="Over an earlier install: render the changed answers or the new pinned versions, show the "
                    "diff of the rendered files and of the Kubernetes objects of each helm release (secrets "
                    "masked) and the known breaking changes, ask, back the hub up (database, secret.yaml, "
                    "answers, ledger) into DIR/backups/TIMESTAMP/, then apply. A stage whose checks fail after "
                    "its release was upgraded is rolled back to the revision before.")
    upgrade.add_argument("--answers", type=Path, help="answers file (default DIR/answers.yaml)")
    _dir_option(upgrade)
    _regenerate_option(upgrade)
    upgrade.add_argument("--yes", action="store_true", help="apply without asking")
    upgrade.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    upgrade.add_argument("-v", "--verbose", action="store_true", help="show every command's output as it runs")
    _database_backup_option(upgrade)
    _cluster_options(upgrade)
    rollback = commands.add_parser(
        "rollback", help="restore a backup: secret.yaml and answers, re-apply, then the hub database",
        description="Restore DIR/backups/NAME (the latest without --to): secret.yaml and the answers back into "
                    "DIR, re-apply them, then put the hub database back into the hub pod and restart the hub. "
                    "`wizard status` lists the backups.")
    _dir_option(rollback)
    rollback.add_argument("--to", metavar="NAME", help="the backup to restore (a folder name of DIR/backups)")
    rollback.add_argument("--yes", action="store_true", help="roll back without asking")
    rollback.add_argument("-v", "--verbose", action="store_true", help="show every command's output as it runs")
    _cluster_options(rollback)


def _database_backup_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--no-database-backup", dest="database_backup", action="store_false",
                         help="before changing an installed hub, back up secret.yaml, the answers and the ledger "
                              "only, not the hub database (when it cannot be copied)")


def _upgrade_command(args: argparse.Namespace) -> int:
    from . import install

    if args.command == "rollback":
        return install.rollback(args.dir, args.to, yes=args.yes, options=_options(args), verbose=args.verbose)
    return install.install(args.dir, args.answers, yes=args.yes, dry_run=args.dry_run, from_stage=None, only=None,
                           options=_options(args), verbose=args.verbose, regenerate=args.regenerate_secrets,
                           command="upgrade", database_backup=args.database_backup)


# --- uninstall (wizard/uninstall.py): one block ----------------------------------------------------

def _uninstall_parser(commands) -> None:
    uninstall = commands.add_parser(
        "uninstall", help="remove what the install created, from DIR/ledger.jsonl; data kept unless asked",
        description="Show what the install created (DIR/ledger.jsonl), stage by stage in reverse order, and what "
                    "is kept; ask once; remove it; check it is gone. Volumes and CRDs are kept unless asked. "
                    "Exit 0: nothing left; 1: something left; 2: bad input; 3: the cluster could not be reached. "
                    "Running again resumes.")
    _dir_option(uninstall)
    uninstall.add_argument("--yes", action="store_true", help="remove without asking (every question)")
    uninstall.add_argument("--dry-run", action="store_true", help="print every command (secrets masked); change nothing")
    uninstall.add_argument("--stage", metavar="NAME", help="remove only this stage and the stages that depend on it")
    uninstall.add_argument("--delete-data", action="store_true",
                           help="also delete the volumes (hub database, registry, user homes): names each and its "
                                "size, and asks again")
    uninstall.add_argument("--delete-crds", action="store_true",
                           help="also delete the CRDs the charts made (refused while custom resources of them exist)")
    uninstall.add_argument("--node", action="store_true",
                           help="also undo the bootstrap of this machine (kubeadm reset, CNI and iptables leftovers, "
                                "packages and files restored from the ledger); asks separately")
    uninstall.add_argument("--forget-secrets", action="store_true",
                           help="also remove DIR/secret.yaml (the next install generates new secrets)")
    uninstall.add_argument("--timeout", type=float, default=120, metavar="SECONDS",
                           help="how long to wait for each removed thing to be gone (default 120)")


def _uninstall(args: argparse.Namespace) -> int:
    from . import uninstall

    def ask(question: str) -> bool:
        if not sys.stdin.isatty():
            raise uninstall.BadInput("not on a terminal: pass --yes to remove, or --dry-run to see the commands")
        return input(question).strip().lower() in ("y", "yes")

    return uninstall.run(args.dir, yes=args.yes, dry_run=args.dry_run, stage=args.stage, delete_data=args.delete_data,
                         delete_crds=args.delete_crds, node=args.node, forget_secrets=args.forget_secrets,
                         timeout=args.timeout, say=lambda line: print(line, flush=True), ask=ask)


def _dir_option(command: argparse.ArgumentParser) -> None:
    # Also accepted after the command; without it there, the top-level --dir (or its default) holds.
    command.add_argument("--dir", type=Path, default=argparse.SUPPRESS, help="install directory")


def _regenerate_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--regenerate-secrets", action="store_true",
                         help="make new values for generated secrets missing from DIR/secret.yaml (the proxy and "
                              "binder API tokens, the in-cluster registry's password) instead of refusing; says "
                              "what each new value breaks until the hub, proxy, BinderHub and registry restart")


def _cluster_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--skip-check", action="append", default=[], metavar="NAME",
                         help="skip a named preflight check: tools, api, permissions, nodes, dns, public-ip-free, "
                              "expose; with --bootstrap also a host check (root, os, swap, ..., or all); an unknown "
                              "name is refused")
    command.add_argument("--timeout", type=float, default=300, metavar="SECONDS",
                         help="how long each check waits for its condition (default 300)")
    command.add_argument("--resolve", action="append", default=[], metavar="HOST:ADDR:PORT",
                         help="probe HOST at ADDR:PORT instead of what DNS says, like curl --resolve")
    command.add_argument("--ca-bundle", metavar="PEM", help="extra CA certificates to trust in the HTTPS checks")


def _options(args: argparse.Namespace):
    from .context import Options

    resolve = {}
    for item in args.resolve:
        host, _, target = item.partition(":")
        if not host or not target:
            raise SystemExit(f"wizard: --resolve {item!r}: expected HOST:ADDR:PORT")
        resolve[host] = target
    return Options(timeout=args.timeout, skip_checks=frozenset(args.skip_check), resolve=resolve,
                   ca_bundle=args.ca_bundle)


def main(argv: list[str] | None = None) -> int:
    from .installdir import InstallDirError, explain

    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Ctrl+C or SIGTERM outside the stages (a prompt, a render, verify's checks): finally
        # blocks have run, so no scratch copy of a secret is left behind.
        print("\ninterrupted; nothing more was done", file=sys.stderr)
        if argv is None:
            _exit_now(EXIT_FAILED)
        return EXIT_FAILED
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as other command-line tools do.
        sys.stderr.close()
        return EXIT_FAILED
    except InstallDirError as err:
        print(f"wizard: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        # The machine in the way (no permission, read-only, full): one line, not a traceback.
        print(f"wizard: {explain(err, 'use', err.filename or '(unknown file)')}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _exit_now(code: int) -> None:
    """End the program now: a thread stuck on a request the interrupt cut short (the API server
    holding it) must not keep an interrupted wizard alive at exit."""
    import os

    installdir = sys.modules.get("wizard.installdir")
    if installdir is not None:
        installdir.remove_all_scratch()
    # The kubernetes client writes the kubeconfig's CA, client certificate and key to temporary
    # files that only its atexit hook removes, and os._exit skips atexit hooks.
    kube_config = sys.modules.get("kubernetes.config.kube_config")
    if kube_config is not None:
        kube_config._cleanup_temp_files()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        return _interactive(args.dir)
    from . import interrupts, redact

    with interrupts.handled(), redact.masked_output():
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    if args.command == "export":
        return _export(args)
    if args.command in ("upgrade", "rollback"):
        return _upgrade_command(args)
    if args.command == "uninstall":
        return _uninstall(args)
    if args.command == "diagnose":
        from .diagnose import diagnose

        return diagnose(args.dir, _options(args))
    if args.command in ("install", "status", "verify", "join-command"):
        from . import install

        if args.command == "join-command":
            return install.print_join_command(args.dir)
        if args.command == "status":
            return install.status(args.dir)
        if args.command == "verify":
            return install.verify(args.dir, _options(args), launch=args.launch)
        return install.install(args.dir, args.answers, yes=args.yes, dry_run=args.dry_run,
                               from_stage=args.from_stage, only=args.only, options=_options(args),
                               verbose=args.verbose, bootstrap=args.bootstrap, regenerate=args.regenerate_secrets,
                               database_backup=args.database_backup)
    raise AssertionError(f"unknown command {args.command}")


def _interactive(directory: Path) -> int:
    """Hand over to the interactive wizard, which the UI package registers as an entry point: the
    core never imports the UI, and a core installed without it says so instead of failing.
    Without a terminal (stdin or stdout not a tty: a pipe, a CI job, cron) it says so: a full-
    screen UI there would hang or print escape codes."""
    from importlib.metadata import entry_points

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("wizard: the interactive wizard needs a terminal (stdin and stdout); without one use "
              "`wizard export` or `wizard install` with an answers file (see --help)", file=sys.stderr)
        return EXIT_BAD_INPUT

    found = list(entry_points(group="binderhub_wizard.ui"))
    if not found:
        print("wizard: the interactive wizard is not installed; use `wizard export` or `wizard install` "
              "(see --help)", file=sys.stderr)
        return EXIT_BAD_INPUT
    return found[0].load()(directory)


def _export(args: argparse.Namespace) -> int:
    from .export import AnswersError, SecretsMissing, export, format_problems, read_answers_file
    from .installdir import ANSWERS_FILE, InstallDirError, PartialWrite, explain
    from .secretstore import SecretFileError
    from .state import LockHeld, StateFileError

    directory: Path = args.dir
    source: Path | None = args.answers
    own = source is None and (directory / ANSWERS_FILE).exists()
    if own:
        source = directory / ANSWERS_FILE
    try:
        if source is not None:
            raw = read_answers_file(source, follow_links=not own)
        elif sys.stdin.isatty() and sys.stdout.isatty():
            from .prompts import ask_answers

            raw = ask_answers()
            if raw is None:
                print("export: cancelled, nothing written", file=sys.stderr)
                return EXIT_BAD_INPUT
        else:
            print("export: no answers. Pass --answers FILE (see examples/answers.yaml), or run on a "
                  "terminal to be asked.", file=sys.stderr)
            return EXIT_BAD_INPUT
        result = export(raw, directory, source=source, regenerate=args.regenerate_secrets)
    except PartialWrite as err:
        print(f"export: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (AnswersError, SecretFileError, SecretsMissing, LockHeld, StateFileError, InstallDirError) as err:
        print(f"export: {err}; nothing written", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        print(f"export: {explain(err, 'use', err.filename or directory)}; nothing written", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not result.ok:
        count = len(result.load.problems)
        print(f"export: {count} problem{'s' if count != 1 else ''} in the answers; nothing written:\n"
              + format_problems(result.load.problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in result.load.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for key in result.regenerated:
        from .secretstore import ROTATION_EFFECTS

        print(f"regenerated {key}: {ROTATION_EFFECTS.get(key, 'a new value')}", file=sys.stderr)
    report = result.report
    if report.written:
        print(f"wrote {len(report.written)} file(s) to {directory}: {', '.join(report.written)}")
    if report.unchanged:
        print(f"unchanged: {len(report.unchanged)} file(s)")
    print(f"Next: `wizard install --dir {directory} --dry-run` shows what an install would run; without "
          f"--dry-run it installs (or run {directory / 'install.sh'} by hand).")
    return EXIT_OK
