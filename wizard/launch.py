"""The launch check: ask BinderHub to build and launch a small public repository, as a user would,
and prove the server it starts answers; then stop that server and remove the throwaway user.

    GET {binder}build/gh/ORG/REPO/REF      BinderHub's build event stream (server-sent events)
        waiting -> fetching -> building -> pushing -> built -> launching ... -> ready | failed
    GET {server}api/kernels                with the token the `ready` event carries
    DELETE {hub}hub/api/users/NAME/server  and DELETE {hub}hub/api/users/NAME, with the
                                           launch-check service's token (secret.yaml)

The event format is BinderHub's `BuildHandler` (binderhub/builder.py: `emit` writes
`data: {json}\\n\\n`, keepalives are `:keepalive` comment lines, an error is one `failed` event;
the repo2docker log lines in between carry their own phases: fetching, building, pushing, failure).

With Keycloak login BinderHub only builds for a logged-in user: the check creates the user
`launch-check` and a short-lived token for it through the hub's API with the launch-check
service's token, whose role can do exactly that for exactly that user (wizard/render/values.py),
never with the Keycloak client secret. Stdlib only; no kubernetes import.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator
from urllib.parse import quote, unquote, urlsplit

from .render.values import LAUNCH_USER as CHECK_USER

TOKEN_KEY = "generated.launch_check_token"
# The phases BinderHub's stream carries, in order (repo2docker says "failure" where BinderHub says "failed").
PHASES = ("waiting", "fetching", "building", "pushing", "built", "launching", "ready", "failed")
FAILED = ("failed", "failure")
# The report's three spans: which phases each one covers.
SPANS = {"build": ("waiting", "fetching", "building", "unknown"), "push": ("pushing",),
         "launch": ("built", "launching")}
KEPT_EVENTS = 8                      # the last events a failure report shows
READ_TIMEOUT = 60.0                  # BinderHub sends a keepalive every 25 s


class LaunchFailed(Exception):
    """The launch did not reach a server that answers: in which phase, the last events, and why."""

    def __init__(self, problem: str, phase: str, events: list["BuildEvent"], next_step: str = ""):
        super().__init__(problem)
        self.problem = problem
        self.phase = phase
        self.events = events
        self.next_step = next_step
        self.cause: str | None = None

    def report(self) -> str:
        lines = [f"{self.problem} (phase {self.phase})"]
        if self.events:
            lines.append("last events:")
            lines += [f"  {event.line()}" for event in self.events]
        if self.cause:
            lines.append(f"cause: {self.cause}")
        # A next step is joined after the report (" — ..."): on a line of its own, not after an event.
        return "\n".join(lines) + ("\n" if len(lines) > 1 else "")


class Cancelled(Exception):
    pass


@dataclass(frozen=True)
class BuildEvent:
    phase: str
    message: str
    data: dict
    at: float          # seconds since the build request was sent

    def line(self) -> str:
        message = self.message.strip().splitlines()[-1] if self.message.strip() else ""
        return f"{self.at:6.1f}s {self.phase}: {message}"[:200]


@dataclass
class LaunchReport:
    repository: str
    ref: str
    spans: dict[str, float] = field(default_factory=dict)     # build, push, launch -> seconds
    phases: dict[str, float] = field(default_factory=dict)    # each phase seen -> seconds
    server_url: str = ""
    kernels: int = 0
    stream: float = 0.0      # from the build request to `ready`: BinderHub's time
    total: float = 0.0       # the whole check, its own work included
    cleaned: bool = False

    @property
    def own(self) -> float:
        """The check's own work: everything but waiting for BinderHub's stream."""
        return max(0.0, self.total - self.stream)

    def summary(self) -> str:
        """The phase times first: the progress screen's note column shows the start of the line."""
        spans = ", ".join(f"{name} {self.spans.get(name, 0.0):.1f} s" for name in SPANS)
        return (f"ready in {self.stream:.1f} s: {spans}; own work {self.own:.1f} s; {self.repository}@{self.ref} "
                f"launched, its server answered ({self.kernels} kernel(s)), then removed")


