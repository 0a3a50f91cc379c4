"""The in-memory object store: CRUD with the API server's semantics, one global resourceVersion
counter, and an event log that watches read from.

Every operation holds one lock (the condition variable's), so a read-modify-write such as a patch
is atomic, and a watch blocked in `wait_for_events` wakes the moment an event is committed.
"""

from __future__ import annotations

import copy
import random
import re
import threading
from dataclasses import dataclass
from typing import Callable

from . import errors
from .defaults import apply_defaults, carry_over, new_metadata, now
from .patch import APPLY, apply_patch
from .resources import Kind, Registry
from .selectors import Matcher

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Event:
    """One committed change. `old` is the object before a MODIFIED change, so a watch with a
    selector can tell an object that left its selection (sent as DELETED) from one that stayed."""
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    group: str
    plural: str
    namespace: str | None
    obj: dict
    old: dict | None = None


def _validate_name(kind: Kind, name: str) -> None:
    if kind.group == "rbac.authorization.k8s.io":  # RBAC names are path segments: `system:x` is fine
        ok = name not in (".", "..") and "/" not in name and "%" not in name
    elif kind.kind in ("Namespace", "Service"):
        ok = len(name) <= 63 and bool(_DNS_LABEL.match(name))
    else:
        ok = len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))
    if not ok:
        raise errors.invalid(kind, name, "metadata.name",
                             f'Invalid value: "{name}": a lowercase RFC 1123 name must consist of '
                             "lower case alphanumeric characters, '-' or '.'")


def _without(obj: dict, *keys: str) -> dict:
    return {k: v for k, v in obj.items() if k not in keys}


