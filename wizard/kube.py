"""Reading the cluster through the `kubernetes` client, and waiting for a condition with a watch.

Imported only by the install engine: `kubernetes` is slow to import, and export never needs it.
Objects are handed to checks as plain dicts (the JSON a server sends), so one predicate style
serves typed and custom resources alike.

Start-up cost, measured (bench/install_speed.py): each API class of the client (CoreV1Api and the
others) is a generated module of pydantic-validated methods, imported on first use: CoreV1Api
alone takes about 1.4 s of CPU, the eight the wizard uses about 2.5 s. `Cluster` makes each one
when it is first needed, and `preload` imports them in a thread while preflight waits on kubectl
and helm, so the install's first stages do not wait for all of them.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .runner import Cancelled


def _import_kubernetes():
    """`import kubernetes` runs its package __init__, which imports kubernetes.dynamic, which
    imports kubernetes_validate when that is installed (it is a test dependency of this project):
    jsonschema with its format grammars, 2-3 s of CPU at every start. The wizard never uses the
    dynamic client, so kubernetes_validate is hidden for that one import (kubernetes.dynamic then
    works without validation, as where it is not installed); importing it later still works."""
    hide = "kubernetes_validate" not in sys.modules
    if hide:
        sys.modules["kubernetes_validate"] = None  # type: ignore[assignment]  # import fails fast
    try:
        import kubernetes
    finally:
        if hide and sys.modules.get("kubernetes_validate", 0) is None:
            del sys.modules["kubernetes_validate"]
    return kubernetes


# Here, in the thread that imports this module, before any command is forked, not lazily in a
# thread: `kubernetes` imports ctypes, which the runner's forked child imports before it execs
# (runner._die_with_parent). A fork while another thread is in the middle of importing a module
# leaves that module's import lock held forever in the child, which then hangs before its exec
# (seen: a kubectl that never started, with the kubernetes import moved into `preload`).
_import_kubernetes()
from kubernetes import client, config, watch  # noqa: E402 - after the import above
from kubernetes.client.exceptions import ApiException  # noqa: E402

# The client's API classes the checks use, in the order an install first needs them.
API_CLASSES = {"version_api": "VersionApi", "authz": "AuthorizationV1Api", "core": "CoreV1Api",
               "apps": "AppsV1Api", "custom": "CustomObjectsApi", "networking": "NetworkingV1Api",
               "storage": "StorageV1Api", "extensions": "ApiextensionsV1Api"}


def preload() -> threading.Thread:
    """Import the API classes in a thread now, ahead of their first use (Python's import lock
    makes a use that comes first wait for the import under way, never see half a module). Commands
    forked meanwhile import none of these modules (see the import of kubernetes above).

    Then gc.freeze(): the client's modules are hundreds of thousands of objects that live as long
    as the process; left to the cyclic collector, every full collection walks them all (0.1-0.2 s
    each) and so does the one at exit (0.5-1.5 s between "done" and the shell prompt, measured).
    Frozen, the collector skips them; reference counting still frees what is released."""

    def load() -> None:
        for name in API_CLASSES.values():
            try:
                getattr(client, name)
            except Exception:  # noqa: BLE001 - the use itself will raise it, where it is explained
                return
        gc.freeze()

    thread = threading.Thread(target=load, name="kubernetes-preload", daemon=True)
    thread.start()
    return thread

Notify = Callable[[str], None]
WATCH_CHUNK = 10.0  # seconds a single watch request lasts before it is renewed


class WaitTimeout(Exception):
    def __init__(self, what: str, timeout: float, last: dict | None):
        super().__init__(f"gave up after {_duration(timeout)} waiting for {what}")
        self.what = what
        self.last = last


def deadline_message(what: str, timeout: float) -> str:
    until = time.strftime("%H:%M:%S", time.localtime(time.time() + timeout))
    return f"waiting up to {_duration(timeout)}, until {until}, for {what}"


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"


@dataclass(frozen=True)
class Resource:
    """How to list and watch one kind: a list function and its fixed arguments."""

    describe: str            # e.g. "Deployment binder/hub"
    list_fn: Callable[..., Any]
    args: tuple = ()
    namespaced: bool = False


class Cluster:
    def __init__(self, kubeconfig: str | None = None, context: str | None = None, request_timeout: float = 15):
        self.api = config.new_client_from_config(config_file=kubeconfig, context=context or None)
        self.request_timeout = request_timeout
        # Every API call a check makes, by stage, so a polling regression shows (install -v, the benchmark).
        self.requests_by_stage: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self._watches: dict[int, watch.Watch] = {}
        self._cancelled = threading.Event()

    def __getattr__(self, name: str):
        """An API class (self.core, self.apps, ...: API_CLASSES), made when first used. Two threads
        asking at once may each make one: stateless wrappers of the one ApiClient, either will do."""
        if name not in API_CLASSES:
            raise AttributeError(name)
        api = getattr(client, API_CLASSES[name])(self.api)
        setattr(self, name, api)
        return api

    def cancel(self) -> None:
        """Stop every wait now (Ctrl+C): closing a watch's connection ends its blocking read."""
        self._cancelled.set()
        for stream in list(self._watches.values()):
            stream.stop()

    def _count(self) -> None:
        # Stages run in threads named after them (the engine names them), so requests per stage show.
        stage = threading.current_thread().name
        with self._count_lock:
            self.requests_by_stage[stage] = self.requests_by_stage.get(stage, 0) + 1

    def call(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        self._count()
        kwargs.setdefault("_request_timeout", self.request_timeout)
        return fn(*args, **kwargs)

    def plain(self, obj: Any) -> Any:
        return obj if isinstance(obj, dict) else self.api.sanitize_for_serialization(obj)

    def get(self, fn: Callable[..., Any], *args, **kwargs) -> dict | None:
        """The object as a dict, or None when it does not exist."""
        try:
            return self.plain(self.call(fn, *args, **kwargs))
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def items(self, fn: Callable[..., Any], *args, **kwargs) -> list[dict]:
        listing = self.plain(self.call(fn, *args, **kwargs))
        return listing.get("items") or []

    # --- waiting -----------------------------------------------------------------------------
    def wait_for(self, resource: Resource, name: str, predicate: Callable[[dict], bool], *,
                 timeout: float, notify: Notify | None = None) -> dict:
        """Return the object once `predicate` holds, watching for changes (no sleep loop);
        raise WaitTimeout at the deadline. The deadline is announced first."""
        deadline = time.monotonic() + timeout
        if notify:
            notify(deadline_message(resource.describe, timeout))
        selector = f"metadata.name={name}"
        last: dict | None = None
        while True:
            if self._cancelled.is_set():
                raise Cancelled(resource.describe)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(resource.describe, timeout, last)
            listing = self.plain(self.call(resource.list_fn, *resource.args, field_selector=selector))
            for item in listing.get("items") or []:
                last = item
                if predicate(item):
                    return item
            version = (listing.get("metadata") or {}).get("resourceVersion")
            stream = watch.Watch()
            self._count()
            self._watches[id(stream)] = stream
            # A cancel that came between the check above and here would find no connection to close;
            # the watch is also cut into chunks of WATCH_CHUNK seconds, so a wait notices within one.
            if self._cancelled.is_set():
                self._watches.pop(id(stream), None)
                raise Cancelled(resource.describe)
            chunk = min(remaining, WATCH_CHUNK)
            try:
                for event in stream.stream(resource.list_fn, *resource.args, field_selector=selector,
                                           resource_version=version, timeout_seconds=max(1, int(chunk + 0.999)),
                                           _request_timeout=chunk + 5):
                    if event.get("type") == "ERROR":
                        break  # e.g. 410 Gone: list again from a fresh version
                    obj = self.plain(event["object"])
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        last = obj
                        if predicate(obj):
                            return obj
                    if time.monotonic() >= deadline:
                        break
            except Exception:
                if not self._cancelled.is_set():
                    raise
            finally:
                self._watches.pop(id(stream), None)
                stream.stop()
            if self._cancelled.is_set():
                raise Cancelled(resource.describe)


def condition(obj: dict | None, kind: str) -> dict | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def is_true(obj: dict | None, kind: str) -> bool:
    cond = condition(obj, kind)
    return bool(cond) and cond.get("status") == "True"


def deployment_available(obj: dict) -> bool:
    """Available AND rolled out, as `kubectl rollout status` has it: the controller saw this
    generation, every replica runs the current template and no pod of an older one is left. After
    an upgrade the old pod keeps the Deployment Available for a while; without the rollout part a
    check passed on it while the new pod crash-looped (seen under load)."""
    status = obj.get("status") or {}
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    return is_true(obj, "Available") and (status.get("availableReplicas") or 0) >= min(wanted, 1) \
        and (status.get("observedGeneration") or 0) >= ((obj.get("metadata") or {}).get("generation") or 0) \
        and updated >= wanted and (status.get("replicas") or 0) <= updated \
        and (status.get("availableReplicas") or 0) >= min(updated, wanted)


def api_error_text(err: Exception) -> str:
    """A short, plain description of an API failure (no response body dump)."""
    if isinstance(err, ApiException):
        import json

        reason = err.reason or ""
        try:
            message = json.loads(err.body or "{}").get("message") or ""
        except (ValueError, AttributeError):
            message = ""
        return f"HTTP {err.status} {reason}: {message}".strip().rstrip(":")
    return f"{err.__class__.__name__}: {err}"
