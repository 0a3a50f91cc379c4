"""The interactive wizard: the App that strings the screens together, and `run(directory)`.

The App is given its services (cluster reader, OpenID reader, install plan, options, clock), so
tests hand it fast fakes. Screens past the first are imported when first shown, which keeps the
start fast. Answers are saved to DIR/answers.yaml by a worker shortly after each change.
"""

from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path
from typing import Callable

from rich.markup import escape
from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import WorkerState

from .session import Answers

# (module, class) of each step, in order; the Welcome screen comes before them.
STEPS = (("cluster", "ClusterScreen"), ("network", "NetworkScreen"), ("ingress_storage", "IngressStorageScreen"),
         ("registry", "RegistryScreen"), ("login", "LoginScreen"), ("hub", "HubScreen"), ("review", "ReviewScreen"))


def screen_class(module: str, name: str):
    return getattr(importlib.import_module(f"screens.{module}"), name)


def _default_plan(settings, bootstrap: bool = False):
    from wizard.stages import plan

    return plan(settings, bootstrap=bootstrap)


def _default_read_cluster(context):
    from .session import read_cluster

    return read_cluster(context)


def _default_read_openid(url, realm):
    from .session import read_openid

    return read_openid(url, realm)


CRASH_LOG = "wizard-crash.log"

# Made fresh each time it is shown: it computes its plan when mounted.
FRESH = {"ReviewScreen"}


def sync_from_answers(screen) -> None:
    """Bring a step screen made earlier up to date, as if it were made now: an answer may have
    changed since on another screen. Editors whose value differs are set (the rest are left as
    typed, e.g. "a,b" for a list), then the screen's own mount hook runs again (the defaults it
    follows, its first refresh and focus)."""
    from textual.widgets import Input

    from .fields import SettingField
    from .session import from_text

    for field in screen.query(SettingField):
        value = field.answers.get(field.path)
        editor = field.editor
        if not isinstance(editor, Input) or from_text(field.path, editor.value) != value:
            field.set_value(value)  # stores nothing: the answer is already this value
    screen.on_mount()