class Store:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.cond = threading.Condition(threading.RLock())
        self.rv = 0
        self.events: list[Event] = []
        # (group, plural) -> (namespace or "", name) -> stored object
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        # Called with each committed Event, outside the lock (the controller schedules from them).
        self.listeners: list[Callable[[Event], None]] = []
        self._pending: list[Event] = []

    # ---- helpers -------------------------------------------------------------------------

    def _table(self, kind: Kind) -> dict[tuple[str, str], dict]:
        return self._objects.setdefault((kind.group, kind.plural), {})

    @staticmethod
    def _present(kind: Kind, obj: dict) -> dict:
        """A copy of a stored object as seen through `kind`'s version (CRD versions share storage)."""
        out = copy.deepcopy(obj)
        out["apiVersion"], out["kind"] = kind.api_version, kind.kind
        return out

    def _commit(self, kind: Kind, type_: str, obj: dict, old: dict | None = None) -> dict:
        self.rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self.rv)
        key = (meta.get("namespace", ""), meta["name"])
        if type_ == "DELETED":
            self._table(kind).pop(key, None)
        else:
            self._table(kind)[key] = obj
        event = Event(self.rv, type_, kind.group, kind.plural, meta.get("namespace"),
                      copy.deepcopy(obj), copy.deepcopy(old) if old else None)
        self.events.append(event)
        self._pending.append(event)
        self.cond.notify_all()
        return self._present(kind, obj)

    def _flush(self) -> None:
        """Tell listeners about committed events; called after the lock is released."""
        with self.cond:
            pending, self._pending = self._pending, []
        for event in pending:
            for listener in list(self.listeners):
                listener(event)

    def _current(self, kind: Kind, ns: str | None, name: str) -> dict:
        obj = self._table(kind).get((ns or "", name))
        if obj is None:
            raise errors.not_found(kind, name)
        return obj

    def _check_namespace(self, kind: Kind, ns: str | None) -> None:
        if kind.namespaced and ("", ns) not in self._objects.get(("", "namespaces"), {}):
            raise errors.namespace_not_found(ns)

    # ---- reads ---------------------------------------------------------------------------

    def get(self, kind: Kind, ns: str | None, name: str) -> dict:
        with self.cond:
            return self._present(kind, self._current(kind, ns, name))

    def list(self, kind: Kind, ns: str | None, match: Matcher) -> tuple[list[dict], int]:
        with self.cond:
            items = [self._present(kind, o) for (ons, _), o in sorted(self._table(kind).items())
                     if (ns is None or ons == ns) and match(o)]
            return items, self.rv

    def wait_for_events(self, after: int, timeout: float, stop: threading.Event) -> list[Event]:
        """Events with rv > after, blocking until there is one, the timeout, or `stop` (set
        before a `wake()`)."""
        with self.cond:
            self.cond.wait_for(lambda: self.rv > after or stop.is_set(), timeout)
            return self.events[after:]  # events[i] has rv i + 1: one event per commit

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    # ---- writes --------------------------------------------------------------------------

    def create(self, kind: Kind, ns: str | None, body: dict, dry_run: bool = False) -> dict:
        try:
            with self.cond:
                return self._create(kind, ns, body, dry_run)
        finally:
            self._flush()

    def _create(self, kind: Kind, ns: str | None, body: dict, dry_run: bool) -> dict:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise errors.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            self._check_namespace(kind, ns)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(
                random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
        name = meta.get("name")
        if not name:
            raise errors.invalid(kind, "", "metadata.name", "Required value: name or generateName is required")
        _validate_name(kind, name)
        if ((ns or "") if kind.namespaced else "", name) in self._table(kind):
            raise errors.already_exists(kind, name)
        if kind.has_status:
            obj.pop("status", None)  # status is written only through the /status subresource
        new_metadata(obj, kind, ns, self.rv + 1)
        apply_defaults(kind, obj, self.rv + 1)
        if dry_run:
            del meta["resourceVersion"]
            return self._present(kind, obj)
        if kind.kind == "CustomResourceDefinition":
            self.registry.add_crd(obj)
        return self._commit(kind, "ADDED", obj)

    def update(self, kind: Kind, ns: str | None, name: str, body: dict,
               subresource: str | None = None, dry_run: bool = False) -> dict:
        """PUT: replace the object (or only its status, for the /status subresource)."""
        try:
            with self.cond:
                old = self._current(kind, ns, name)
                given_rv = (body.get("metadata") or {}).get("resourceVersion")
                if given_rv and given_rv != old["metadata"]["resourceVersion"]:
                    raise errors.conflict(kind, name)
                return self._replace(kind, old, copy.deepcopy(body), subresource, dry_run)
        finally:
            self._flush()

    def patch(self, kind: Kind, ns: str | None, name: str, content_type: str, patch,
              subresource: str | None = None, dry_run: bool = False) -> dict:
        try:
            with self.cond:
                try:
                    old = self._current(kind, ns, name)
                except errors.ApiError:
                    if content_type != APPLY or subresource:
                        raise
                    # Server-side apply creates what does not exist yet.
                    patch.setdefault("metadata", {})["name"] = name
                    return self._create(kind, ns, patch, dry_run)
                new = apply_patch(content_type, self._present(kind, old), patch)
                if content_type != APPLY and new.get("metadata", {}).get("resourceVersion") \
                        not in (None, old["metadata"]["resourceVersion"]):
                    raise errors.conflict(kind, name)
                return self._replace(kind, old, new, subresource, dry_run)
        finally:
            self._flush()

    def _replace(self, kind: Kind, old: dict, new: dict, subresource: str | None,
                 dry_run: bool) -> dict:
        name = old["metadata"]["name"]
        given = (new.get("metadata") or {}).get("name", name)
        if given != name:
            raise errors.bad_request(f"the name of the object ({given}) does not match the "
                                     f"name on the URL ({name})")
        if subresource == "status":
            # Only status changes through /status; everything else stays as stored.
            result = copy.deepcopy(old)
            result["status"] = copy.deepcopy(new.get("status", {}))
            apply_defaults(kind, result, self.rv + 1)
        else:
            result = copy.deepcopy(new)
            meta = result.setdefault("metadata", {})
            if kind.has_status:
                result["status"] = copy.deepcopy(old.get("status", {}))
            for field in ("uid", "creationTimestamp", "namespace", "generation", "deletionTimestamp"):
                if field in old["metadata"]:
                    meta[field] = old["metadata"][field]
            meta["name"] = name
            carry_over(kind, old, result)
            apply_defaults(kind, result, self.rv + 1)
            if kind.tracks_generation and _without(old, "metadata", "status", "apiVersion", "kind") != \
                    _without(result, "metadata", "status", "apiVersion", "kind"):
                meta["generation"] = old["metadata"].get("generation", 1) + 1
        if dry_run:
            result["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self._present(kind, result)
        if kind.kind == "CustomResourceDefinition":
            self.registry.add_crd(result)
        return self._commit(kind, "MODIFIED", result, old)

    def mutate(self, kind: Kind, ns: str | None, name: str, change: Callable[[dict], None]) -> dict:
        """Read-modify-write for the controller helpers: `change` edits a copy in place; the
        status it leaves is written as through /status, the rest as through the main resource."""
        try:
            with self.cond:
                current = self._current(kind, ns, name)
                new = self._present(kind, current)
                change(new)
                if not kind.has_status:
                    return self._replace(kind, current, new, None, False)
                if _without(new, "status") != _without(self._present(kind, current), "status"):
                    self._replace(kind, current, new, None, False)
                    current = self._current(kind, ns, name)
                if new.get("status") != current.get("status"):
                    self._replace(kind, current, new, "status", False)
                return self._present(kind, self._current(kind, ns, name))
        finally:
            self._flush()

    def delete(self, kind: Kind, ns: str | None, name: str, dry_run: bool = False) -> dict:
        try:
            with self.cond:
                obj = self._current(kind, ns, name)
                if dry_run:
                    return self._present(kind, obj)
                return self._delete(kind, obj)
        finally:
            self._flush()

    def delete_collection(self, kind: Kind, ns: str | None, match: Matcher,
                          dry_run: bool = False) -> list[dict]:
        try:
            with self.cond:
                items = [o for (ons, _), o in sorted(self._table(kind).items())
                         if (ns is None or ons == ns) and match(o)]
                if dry_run:
                    return [self._present(kind, o) for o in items]
                return [self._delete(kind, o) for o in items]
        finally:
            self._flush()

    def _delete(self, kind: Kind, obj: dict) -> dict:
        """Delete at once (no finalizers, no graceful termination), with the API server's cascades:
        a Namespace takes every namespaced object in it, a CRD takes its custom resources."""
        meta = obj["metadata"]
        if kind.kind == "Namespace" and kind.group == "":
            for k in {k for k in self.registry.all() if k.namespaced}:
                for o in [o for (ons, _), o in sorted(self._table(k).items()) if ons == meta["name"]]:
                    self._delete(k, o)
        if kind.kind == "CustomResourceDefinition":
            served = [k for k in self.registry.all() if k.from_crd == meta["name"]]
            self.registry.remove_crd(meta["name"])
            for k in served[:1]:  # all versions share one table
                for o in list(self._table(k).values()):
                    self._delete(k, o)
        gone = copy.deepcopy(obj)
        gone["metadata"]["deletionTimestamp"] = now()
        return self._commit(kind, "DELETED", gone)