# --- the event stream ----------------------------------------------------------------------------

def read_events(lines: Iterable[bytes]) -> Iterator[dict]:
    """Server-sent events as BinderHub writes them: `data:` lines up to a blank line make one
    event (JSON); lines starting with ':' are comments (its keepalives); other fields are ignored."""
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                text = "\n".join(data)
                data = []
                try:
                    event = json.loads(text)
                except ValueError:
                    event = {"phase": "unknown", "message": text}
                if isinstance(event, dict):
                    yield event
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        try:
            event = json.loads("\n".join(data))
        except ValueError:
            return
        if isinstance(event, dict):
            yield event


class PhaseClock:
    """Seconds per phase: a phase lasts from its first event to the next phase's first event."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._current: str | None = None
        self._since = 0.0

    def see(self, phase: str, at: float) -> bool:
        """Note an event; True when it starts a new phase."""
        if phase == self._current:
            return False
        self._close(at)
        self._current, self._since = phase, at
        return True

    def _close(self, at: float) -> None:
        if self._current is not None:
            self.phases[self._current] = self.phases.get(self._current, 0.0) + (at - self._since)

    def finish(self, at: float) -> dict[str, float]:
        self._close(at)
        self._current = None
        return dict(self.phases)


def spans(phases: dict[str, float]) -> dict[str, float]:
    return {name: round(sum(phases.get(p, 0.0) for p in covered), 3) for name, covered in SPANS.items()}


# --- HTTP ----------------------------------------------------------------------------------------

class Http:
    """Requests to the install's public URLs, honouring --resolve and --ca-bundle as the other
    HTTPS checks do (wizard/probe.py)."""

    def __init__(self, resolve: dict[str, str] | None = None, ca_bundle: str | None = None,
                 timeout: float = READ_TIMEOUT):
        from .probe import Prober

        self.prober = Prober(resolve, ca_bundle, timeout)

    def open(self, method: str, url: str, token: str | None = None, body: dict | None = None,
             stream: bool = False) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urlsplit(url)
        conn, path = self.prober.connection(url)
        headers = {"Host": parts.netloc, "User-Agent": "binderhub-wizard launch check"}
        if token:
            headers["Authorization"] = f"token {token}"
        if stream:
            headers["Accept"] = "text/event-stream"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=headers)
            sock = conn.sock
            response = conn.getresponse()
            # The connection lets go of its socket when the answer closes it; the reader keeps it.
            response.socket = sock  # type: ignore[attr-defined]
            return conn, response
        except BaseException:
            conn.close()
            raise

    def call(self, method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, object]:
        conn, response = self.open(method, url, token, body)
        try:
            text = response.read(1 << 20)
        finally:
            conn.close()
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = text.decode("utf-8", "replace")[:300]
        return response.status, data


# --- the check -----------------------------------------------------------------------------------

@dataclass
class Target:
    binder: str                  # BinderHub's public URL, ending in '/'
    hub: str                     # the hub's public URL, ending in '/'
    repository: str              # ORG/NAME on GitHub
    ref: str = "HEAD"
    service_token: str = ""      # the launch-check service's token ("" : no cleanup through the hub)
    login: bool = False          # Keycloak login: launch as the throwaway user CHECK_USER
    timeout: float = 900.0


def _api(target: Target, path: str) -> str:
    return f"{target.hub}hub/api/{path}"


def _user_of(server_url: str) -> tuple[str, str]:
    """(user, server name) from a server URL `.../user/NAME/[SERVER/]`."""
    path = urlsplit(server_url).path
    _, _, rest = path.partition("/user/")
    parts = [unquote(p) for p in rest.split("/") if p]
    return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")


class LaunchCheck:
    """One launch: `run()` returns a LaunchReport or raises LaunchFailed (the throwaway user is
    removed either way). `on_event(event, new_phase)` sees every event as it arrives."""

    def __init__(self, target: Target, http: Http, *, on_event: Callable[[BuildEvent, bool], None] | None = None,
                 on_note: Callable[[str], None] | None = None, cancelled: Callable[[], bool] = lambda: False,
                 explain: Callable[[LaunchFailed], str | None] | None = None):
        self.target = target
        self.http = http
        self.on_event = on_event or (lambda event, new: None)
        self.on_note = on_note or (lambda message: None)
        self.cancelled = cancelled
        self.explain = explain
        self.events: deque[BuildEvent] = deque(maxlen=KEPT_EVENTS)

    def run(self) -> LaunchReport:
        t = self.target
        report = LaunchReport(t.repository, t.ref)
        started = time.monotonic()
        user_token = None
        server_url = ""
        step = "login"
        try:
            try:
                if t.login:
                    user_token = self._throwaway_user()
                step = "request"
                ready, report.stream, report.phases = self._follow(user_token)
                step = "ready"
                report.spans = spans(report.phases)
                server_url = str(ready.get("url", ""))
                report.server_url = server_url
                report.kernels = self._open_server(server_url, str(ready.get("token", "")))
            except (OSError, http.client.HTTPException) as err:
                raise LaunchFailed(f"{'the hub' if step == 'login' else 'the launched server'} did not answer "
                                   f"({err.__class__.__name__}: {err})", step, list(self.events),
                                   "check the endpoints stage, then run the check again") from None
        except LaunchFailed as failure:
            if self.explain is not None:
                try:
                    failure.cause = self.explain(failure)
                except Exception as err:  # noqa: BLE001 - an explanation must not hide the failure
                    failure.cause = f"(the analyzer failed: {err.__class__.__name__})"
            raise
        finally:
            try:
                report.cleaned = self._clean_up(server_url)
            except (OSError, http.client.HTTPException) as err:
                self.on_note(f"could not remove the launched server and its user: the hub did not answer ({err})")
            report.total = time.monotonic() - started
        return report

    # the steps
    def _throwaway_user(self) -> str:
        t = self.target
        if not t.service_token:
            raise LaunchFailed("no token for the launch-check service in secret.yaml", "login", [],
                               "run `wizard export` (it generates the token), then `wizard install`")
        user = quote(CHECK_USER, safe="")
        status, body = self.http.call("POST", _api(t, f"users/{user}"), t.service_token)
        if status == 409:  # left by an interrupted check, perhaps with its server: start afresh
            self._delete_user(CHECK_USER)
            status, body = self.http.call("POST", _api(t, f"users/{user}"), t.service_token)
        if status != 201:
            raise self._hub_refused("create the throwaway user", status, body)
        status, body = self.http.call("POST", _api(t, f"users/{user}/tokens"), t.service_token,
                                      {"note": "binderhub-wizard launch check", "expires_in": int(t.timeout) + 300,
                                       "scopes": [f"access:services!service=binder"]})
        if status != 201 or not isinstance(body, dict) or not body.get("token"):
            raise self._hub_refused("make a token for the throwaway user", status, body)
        return str(body["token"])

    def _hub_refused(self, what: str, status: int, body: object) -> LaunchFailed:
        message = body.get("message", "") if isinstance(body, dict) else str(body or "")
        return LaunchFailed(f"the hub refused to {what}: HTTP {status} {message}".strip(), "login", [],
                            "check that the hub runs the config this install rendered (the launch-check service "
                            "and its role): `wizard install` again")

    def _follow(self, user_token: str | None) -> tuple[dict, float, dict[str, float]]:
        t = self.target
        url = f"{t.binder}build/gh/{quote(t.repository, safe='/')}/{quote(t.ref, safe='')}"
        clock = PhaseClock()
        clock.see("waiting", 0.0)  # until the first event: BinderHub resolves the ref, looks for the image
        sent = time.monotonic()
        deadline = sent + t.timeout
        phase = "request"
        try:
            conn, response = self.http.open("GET", url, user_token, stream=True)
        except OSError as err:
            raise LaunchFailed(f"{url} did not answer ({err.__class__.__name__}: {err})", phase, [],
                               "check the endpoints stage: BinderHub must answer first") from None
        watching = threading.Event()
        try:
            if response.status != 200:
                body = response.read(2000).decode("utf-8", "replace").strip()
                raise LaunchFailed(f"{url} answered HTTP {response.status}, not an event stream: {body[:200]}",
                                   phase, [], "a 403 with login means the user's token was not accepted")

            def stopped() -> bool:
                return self.cancelled() or time.monotonic() > deadline

            def check_stopped() -> None:
                if self.cancelled():
                    raise Cancelled()
                if time.monotonic() > deadline:
                    raise LaunchFailed(f"no `ready` within {t.timeout:.0f} s (launch.timeout)", phase,
                                       list(self.events), "a first build can take long: raise launch.timeout")

            def lines() -> Iterator[bytes]:
                while True:
                    check_stopped()
                    try:
                        line = response.readline()
                    except OSError:
                        if not stopped():
                            raise
                        line = b""
                    check_stopped()
                    if not line:
                        return
                    yield line

            # A silent stream (no event, no keepalive) must not outlast a cancel or the deadline:
            # the watcher shuts the socket, so the read returns at once.
            def watch() -> None:
                while not watching.wait(0.1):
                    if stopped():
                        try:
                            response.socket.shutdown(socket.SHUT_RDWR)
                        except (OSError, AttributeError):
                            pass
                        return

            threading.Thread(target=watch, name="launch-watch", daemon=True).start()
            try:
                for data in read_events(lines()):
                    at = time.monotonic() - sent
                    phase = str(data.get("phase", "unknown"))
                    event = BuildEvent(phase, str(data.get("message", "")), data, round(at, 3))
                    self.events.append(event)
                    new = clock.see(phase, at) or len(self.events) == 1
                    self.on_event(event, new)
                    if phase in FAILED:
                        raise LaunchFailed(f"BinderHub reported the launch failed: "
                                           f"{event.message.strip().splitlines()[-1] if event.message.strip() else 'no message'}",
                                           self._failed_in(), list(self.events),
                                           "see the last events; `wizard diagnose` collects the pods' logs")
                    if phase == "ready":
                        return data, at, clock.finish(at)
            except OSError as err:
                raise LaunchFailed(f"the event stream broke off ({err.__class__.__name__}: {err})", phase,
                                   list(self.events), "run the check again; see the binder pod's log") from None
        finally:
            watching.set()
            conn.close()
        raise LaunchFailed("the event stream ended before `ready`", phase, list(self.events),
                           "see the binder pod's log")

    def _failed_in(self) -> str:
        """The phase the launch failed in: the last one before the failure."""
        for event in reversed(self.events):
            if event.phase not in FAILED and event.phase != "unknown":
                return event.phase
        return "waiting"

    def _open_server(self, server_url: str, token: str) -> int:
        if not server_url or not token:
            raise LaunchFailed("the `ready` event carries no server url or token", "ready", list(self.events))
        status, body = self.http.call("GET", f"{server_url}api/kernels", token)
        if status != 200 or not isinstance(body, list):
            raise LaunchFailed(f"the launched server's API at {server_url}api/kernels answered HTTP {status}",
                               "ready", list(self.events), "the server started but does not answer: see its pod's log")
        return len(body)

    def _clean_up(self, server_url: str) -> bool:
        """Stop the server and remove the throwaway user; True when both are gone."""
        t = self.target
        user, server = _user_of(server_url) if server_url else (CHECK_USER if t.login else "", "")
        if not user:
            return True  # nothing was started
        if not t.service_token:
            self.on_note(f"could not remove user {user}: no launch-check token (the culler removes it)")
            return False
        name = quote(user, safe="")
        path = f"users/{name}/servers/{quote(server, safe='')}?remove=true" if server else f"users/{name}/server"
        if server_url:
            self.http.call("DELETE", _api(t, path), t.service_token)
        return self._delete_user(user)

    def _delete_user(self, user: str) -> bool:
        t = self.target
        name = quote(user, safe="")
        deadline = time.monotonic() + 60
        while True:
            status, _body = self.http.call("DELETE", _api(t, f"users/{name}"), t.service_token)
            if status in (204, 404):
                return True
            # 400: its server is still stopping; after a Ctrl+C, no waiting for it
            if status != 400 or time.monotonic() > deadline or self.cancelled():
                self.on_note(f"could not remove the throwaway user {user}: HTTP {status}")
                return False
            time.sleep(0.5)


# --- the stage -----------------------------------------------------------------------------------

def target_for(ctx) -> Target:
    from .render.values import urls

    s = ctx.settings
    address = urls(s)
    return Target(address["binder"], address["hub"], s.launch.repository, s.launch.ref,
                  ctx.stored_secrets.get(TOKEN_KEY, ""), s.auth.type == "keycloak", float(s.launch.timeout))


def default_explainer(ctx) -> Callable[[LaunchFailed], str | None] | None:
    """The analyzer's cause for a failed launch: wizard/diagnose.py collects the cluster as it is
    (read-only), wizard/analyzer.py names causes; the first, with its next command, or None."""

    def explain(_failure: LaunchFailed) -> str | None:
        from .analyzer import analyze
        from .diagnose import collect

        causes = analyze(collect(ctx))
        return f"{causes[0].cause} Next: {causes[0].next_command}" if causes else None

    return explain


def run_check(ctx, explain: Callable[[LaunchFailed], str | None] | None = None) -> LaunchReport:
    """The launch check against the install of `ctx`; progress goes to ctx.notify("launch", ...)."""
    from .context import CheckFailed
    from .runner import Cancelled as RunCancelled

    target = target_for(ctx)
    ctx.notify("launch", f"asking BinderHub to build and launch {target.repository}@{target.ref}")

    def on_event(event: BuildEvent, new: bool) -> None:
        if new:
            ctx.notify("launch", event.line().strip())

    check = LaunchCheck(target, Http(ctx.options.resolve, ctx.options.ca_bundle),
                        on_event=on_event, on_note=lambda message: ctx.notify("launch", message),
                        cancelled=ctx.cancel.is_set, explain=explain or default_explainer(ctx))
    try:
        report = check.run()
    except Cancelled:
        raise RunCancelled() from None
    except LaunchFailed as failure:
        raise CheckFailed("launch", failure.report(), failure.next_step) from None
    ctx.notify("launch", report.summary())
    return report


def stage_check(ctx) -> None:
    """The `launch` stage's check. A dry run (the preview) starts nothing: a launch creates a user
    and a server, so it runs in a real install and in `wizard verify --launch` only."""
    if ctx.runner.dry_run:
        ctx.notify("launch", "not run in a dry run: it builds and starts a server (`wizard verify --launch` runs it)")
        return
    run_check(ctx)


def verify_check(ctx) -> None:
    run_check(ctx)


def verify_plan(launch: bool):
    """The plan `wizard verify` checks: without --launch the launch stage is left out (it starts a
    server); with it, the launch check runs even where launch.enabled is false."""
    from dataclasses import replace

    def plan_for(settings):
        from .stages import launch_stage, plan

        stages = [stage for stage in plan(settings) if stage.name != "launch"]
        if launch:
            stages.append(replace(launch_stage(settings), verify=verify_check,
                                  needs=tuple(n for n in ("endpoints",) if n in {st.name for st in stages})))
        return stages

    return plan_for