class WizardApp(App[int]):
    CSS_PATH = Path(__file__).with_name("wizard.tcss")  # also for a subclass defined elsewhere
    TITLE = "BinderHub wizard"
    BINDINGS = [
        Binding("ctrl+q", "request_quit", "Quit", priority=True,
                tooltip="quit; answers and the install's state are kept"),
        Binding("ctrl+t", "toggle_dark", "Theme", tooltip="switch between the light and the dark theme"),
    ]

    def plan(self, settings):
        """The install plan; with bootstrap on, the bare-machine stages come first."""
        return self._plan(settings, bootstrap=True) if self.bootstrap else self._plan(settings)

    def __init__(self, directory: Path, *, answers: Answers | None = None, plan: Callable | None = None,
                 read_cluster: Callable | None = None, read_openid: Callable | None = None,
                 options=None, cluster_factory: Callable | None = None, clock: Callable[[], float] = time.time,
                 animate: bool = True, save_delay: float = 0.3):
        super().__init__()
        self.directory = directory
        self.answers = answers if answers is not None else Answers.load(directory)
        # Read before the event loop starts: two stats, no I/O on the loop later.
        from wizard.directory import InstallDir

        self.existing = InstallDir(directory).existing()
        self._plan = plan or _default_plan
        # Set on the cluster screen when there is no cluster yet: this machine becomes one first.
        self.bootstrap = False
        self.read_cluster = read_cluster or _default_read_cluster
        self.read_openid = read_openid or _default_read_openid
        self.options = options
        self.cluster_factory = cluster_factory
        self.clock = clock
        self.animate = animate
        self.blink = animate
        self.save_delay = save_delay
        self._cluster_info = None     # what the Cluster screen read, for later screens
        self.install_running = False  # set by the Progress screen
        self.install_run = None
        self.install_done = threading.Event()
        self.install_done.set()
        self._save_timer = None
        self._save_lock = threading.Lock()
        self._unsaved = False  # typed answers not yet on disk (a save may be under way)
        self.crash_log: Path | None = None  # where an unhandled exception's traceback was written
        self._watch_workers()
        self._made_with: dict[str, tuple] = {}  # step screen -> what it was made from
        self._shown_with: dict[str, tuple] = {}  # step screen -> the answers it last showed

    @property
    def cluster_info(self):
        return self._cluster_info

    @cluster_info.setter
    def cluster_info(self, info) -> None:
        self._cluster_info = info
        if info is not None and self.is_running:
            self._make_ahead_soon()  # a screen made ahead from the previous read is made again

    def on_mount(self) -> None:
        from .welcome import WelcomeScreen

        self.push_screen(WelcomeScreen())

    # --- navigation -------------------------------------------------------------------------------
    def step_screen(self, module: str, name: str):
        """A step screen to push: made once and installed, so shown again (Next after Back, or
        made ahead by `_make_ahead`) it is not composed and styled again, which is most of a screen
        change's time; it is brought up to date with the answers instead."""
        if name in FRESH:
            return screen_class(module, name)()
        screen = self._installed_step(module, name)
        if screen.is_mounted and self._shown_with.get(name) != self._answers_now():
            sync_from_answers(screen)
        return name

    def _answers_now(self) -> tuple:
        return self.answers.public(), dict(self.answers.secrets)

    def _leaving(self, screen) -> None:
        """The answers a step screen showed when it was left: unchanged when it is shown again, it
        needs no sync."""
        if self.is_screen_installed(screen):
            self._shown_with[type(screen).__name__] = self._answers_now()

    def _installed_step(self, module: str, name: str):
        """The installed step screen, made anew when what it was made from changed: the answers
        object (Start over), or for the ingress and storage screen the cluster read (the storage
        classes it offers)."""
        made_from = (id(self.answers), id(self.cluster_info) if module == "ingress_storage" else None)
        if (self.is_screen_installed(name) and self._made_with.get(name) != made_from
                and self.get_screen(name) not in self.screen_stack):
            self._drop_screen(name)
        if not self.is_screen_installed(name):
            screen = screen_class(module, name)()
            screen._css_update_count = self._css_update_count  # styled as it mounts, with today's CSS
            self.install_screen(screen, name)
            self._made_with[name] = made_from
            self._shown_with[name] = self._answers_now()  # composed from them
        return self.get_screen(name)

    def _make_ahead(self) -> None:
        """While a step screen is read, make the next one in the background, so Next only shows it."""
        if not self.is_running or not self.screen_stack:
            return
        names = [name for _module, name in STEPS]
        here = type(self.screen_stack[-1]).__name__
        if here not in names or names.index(here) + 1 >= len(STEPS):
            return
        module, name = STEPS[names.index(here) + 1]
        if name in FRESH:
            return
        screen = self._installed_step(module, name)
        if not screen.is_running:
            self._get_screen(name)  # starts it: composed and mounted, not shown (Textual's own path for push)
            # Laid out once mounted, at the size it will be shown: its first layout is not on Next.
            self.set_timer(0.3, lambda: self._lay_out_ahead(screen))

    def _lay_out_ahead(self, screen, again: bool = True) -> None:
        """At the size it will be shown (Textual's private layout call: a screen not on show is
        otherwise laid out only once shown, which is then most of Next's time)."""
        if self.is_running and self.screen_stack and screen.is_mounted and screen not in self.screen_stack:
            screen._refresh_layout(self.size)
            screen._layout_required = False
            if again:  # widgets told their new size may ask for one more pass
                self.set_timer(0.2, lambda: self._lay_out_ahead(screen, again=False))

    def _drop_screen(self, name: str) -> None:
        screen = self.get_screen(name)
        self.uninstall_screen(name)
        if screen.is_running:
            screen.remove()

    def go_next(self, current) -> None:
        names = [name for _module, name in STEPS]
        here = type(current).__name__
        following = names.index(here) + 1 if here in names else 0
        self._leaving(current)
        self.push_screen(self.step_screen(*STEPS[following]))
        self._make_ahead_soon()

    def go_back(self) -> None:
        from .welcome import WelcomeScreen

        if not isinstance(self.screen, WelcomeScreen) and len(self.screen_stack) > 2:
            self._leaving(self.screen)
            self.pop_screen()

    def start_steps(self, at: str = "cluster") -> None:
        """From the Welcome screen: push every step up to `at`, so Back walks through them; but
        stop at the first step with a problem (Continue opens where something must be fixed)."""
        from .session import first_problem_step

        stop = first_problem_step(self.answers)
        for module, name in STEPS:
            self.push_screen(self.step_screen(module, name))
            if module in (at, stop):
                break
        self._make_ahead_soon()

    def _make_ahead_soon(self) -> None:
        """Once the screen just pushed is up and idle."""
        self.set_timer(0.3, self._make_ahead)

    # --- saving as you go ---------------------------------------------------------------------------
    def answers_changed(self) -> None:
        self._unsaved = True
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(self.save_delay, self.save_answers)

    def save_answers(self) -> None:
        self._save_timer = None
        self._save_worker(self.answers.public())
        self._sync_ahead()

    def _sync_ahead(self) -> None:
        """Screens made ahead (installed, not on show) follow the answers as they change, in the
        background, and are laid out again: Next then has nothing left to bring up to date."""
        now = self._answers_now()
        for _module, name in STEPS:
            if not self.is_screen_installed(name) or self._shown_with.get(name) == now:
                continue
            screen = self.get_screen(name)
            if screen.is_mounted and screen not in self.screen_stack:
                sync_from_answers(screen)
                self._shown_with[name] = now
                self.set_timer(0.3, lambda screen=screen: self._lay_out_ahead(screen))

    @work(thread=True, group="save", exclusive=False, exit_on_error=False)
    def _save_worker(self, public: dict) -> None:
        from wizard.installdir import write_atomic
        from wizard.yamlio import dumps

        from .session import ANSWERS

        with self._save_lock:  # two saves never interleave; the later one wins
            write_atomic(self.directory / ANSWERS, "# Saved by the wizard as you type; no secrets here.\n"
                         + dumps(public), 0o644)
            if public == self.answers.public():
                self._unsaved = False

    # --- quitting -----------------------------------------------------------------------------------
    def action_request_quit(self) -> None:
        if self.install_running:
            from .dialogs import ConfirmQuit

            def answered(quit_now: bool | None) -> None:
                if quit_now:
                    self.stop_install_and_exit()

            self.push_screen(ConfirmQuit(), answered)
            return
        unsaved = self.unsaved_secrets()
        if unsaved:
            from .dialogs import SaveSecrets

            def chosen(choice: str | None) -> None:
                if choice == "save":
                    self.save_secrets_and_exit(unsaved)
                elif choice == "discard":
                    self.exit_saving()

            self.push_screen(SaveSecrets(self.directory, sorted(unsaved)), chosen)
            return
        self.exit_saving()

    def unsaved_secrets(self) -> dict[str, str]:
        """Secrets typed here (kept in memory until an export) that DIR/secret.yaml does not hold."""
        from wizard.secretstore import SecretFileError, read_stored

        try:
            stored = read_stored(self.directory)
        except SecretFileError:
            stored = {}
        return {path: value for path, value in self.answers.secrets.items()
                if value and self.answers.applies(path) and stored.get(path) != value}

    def save_secrets_and_exit(self, secrets: dict[str, str]) -> None:
        """Through the core's secret store (0600, under the install lock); on failure the wizard
        stays open and says why."""
        from wizard.installdir import InstallDirError
        from wizard.secretstore import SecretFileError, store
        from wizard.state import LockHeld

        try:
            store(self.directory, secrets)
        except (SecretFileError, LockHeld, InstallDirError, OSError) as err:
            self.notify(f"The secrets were not saved: {redact_text(str(err))}", severity="error", timeout=30)
            return
        self.exit_saving()

    # --- failures ----------------------------------------------------------------------------------
    def _watch_workers(self) -> None:
        """Every worker, whichever screen started it, ends through the worker manager's done
        callback: the one place that sees them all (Worker.StateChanged does not bubble)."""
        manager = self.workers
        remove = manager._remove_worker

        def finished(worker) -> None:
            remove(worker)
            if worker.state == WorkerState.ERROR and not worker.exit_on_error:  # the others crash the App
                self.call_later(self.worker_failed, worker)

        manager._remove_worker = finished

    def worker_failed(self, worker) -> None:
        """The one handler for a background task that failed: the error is shown (on the screen's
        help line where it has one, and as a notification), its traceback goes to the crash log,
        and the wizard stays usable, instead of a screen waiting forever for a result."""
        from textual.widgets import Static

        error = worker.error
        log = write_crash_log(self.directory, error, self.answers, what=f"background task {worker.name!r}")
        text = f"{worker.name} failed: {redact_text(str(error)) or type(error).__name__}"
        for line in self.screen.query("#help").results(Static):
            line.update(f"[red]✗ {escape(text)}[/red]")
        self.notify(f"{text}\n(details: {log})", title="Something failed", severity="error", timeout=60)

    def _handle_exception(self, error: Exception) -> None:
        # Textual prints a traceback with local variables (answers, secrets) when it exits. The
        # traceback goes to DIR/wizard-crash.log instead, masked; run() names it on stderr.
        if self.crash_log is None:
            self.crash_log = write_crash_log(self.directory, error, self.answers, what="the wizard")
            try:
                self.answers.save()  # what was typed is kept
            except Exception:  # noqa: BLE001 - the crash is reported either way
                pass
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        self._exit_renderables.clear()  # the traceback is in the crash log, named by run()

    def on_unmount(self) -> None:
        # However the App ends, a running install is stopped cleanly: its stage is recorded as
        # interrupted, and the next `wizard` offers to continue.
        if self.install_running and self.install_run is not None:
            self.install_run.cancel()

    def exit_saving(self, code: int = 0) -> None:
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        if self._unsaved:  # a save not started yet, or one still writing in its thread
            with self._save_lock:
                self.answers.save()  # one last small write at exit: nothing typed is lost
                self._unsaved = False
        self.exit(code)

    @work(thread=True, group="quit", exit_on_error=False)
    def stop_install_and_exit(self) -> None:
        run = self.install_run
        if run is not None:
            run.cancel()
            # The engine records the stopped stage as interrupted; a check that is waiting ends
            # at its deadline, and load_state reads a cut-off "running" as interrupted anyway.
            self.install_done.wait(15)
        self.call_from_thread(self.exit_saving, 1)


