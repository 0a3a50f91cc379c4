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
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

from .charts import chart_ref
from .context import CheckFailed, Context, PreflightRefused
from .finding import ERROR, Finding
from .installdir import SECRET_FILE, read_private
from .runner import Cancelled, CommandFailed
from .stage import Stage
from .state import InstallState, save_state


@dataclass(frozen=True)
class Event:
    kind: str          # "stage" (status change), "output" (a line), "note" (a check's progress or warning)
    stage: str
    status: str = ""   # for kind "stage": running, done, failed, interrupted, skipped
    message: str = ""


Listener = Callable[[Event], None]


class Outcome(Enum):
    """How a stage ended in one run of the engine."""
    DONE = "done"                # applied (or, check-only, checked) and its checks pass
    DONE_BEFORE = "done before"  # done in an earlier run, inputs unchanged, its checks pass now
    PLANNED = "planned"          # dry run: it would apply (its commands are in the runner's plan)
    FAILED = "failed"
    REFUSED = "refused"          # a preflight check refused: nothing after it was applied
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"          # left out of this run (the user skipped it after a failure)
    PENDING = "pending"          # not started: a stage before it failed, or it was not selected


FINISHED = (Outcome.DONE, Outcome.DONE_BEFORE, Outcome.PLANNED, Outcome.SKIPPED)


@dataclass
class RunResult:
    """What one run of the engine did: each stage's outcome and message, and the refusal if any.
    True when every selected stage ended done (or planned, in a dry run)."""
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    refused: CheckFailed | None = None
    cancelled: bool = False
    selected: tuple[str, ...] = ()
    findings: dict[str, Finding] = field(default_factory=dict)   # stage -> why it failed

    @property
    def ok(self) -> bool:
        return self.refused is None and all(self.outcomes.get(name) in FINISHED for name in self.selected)

    def __bool__(self) -> bool:
        return self.ok

    def failed(self) -> list[str]:
        return [name for name, outcome in self.outcomes.items()
                if outcome in (Outcome.FAILED, Outcome.REFUSED, Outcome.INTERRUPTED)]


def fingerprint(ctx: Context, stage: Stage) -> str:
    """A hash of what the stage applies, as the stage says: its rendered files, its chart reference,
    the answers and secrets it uses without a file. A secret is hashed with a key only the install
    directory holds, so the state file cannot be used to guess a weak password."""
    digest = hashlib.sha256(stage.name.encode())
    stored = ctx.stored_secrets  # read once: the key, and the secrets below
    key = stored.get("generated.proxy_secret_token", "").encode() or b"binderhub-wizard"
    for name in stage.inputs:
        try:
            data = read_private(ctx.directory / name)
        except FileNotFoundError:
            data = b"(missing)"
        if name == SECRET_FILE:
            data = hmac.new(key, data, hashlib.sha256).digest()
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    if stage.chart:
        answers = ctx.settings.answers
        digest.update(" ".join(chart_ref(stage.chart, answers.get("versions", {}), answers.get("charts", {})).helm_args()).encode())
    if stage.answers:
        digest.update("|".join(stage.answer_values(ctx.settings)).encode())
    for path in stage.secrets:
        digest.update(b"|" + hmac.new(key, stored.get(path, "").encode(), hashlib.sha256).digest())
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


def cluster_unreachable(err: BaseException) -> bool:
    """The cluster's API could not be reached at all (no answer, no kubeconfig): asking it again
    for the next stage only repeats the error."""
    if isinstance(err, PreflightRefused):
        return err.check == "api-reachable"
    if isinstance(err, CheckFailed):
        return False
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError

    return not isinstance(err, ApiException) and isinstance(err, (HTTPError, OSError, ConfigException))


