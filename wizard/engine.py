"""Running the plan: stages whose needs are met run at the same time; each applies, then checks;
state.json records every step; a re-run resumes.

A stage counts as done only if it finished, its inputs did not change, and its checks still pass
now. A stage whose inputs changed is stale, and so is every stage after it.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable

from .charts import chart_ref
from .context import CheckFailed, Context, PreflightRefused
from .installdir import read_private
from .render.infra import STORAGE_CHART
from .runner import Cancelled, CommandFailed
from .secretstore import SECRET_FILE, read_stored
from .stages import Stage
from .state import InstallState, save_state

CHART_OF_STAGE = {"storage": STORAGE_CHART, "cert-manager": "cert-manager", "binderhub": "binderhub"}


@dataclass(frozen=True)
class Event:
    kind: str          # "stage" (status change), "output" (a line), "note" (a check's progress or warning)
    stage: str
    status: str = ""   # for kind "stage": running, done, failed, interrupted, skipped
    message: str = ""


Listener = Callable[[Event], None]


def fingerprint(ctx: Context, stage: Stage) -> str:
    """A hash of what the stage applies: its rendered files and its chart reference. A file with
    secrets is hashed with a key only the install directory holds, so the state file cannot be
    used to guess a weak password."""
    digest = hashlib.sha256(stage.name.encode())
    stored = read_stored(ctx.directory)  # once: the key, and the registry password below
    key = stored.get("generated.proxy_secret_token", "").encode() or b"binderhub-wizard"
    for name in stage.inputs:
        try:
            data = read_private(ctx.directory / name)
        except FileNotFoundError:
            data = b"(missing)"
        if name == SECRET_FILE:
            data = hmac.new(key, data, hashlib.sha256).digest()
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    chart = stage.name == "ingress" and ctx.settings.ingress.controller or CHART_OF_STAGE.get(stage.name)
    if chart and not (stage.name == "storage" and ctx.settings.storage.provisioner != "openebs"):
        ref = chart_ref(chart, ctx.settings.answers.get("versions", {}), ctx.settings.answers.get("charts", {}))
        digest.update(" ".join(ref.helm_args()).encode())
    s = ctx.settings
    if stage.name in ("storage", "ingress", "namespace", "binderhub"):
        # Facts of the answers that these stages use without a file of their own.
        digest.update(f"{s.storage.storage_class}|{s.network.public_ip}|{s.cluster.namespace}|"
                      f"{s.cluster.release}|{s.cluster.context}".encode())
    if stage.name == "registry":
        password = stored.get("registry.password", "").encode()
        digest.update(f"{s.registry.url}|{s.registry.username}|".encode() + hmac.new(key, password, hashlib.sha256).digest())
    return digest.hexdigest()


def stale_stages(ctx: Context, stages: list[Stage], state: InstallState) -> dict[str, str]:
    """Stage name -> why it must run (never ran, failed, inputs changed, after a changed stage)."""
    reasons: dict[str, str] = {}
    for stage in stages:  # in plan order, which is a topological order
        recorded = state.stages.get(stage.name)
        if recorded is None or recorded.status in ("pending", "skipped"):
            reasons[stage.name] = "not run yet"
        elif recorded.status != "done":
            reasons[stage.name] = f"{recorded.status} last time"
        elif recorded.fingerprint != fingerprint(ctx, stage):
            reasons[stage.name] = "its inputs changed"
        else:
            upstream = [need for need in stage.needs if need in reasons]
            if upstream:
                reasons[stage.name] = f"after {', '.join(upstream)}"
    return reasons


def _explain(err: Exception) -> str:
    """API faults (HTTP errors, refused connections, timeouts) in plain words; anything else is ours."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from .kube import api_error_text

    if isinstance(err, ApiException):
        return f"the cluster answered an error: {api_error_text(err)}; run again to retry this stage"
    if isinstance(err, (HTTPError, OSError)):
        return (f"the cluster's API could not be reached ({err.__class__.__name__}); check it answers "
                "(kubectl cluster-info), then run again to retry this stage")
    return f"unexpected error {err.__class__.__name__}: {err} (the traceback is in install.log)"