def redact_text(text: str) -> str:
    from wizard.redact import redact

    return redact(text)


def write_crash_log(directory: Path, error: BaseException, answers: Answers | None = None, *,
                    what: str = "the wizard") -> Path:
    """The traceback of `error` (no local variables), secrets masked with the core's masker (the
    typed ones too), in DIR/wizard-crash.log (0600, appended), or in the temporary directory when
    DIR cannot be written. Returns where it went."""
    import datetime
    import os
    import tempfile
    import traceback

    from wizard import __version__, redact

    if answers is not None:
        redact.remember(*(value for value in answers.secrets.values() if isinstance(value, str)))
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    text = redact.redact(f"--- {when}: {what} failed (binderhub-wizard {__version__})\n"
                         + "".join(traceback.format_exception(type(error), error, error.__traceback__)))
    for place in (directory, Path(tempfile.gettempdir())):
        path = place / CRASH_LOG
        try:
            place.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, text.encode("utf-8", "replace"))
            finally:
                os.close(fd)
            return path
        except OSError:
            continue
    return directory / CRASH_LOG


def run(directory, *, app: WizardApp | None = None, headless: bool = False) -> int:
    """The interactive wizard until it ends: its exit code. A crash (an unhandled exception in the
    App or a task) exits 1 with the traceback in DIR/wizard-crash.log and one line on stderr."""
    import sys

    directory = Path(directory)
    try:
        app = app or WizardApp(directory)
        code = app.run(headless=headless)
        log = app.crash_log
    except Exception as err:  # noqa: BLE001 - outside the App's own handling (making it, its driver)
        log = write_crash_log(directory, err, getattr(app, "answers", None))
    if log is not None:
        print(f"wizard: crashed, sorry; the traceback is in {log} (secrets masked). Answers typed so far "
              "are kept; run `wizard` again to go on.", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0