class Engine:
    """Runs stages against the context it is given, and never writes into it: where notes and
    command output go is wired into the context (ctx.notify, the runner's listener) by its maker;
    the engine's own events (a stage's status) go to `listener`."""

    def __init__(self, ctx: Context, stages: list[Stage], state: InstallState, listener: Listener | None = None):
        self.ctx = ctx
        self.stages = {stage.name: stage for stage in stages}
        self.order = [stage.name for stage in stages]
        self.state = state
        self.listener = listener or (lambda event: None)
        self._state_lock = threading.Lock()
        self.result = RunResult()
        self._unreachable = False  # dry run: preflight refused, so no later stage is asked the cluster

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

    def _end(self, name: str, outcome: Outcome, message: str = "", *, status: str | None = None) -> None:
        """Record the stage's outcome; with `status`, tell the listener too (the state is not touched)."""
        with self._state_lock:
            self.result.outcomes[name] = outcome
            self.result.messages[name] = message
        if status is not None:
            self.listener(Event("stage", name, status=status, message=message))

    def _note(self, name: str, message: str) -> None:
        self.listener(Event("note", name, message=message))

    def selected(self, from_stage: str | None = None, only: str | None = None) -> list[str]:
        if only:
            return [only]
        if from_stage:
            return self.order[self.order.index(from_stage):]
        return list(self.order)

    def run(self, from_stage: str | None = None, only: str | None = None) -> RunResult:
        """Run the selected stages; the result is true when every one ended done (or is done already)."""
        selected = self.selected(from_stage, only)
        self.result = RunResult(selected=tuple(selected))
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
            self._end(name, Outcome.PENDING, "not started: an earlier stage failed", status="pending")
        self.result.cancelled = self.ctx.cancel.is_set()
        return self.result

    def _stage(self, name: str, must_apply: bool) -> bool:
        """Run one stage; True when the stages after it may go on."""
        threading.current_thread().name = name  # the cluster counts its requests per thread name
        stage = self.stages[name]
        ctx = self.ctx
        dry_run = ctx.runner.dry_run
        # What this stage applies, fingerprinted before it applies it: the record must describe what
        # reached the cluster, not what the directory holds once the checks have passed.
        applying = fingerprint(ctx, stage)
        recorded = self.state.stages.get(name)
        if not must_apply and recorded is not None and recorded.fingerprint != applying:
            must_apply = True  # an input changed since the run began (preflight re-rendered the answers)
        if not must_apply:
            # Done before, inputs unchanged: it stays done only if its checks still pass now. A dry
            # run asks the same (the checks only read), so its preview is what a real run would do.
            if dry_run and self._unreachable:
                self._end(name, Outcome.DONE_BEFORE, "done before; not checked again: preflight refused",
                          status="done")
                return True
            try:
                stage.verify(ctx)
                self._end(name, Outcome.DONE_BEFORE, "done before; checks pass", status="done")
                return True
            except CheckFailed as err:
                self._note(name, f"was done, but {err}: applying again")
            except Exception as err:  # noqa: BLE001 - an unreachable cluster during re-check means apply again
                self._note(name, f"re-check failed ({err.__class__.__name__}): applying again")
        if dry_run:
            return self._dry_run(name, stage)
        self._set(name, status="running", started=time.time(), finished=None, error=None)
        try:
            stage.apply(ctx)
            stage.verify(ctx)
        except Exception as err:  # noqa: BLE001 - each kind explained by _failed
            from .upgrade import rollback_failed_upgrade  # an upgraded release whose checks fail goes back

            self._failed(name, rollback_failed_upgrade(ctx, name, err))
            return False
        self._set(name, status="done", finished=time.time(), fingerprint=applying, error=None)
        self._end(name, Outcome.DONE)
        return True

    def _failed(self, name: str, err: Exception) -> Outcome:
        ctx = self.ctx
        if isinstance(err, Cancelled):
            outcome, error = Outcome.INTERRUPTED, "interrupted (Ctrl+C)"
        elif isinstance(err, PreflightRefused):
            outcome, error = Outcome.REFUSED, ctx.runner.mask(str(err))
            self.result.refused = err
        elif isinstance(err, CheckFailed):
            outcome, error = Outcome.FAILED, ctx.runner.mask(str(err))
        elif isinstance(err, CommandFailed):
            outcome, error = Outcome.FAILED, ctx.runner.mask(f"{err}\n{err.result.tail()}")
        else:
            outcome, error = Outcome.FAILED, ctx.runner.mask(_explain(err))
            ctx.runner.log(name, "".join(traceback.format_exception(err)))
        if outcome is not Outcome.INTERRUPTED:
            ctx.runner.log(name, f"failed: {error}")  # the reason, in the log too
            self.result.findings[name] = (Finding(err.check, ERROR, ctx.runner.mask(err.problem),
                                                  ctx.runner.mask(err.next_step))
                                          if isinstance(err, CheckFailed) else
                                          Finding(name, ERROR, error.splitlines()[0] if error else "",
                                                  "see install.log, fix the cause, and run again"))
        self._set(name, status="interrupted" if outcome is Outcome.INTERRUPTED else "failed",
                  finished=time.time(), error=error)
        self._end(name, outcome, error)
        return outcome

    def _dry_run(self, name: str, stage: Stage) -> bool:
        """Record the commands the stage would run; a stage that only checks (preflight) checks,
        read-only, unless a stage it needs would change first."""
        self._set(name, status="running", started=time.time(), finished=None, error=None)
        planned_before = any(self.result.outcomes.get(need) is Outcome.PLANNED for need in stage.needs)
        check = stage.checks_only and not planned_before and not self._unreachable
        try:
            stage.apply(self.ctx)
            if check:
                stage.verify(self.ctx)
        except Exception as err:  # noqa: BLE001 - each kind explained by _failed
            outcome = self._failed(name, err)
            if outcome is Outcome.REFUSED:
                # A real run would stop here; the preview goes on to show what it would do after.
                self._unreachable = True
            return outcome is not Outcome.INTERRUPTED
        if check:
            self._end(name, Outcome.DONE, "checks pass", status="done")
        else:
            self._end(name, Outcome.PLANNED, "dry run", status="done")
        return True

    def verify_all(self) -> RunResult:
        """Run every stage's checks, change nothing. Once the cluster's API is found unreachable,
        the rest are left pending ("not checked") instead of asking it again."""
        self.result = RunResult(selected=tuple(self.order))
        for name in self.order:
            if self._unreachable:
                self._end(name, Outcome.PENDING, "not checked: the cluster's API does not answer")
                continue
            try:
                self.stages[name].verify(self.ctx)
                self._end(name, Outcome.DONE, status="done")
                continue
            except CheckFailed as err:
                problem, self._unreachable = self.ctx.runner.mask(str(err)), cluster_unreachable(err)
            except Exception as err:  # noqa: BLE001
                from .kube import api_error_text

                problem, self._unreachable = self.ctx.runner.mask(api_error_text(err)), cluster_unreachable(err)
            self._end(name, Outcome.FAILED, problem, status="failed")
        return self.result