class Engine:
    def __init__(self, ctx: Context, stages: list[Stage], state: InstallState, listener: Listener | None = None):
        self.ctx = ctx
        self.stages = {stage.name: stage for stage in stages}
        self.order = [stage.name for stage in stages]
        self.state = state
        self.listener = listener or (lambda event: None)
        self._state_lock = threading.Lock()
        ctx.notify = lambda stage, message: self.listener(Event("note", stage, message=message))
        # Every line a command prints reaches the listener too (the TUI's live output, --verbose).
        ctx.runner.listener = lambda stage, line: self.listener(Event("output", stage, message=line))

    def _set(self, name: str, **changes) -> None:
        with self._state_lock:
            record = self.state.stage(name)
            for key, value in changes.items():
                setattr(record, key, value)
            if not self.ctx.runner.dry_run:
                save_state(self.ctx.directory, self.state)
        if "status" in changes:
            message = changes.get("error") or ""
            self.listener(Event("stage", name, status=changes["status"], message=message))

    def selected(self, from_stage: str | None = None, only: str | None = None) -> list[str]:
        if only:
            return [only]
        if from_stage:
            return self.order[self.order.index(from_stage):]
        return list(self.order)

    def run(self, from_stage: str | None = None, only: str | None = None) -> bool:
        """Run the selected stages; True when every one ended done (or is done already)."""
        selected = self.selected(from_stage, only)
        forced = set(selected) if (from_stage or only) else set()
        reasons = stale_stages(self.ctx, [self.stages[n] for n in self.order], self.state)
        pending = [n for n in self.order if n in selected]
        finished: dict[str, bool] = {n: True for n in self.order if n not in selected}
        futures: dict[Future, str] = {}
        failed = False
        with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
            while pending or futures:
                if not failed and not self.ctx.cancel.is_set():
                    for name in list(pending):
                        needs = self.stages[name].needs
                        if all(finished.get(need) for need in needs):
                            pending.remove(name)
                            must = name in reasons or name in forced
                            futures[pool.submit(self._stage, name, must)] = name
                elif not futures:
                    break
                if not futures:
                    break  # the rest wait on a stage that failed
                # A bounded wait: the main thread must come back to Python now and then for Ctrl+C's
                # handler to run (a lock wait without timeout defers signal handlers).
                done, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    name = futures.pop(future)
                    finished[name] = future.result()
                    failed = failed or not finished[name]
        for name in pending:
            self.listener(Event("stage", name, status="pending", message="not started: an earlier stage failed"))
        return not failed and all(finished.get(n) for n in selected)

    def _stage(self, name: str, must_apply: bool) -> bool:
        threading.current_thread().name = name  # the cluster counts its requests per thread name
        stage = self.stages[name]
        ctx = self.ctx
        # What this stage applies, fingerprinted before it applies it: the record must describe what
        # reached the cluster, not what the directory holds once the checks have passed.
        applying = fingerprint(ctx, stage) if not ctx.runner.dry_run else None
        recorded = self.state.stages.get(name)
        if not must_apply and recorded is not None and recorded.fingerprint != applying:
            must_apply = True  # an input changed since the run began (preflight re-rendered the answers)
        if not must_apply and not ctx.runner.dry_run:
            # Done before, inputs unchanged: it stays done only if its checks still pass now.
            try:
                stage.verify(ctx)
                self.listener(Event("stage", name, status="done", message="done before; checks pass"))
                return True
            except CheckFailed as err:
                self.listener(Event("note", name, message=f"was done, but {err}: applying again"))
            except Exception as err:  # noqa: BLE001 - an unreachable cluster during re-check means apply again
                self.listener(Event("note", name, message=f"re-check failed ({err.__class__.__name__}): applying again"))
        self._set(name, status="running", started=time.time(), finished=None, error=None)
        try:
            stage.apply(ctx)
            if not ctx.runner.dry_run:
                stage.verify(ctx)
        except Cancelled:
            self._set(name, status="interrupted", finished=time.time(), error="interrupted (Ctrl+C)")
            return False
        except PreflightRefused as err:
            ctx.facts["refused"] = err
            self._set(name, status="failed", finished=time.time(), error=ctx.runner.mask(str(err)))
            return False
        except CheckFailed as err:
            self._set(name, status="failed", finished=time.time(), error=ctx.runner.mask(str(err)))
            return False
        except CommandFailed as err:
            detail = f"{err}\n{err.result.tail()}"
            self._set(name, status="failed", finished=time.time(), error=ctx.runner.mask(detail))
            return False
        except Exception as err:  # noqa: BLE001 - explained, state kept, a retry possible
            self._set(name, status="failed", finished=time.time(), error=ctx.runner.mask(_explain(err)))
            ctx.runner.log(name, "".join(traceback.format_exception(err)))
            return False
        if ctx.runner.dry_run:
            self.listener(Event("stage", name, status="done", message="dry run"))
            return True
        self._set(name, status="done", finished=time.time(), fingerprint=applying, error=None)
        return True

    def verify_all(self) -> dict[str, str | None]:
        """Run every stage's checks, change nothing: stage -> None (pass) or the failure."""
        results: dict[str, str | None] = {}
        for name in self.order:
            try:
                self.stages[name].verify(self.ctx)
                results[name] = None
            except CheckFailed as err:
                results[name] = self.ctx.runner.mask(str(err))
            except Exception as err:  # noqa: BLE001
                from .kube import api_error_text

                results[name] = self.ctx.runner.mask(api_error_text(err))
            self.listener(Event("stage", name, status="done" if results[name] is None else "failed",
                                message=results[name] or ""))
        return results
