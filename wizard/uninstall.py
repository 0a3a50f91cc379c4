"""`wizard uninstall`: undo exactly what the ledger (wizard/ledger.py) says the install created.

The plan: every stage with something recorded, in reverse order of creation; `--stage NAME` that
stage and the stages that depend on it. Per stage: helm releases uninstalled; objects applied with
kubectl deleted by uid (a DELETE with a uid precondition: an object of the same name that the
ledger did not create is never touched); a StorageClass default flag set back to its previous
value if it still holds ours; the namespace last, only if nothing not ours is in it.
Kept unless asked: volumes (the hub database, the registry, user homes: `--delete-data`), CRDs
(`--delete-crds`, refused while custom resources of those kinds exist). `--node`: the bootstrap of
this machine undone (kubeadm reset, CNI and iptables leftovers, files and packages).

Resumable: each removal appends a "removed" line to the ledger, so a run killed at any point
continues where it stopped and deletes nothing twice (a thing already gone is simply marked).
The install lock is held throughout. Then the checks: each removed thing is gone; a namespace
stuck Terminating is explained by the object and finalizer that hold it. Core: no Textual.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import ledger as L
from .runner import Cancelled, Runner

EXIT_OK, EXIT_LEFT, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 0, 1, 2, 3
DATA_KINDS = ("PersistentVolumeClaim", "PersistentVolume")
CRD_KIND = "CustomResourceDefinition"
HOST_OPS = (L.HOST_FILE, L.HOST_DIR, L.HOST_PACKAGE, L.HOST_HOLD, L.HOST_SYSCTL, L.HOST_SERVICE, L.HOST_SWAP,
            L.KUBEADM_INIT)
# Kinds in a namespace that never make it "not ours": made for every namespace, or by controllers
# for objects being deleted.
_IGNORED_KINDS = {"Event", "Endpoints", "EndpointSlice", "Lease"}
_IGNORED_NAMES = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}
HELM_RELEASE = "meta.helm.sh/release-name"


class BadInput(Exception):
    pass


class Unreachable(Exception):
    pass


def describe(entry: dict) -> str:
    op = entry["op"]
    if op == L.HELM:
        return f"helm release {entry['name']} in {entry['namespace']} ({entry['chart']} {entry.get('version', '')})".strip()
    if op == L.OBJECT:
        where = f" in {entry['namespace']}" if entry.get("namespace") else ""
        return f"{entry['kind']} {entry['name']}{where}"
    if op == L.DEFAULT_CLASS:
        back = "unset" if entry.get("previous") is None else entry["previous"]
        return f"StorageClass {entry['name']}: default flag back to {back}"
    if op == L.KEPT_VOLUME:
        return f"PersistentVolume {entry['name']} (kept data of {entry.get('claim', '?')})"
    if op == L.HOST_FILE:
        return f"{entry['path']}: " + ("previous content restored" if entry.get("existed") else "removed")
    if op == L.HOST_DIR:
        return f"{entry['path']}/: removed if empty"
    if op == L.HOST_PACKAGE:
        return f"package {entry['name']}: purged"
    if op == L.HOST_HOLD:
        return f"package {entry['name']}: unheld"
    if op == L.HOST_SYSCTL:
        return f"sysctl {entry['name']}" + (f" back to {entry['previous']}" if entry.get("previous") is not None else "")
    if op == L.HOST_SERVICE:
        return f"service {entry['name']}: disabled and stopped"
    if op == L.HOST_SWAP:
        return "swap: on again (swapon -a)"
    if op == L.KUBEADM_INIT:
        return "kubeadm reset, CNI configuration and iptables rules of Kubernetes and flannel"
    return op


@dataclass
class Plan:
    stages: list[tuple[str, list[dict]]]          # to remove, in this order
    kept: list[str] = field(default_factory=list)  # what stays, and why
    node: list[dict] = field(default_factory=list)  # host changes to undo (with --node), in order


def select_stages(recorded: list[str], only: str | None, needs: dict[str, tuple[str, ...]]) -> list[str]:
    """The stages to remove, in reverse order: all recorded ones, or `only` and what depends on it."""
    if only is None:
        return list(reversed(recorded))
    known = set(recorded) | set(needs)
    if only not in known:
        raise BadInput(f"--stage {only}: no such stage; the stages are: {', '.join(needs) or ', '.join(recorded)}")
    chosen = {only}
    changed = True
    while changed:
        changed = False
        for name, wants in needs.items():
            if name not in chosen and chosen & set(wants):
                chosen.add(name)
                changed = True
    return [name for name in reversed(recorded) if name in chosen]


def make_plan(entries: list[dict], stages: list[str], *, delete_data: bool, delete_crds: bool, node: bool) -> Plan:
    plan = Plan([])
    for stage in stages:
        items = []
        for entry in reversed([e for e in entries if e["stage"] == stage and e["op"] not in HOST_OPS]):
            if entry["op"] == L.OBJECT and entry["kind"] in DATA_KINDS and not delete_data:
                plan.kept.append(f"{describe(entry)}: data (--delete-data removes it)")
                continue
            if entry["op"] == L.KEPT_VOLUME and not delete_data:
                plan.kept.append(f"{describe(entry)}: --delete-data removes it")
                continue
            if entry["op"] == L.OBJECT and entry["kind"] == CRD_KIND and not delete_crds:
                plan.kept.append(f"{describe(entry)}: --delete-crds removes it")
                continue
            if entry["op"] == L.HELM and entry.get("chart") == "binderhub" and not delete_data:
                plan.kept.append(f"the hub's database volume of release {entry['name']} (set to Retain) and the "
                                 f"user home volumes in {entry['namespace']}: data (--delete-data removes them)")
            if entry["op"] == L.HELM and not delete_crds:
                plan.kept.append(f"CRDs made by release {entry['name']}, if any: --delete-crds removes them")
            items.append(entry)
        # The namespace last in its stage: it is removed only when the rest has gone.
        items.sort(key=lambda e: e["op"] == L.OBJECT and e["kind"] == "Namespace")
        if items:
            plan.stages.append((stage, items))
    if node:
        plan.node = list(reversed([e for e in entries if e["op"] in HOST_OPS]))
    return plan


# --- the bootstrap undone: exact commands ------------------------------------------------------------

CNI_LINKS = ("cni0", "flannel.1")
IPTABLES_FILTER = "{tool}-save | grep -v -e KUBE- -e FLANNEL -e CNI- | {tool}-restore"


def node_commands(entries: list[dict], directory: Path, sudo: list[str]) -> list[tuple[list[str], bool]]:
    """(argv, must succeed) undoing the host changes, in order: the kubeadm reset and its leftovers,
    the kubelet stopped, files restored (the saved previous content, byte for byte) or removed,
    sysctls set back, swap on again, packages unheld and purged."""
    out: list[tuple[list[str], bool]] = []
    ops = {e["op"] for e in entries}
    if L.KUBEADM_INIT in ops:
        out.append(([*sudo, "kubeadm", "reset", "-f"], True))
        out.append(([*sudo, "rm", "-rf", "/etc/cni/net.d"], True))
        out += [([*sudo, "ip", "link", "delete", link], False) for link in CNI_LINKS]
        out += [([*sudo, "sh", "-c", IPTABLES_FILTER.format(tool=tool)], False) for tool in ("iptables", "ip6tables")]
    for entry in entries:
        if entry["op"] == L.HOST_SERVICE:
            out.append(([*sudo, "systemctl", "disable", "--now", entry["name"]], False))
    for entry in entries:
        if entry["op"] == L.HOST_FILE:
            if entry.get("existed"):
                out.append(([*sudo, "install", "-m", entry.get("mode", "0644"), str(directory / entry["saved"]),
                             entry["path"]], True))
            else:
                out.append(([*sudo, "rm", "-f", entry["path"]], True))
        elif entry["op"] == L.HOST_DIR and not entry.get("existed"):
            out.append(([*sudo, "rmdir", "--ignore-fail-on-non-empty", entry["path"]], False))
        elif entry["op"] == L.HOST_SYSCTL and entry.get("previous") is not None:
            out.append(([*sudo, "sysctl", "-w", f"{entry['name']}={entry['previous']}"], False))
    if L.HOST_SWAP in ops:
        out.append(([*sudo, "swapon", "-a"], False))
    held = [e["name"] for e in reversed(entries) if e["op"] == L.HOST_HOLD]
    if held:
        out.append(([*sudo, "apt-mark", "unhold", *held], True))
    packages = [e["name"] for e in reversed(entries) if e["op"] == L.HOST_PACKAGE]
    if packages:
        out.append(([*sudo, "apt-get", "purge", "-y", *packages], True))
    return out


# --- the cluster ------------------------------------------------------------------------------------

class ClusterView:
    """Reads through the API (never logged: a listing may hold secrets); deletes through kubectl
    and helm on the runner, so a dry run shows every command."""

    def __init__(self, runner: Runner, kubectl: Callable[..., list[str]], helm: Callable[..., list[str]],
                 cluster_factory: Callable[[], object]):
        self.runner = runner
        self.kubectl = kubectl
        self.helm = helm
        self._factory = cluster_factory
        self._cluster = None
        self._resources: dict[tuple[str, str], tuple[str, bool, bool]] | None = None

    @property
    def cluster(self):
        if self._cluster is None:
            self._cluster = self._factory()
        return self._cluster

    def raw(self, path: str) -> dict | None:
        """GET any path of the API as a dict; None when it is not there (404)."""
        from kubernetes.client.exceptions import ApiException

        api = self.cluster.api
        method, url, headers, body, post = api.param_serialize(
            "GET", path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        response = api.call_api(method, url, headers, body, post, _request_timeout=15)
        data = response.read()
        if response.status == 404:
            return None
        if response.status >= 400:
            raise ApiException(status=response.status, reason=response.reason, body=data)
        return json.loads(data)

    def reachable(self) -> None:
        try:
            self.raw("/version")
        except Exception as err:  # noqa: BLE001 - any failure to reach it
            raise Unreachable(f"the cluster's API could not be reached ({err.__class__.__name__}); check it answers "
                              "(kubectl cluster-info), then run again") from None

    def resources(self) -> dict[tuple[str, str], tuple[str, bool, bool]]:
        """(apiVersion, kind) -> (plural, namespaced, listable), from discovery."""
        if self._resources is None:
            found: dict[tuple[str, str], tuple[str, bool, bool]] = {}
            versions = ["v1"]
            for group in (self.raw("/apis") or {}).get("groups", []):
                versions += [v["groupVersion"] for v in group.get("versions", [])]
            for version in versions:
                listing = self.raw(f"/api/{version}" if version == "v1" else f"/apis/{version}") or {}
                for res in listing.get("resources", []):
                    if "/" not in res["name"]:
                        found[(version, res["kind"])] = (res["name"], res["namespaced"], "list" in res.get("verbs", []))
            self._resources = found
        return self._resources

    def path(self, api_version: str, kind: str, namespace: str, name: str = "") -> str | None:
        info = self.resources().get((api_version, kind))
        if info is None:
            return None
        plural, namespaced = info[0], info[1]
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        where = f"/namespaces/{namespace}" if namespaced and namespace else ""
        return f"{base}{where}/{plural}" + (f"/{name}" if name else "")

    def get(self, entry: dict) -> dict | None:
        path = self.path(entry["apiVersion"], entry["kind"], entry.get("namespace", ""), entry["name"])
        return self.raw(path) if path else None

    def ours(self, entry: dict) -> bool:
        obj = self.get(entry)
        return obj is not None and obj["metadata"].get("uid") == entry["uid"]

    def delete(self, stage: str, entry: dict) -> str:
        """DELETE with a uid precondition; "deleted", "gone" or "not ours" (same name, other uid).
        In a dry run the command is only recorded."""
        path = self.path(entry["apiVersion"], entry["kind"], entry.get("namespace", ""), entry["name"])
        body = json.dumps({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background",
                           "preconditions": {"uid": entry["uid"]}})
        if self.runner.dry_run:
            self.runner.run(stage, self.kubectl("delete", "--raw", path or f"({entry['kind']} {entry['name']})",
                                                "-f", "-"), stdin=body)
            return "deleted"
        if path is None:
            return "gone"   # its kind is gone (a CRD removed): so is it
        obj = self.raw(path)
        if obj is None:
            return "gone"   # removed already (a run killed before it could say so): not deleted twice
        if obj["metadata"].get("uid") != entry["uid"]:
            return "not ours"
        if obj["metadata"].get("deletionTimestamp"):
            return "deleted"   # being deleted already (by a run that was cut off): not asked twice
        result = self.runner.run(stage, self.kubectl("delete", "--raw", path, "-f", "-"), stdin=body, check=False)
        text = result.output
        if result.ok:
            return "deleted"
        if "NotFound" in text or "not found" in text:
            return "gone"
        if "Precondition failed" in text or "Conflict" in text or "precondition" in text.lower():
            return "not ours"
        from .runner import CommandFailed

        raise CommandFailed(result, " ".join(result.argv))

    def helm_exists(self, entry: dict) -> bool:
        found = self.cluster.items(self.cluster.core.list_namespaced_secret, entry["namespace"],
                                   label_selector=f"owner=helm,name={entry['name']}")
        return bool(found)

    def namespaced_objects(self, namespace: str) -> list[dict]:
        """Every object in the namespace (the kinds that can be listed), as metadata + kind."""
        found = []
        for (api_version, kind), info in self.resources().items():
            plural, namespaced, listable = info[0], info[1], info[2]
            if not namespaced or not listable or kind in _IGNORED_KINDS:
                continue
            if api_version == "v1" or "/" in api_version:
                base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
                listing = self.raw(f"{base}/namespaces/{namespace}/{plural}") or {}
                for item in listing.get("items", []):
                    found.append({"kind": kind, "apiVersion": api_version, "metadata": item.get("metadata", {}),
                                  "spec": item.get("spec") if kind == "PersistentVolumeClaim" else None})
        # The same object is served under several group versions: one each.
        unique = {obj["metadata"].get("uid"): obj for obj in found}
        return list(unique.values())


def foreign(objects: list[dict], ours: set[str]) -> list[dict]:
    """Objects that are not ours and not made for the namespace itself nor owned by another object."""
    return [o for o in objects
            if o["metadata"].get("uid") not in ours
            and (o["kind"], o["metadata"].get("name")) not in _IGNORED_NAMES
            and not o["metadata"].get("ownerReferences")
            and not o["metadata"].get("deletionTimestamp")
            and not (o["kind"] == "Secret" and (o["metadata"].get("labels") or {}).get("owner") == "helm")]


def stuck_namespace(view: ClusterView, namespace: str) -> list[str]:
    """Why a Terminating namespace stays: each object holding a finalizer, and how to look at it."""
    lines = []
    for obj in view.namespaced_objects(namespace):
        finalizers = obj["metadata"].get("finalizers") or []
        if finalizers:
            name = obj["metadata"]["name"]
            plural = view.resources()[(obj["apiVersion"], obj["kind"])][0]
            group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
            resource = f"{plural}.{group}" if group else plural
            lines.append(f"{obj['kind']} {name} holds finalizer {', '.join(finalizers)}; inspect it with "
                         f"`kubectl get {resource} {name} -n {namespace} -o yaml`")
    ns = view.raw(f"/api/v1/namespaces/{namespace}") or {}
    for cond in (ns.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("NamespaceContentRemaining",
                                                                 "NamespaceFinalizersRemaining"):
            lines.append(f"the namespace says: {cond.get('message')}")
    return lines


# --- the run ----------------------------------------------------------------------------------------

@dataclass
class Report:
    removed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)      # what should be gone and is not (exit 1)
    kept: list[str] = field(default_factory=list)      # left on purpose
    notes: list[str] = field(default_factory=list)

    @property
    def code(self) -> int:
        return EXIT_LEFT if self.left else EXIT_OK


class Uninstaller:
    """Removes a Plan. `say` gets every line for the user (the CLI prints it, the TUI shows it)."""

    def __init__(self, directory: Path, runner: Runner, view: ClusterView | None, *, timeout: float = 120,
                 say: Callable[[str], None] = print, cancelled: Callable[[], bool] = lambda: False):
        self.directory = Path(directory)
        self.ledger = L.Ledger(self.directory)
        self.runner = runner
        self.view = view
        self.timeout = timeout
        self.say = say
        self.cancelled = cancelled
        self.report = Report()

    def _done(self, stage: str, entry: dict, what: str) -> None:
        if not self.runner.dry_run:
            self.ledger.mark_removed(entry, stage)
        self.report.removed.append(what)

    def remove_stage(self, stage: str, items: list[dict], *, delete_data: bool) -> None:
        view = self.view
        assert view is not None
        label = f"uninstall-{stage}"
        self.say(f"[{stage}] removing")
        for entry in items:
            if self.cancelled():
                return
            what = describe(entry)
            op = entry["op"]
            if op == L.HELM:
                if self.runner.dry_run or view.helm_exists(entry):
                    if not delete_data:
                        self._keep_release_volumes(label, entry)
                    self.runner.run(label, view.helm("uninstall", entry["name"], "--namespace", entry["namespace"]))
                self._done(stage, entry, what)
            elif op == L.OBJECT and entry["kind"] == "Namespace":
                self._remove_namespace(label, stage, entry)
            elif op == L.OBJECT:
                if view.delete(label, entry) == "not ours":
                    self.report.notes.append(f"{what}: another object of that name is there now (not the one the "
                                             "install created); left as it is")
                self._done(stage, entry, what)
            elif op == L.DEFAULT_CLASS:
                self._restore_default(label, entry)
                self._done(stage, entry, what)
            elif op == L.KEPT_VOLUME:
                pv = {"apiVersion": "v1", "kind": "PersistentVolume", "namespace": "", "name": entry["name"],
                      "uid": entry["uid"]}
                if self.runner.dry_run or view.ours(pv):
                    # Back to Delete first: the provisioner then removes the data, not only the object.
                    self.runner.run(label, view.kubectl(
                        "patch", "persistentvolume", entry["name"], "--type=merge",
                        "-p", json.dumps({"spec": {"persistentVolumeReclaimPolicy": "Delete"}})))
                    view.delete(label, pv)
                self._done(stage, entry, what)
        if not self.runner.dry_run:
            self._mark_stage_pending(stage)

    def _keep_release_volumes(self, label: str, release: dict) -> None:
        """helm uninstall deletes the claims it made (the hub's database): their volumes are set
        to Retain first, and recorded, so the data stays (and --delete-data can remove it later)."""
        if self.runner.dry_run:
            return
        cluster = self.view.cluster
        for pvc in cluster.items(cluster.core.list_namespaced_persistent_volume_claim, release["namespace"]):
            annotations = pvc["metadata"].get("annotations") or {}
            volume = (pvc.get("spec") or {}).get("volumeName")
            if annotations.get(HELM_RELEASE) != release["name"] or not volume:
                continue
            pv = self.view.raw(f"/api/v1/persistentvolumes/{volume}")
            if pv is None:
                continue
            if pv["spec"].get("persistentVolumeReclaimPolicy") != "Retain":
                self.runner.run(label, self.view.kubectl(
                    "patch", "persistentvolume", volume, "--type=merge",
                    "-p", json.dumps({"spec": {"persistentVolumeReclaimPolicy": "Retain"}})))
            self.ledger.record({"op": L.KEPT_VOLUME, "stage": release["stage"], "name": volume,
                                "uid": pv["metadata"]["uid"], "claim": f"{release['namespace']}/{pvc['metadata']['name']}",
                                "size": (pv["spec"].get("capacity") or {}).get("storage", "?")})
            self.report.kept.append(f"PersistentVolume {volume} (was {release['namespace']}/{pvc['metadata']['name']}, "
                                    f"{(pv['spec'].get('capacity') or {}).get('storage', '?')}): kept, reclaim policy Retain")

    def _restore_default(self, label: str, entry: dict) -> None:
        from .render.infra import DEFAULT_CLASS_ANNOTATION

        view = self.view
        if not self.runner.dry_run:
            sc = view.raw(f"/apis/storage.k8s.io/v1/storageclasses/{entry['name']}")
            now = ((sc or {}).get("metadata", {}).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)
            if sc is None or now != entry["value"]:
                self.report.notes.append(f"StorageClass {entry['name']}: its default flag was changed since the "
                                         "install; left as it is")
                return
        previous = entry.get("previous")
        change = f"{DEFAULT_CLASS_ANNOTATION}-" if previous is None else f"{DEFAULT_CLASS_ANNOTATION}={previous}"
        self.runner.run(label, view.kubectl("annotate", "--overwrite", "storageclass", entry["name"], change))

    def _remove_namespace(self, label: str, stage: str, entry: dict) -> None:
        view = self.view
        name = entry["name"]
        if self.runner.dry_run:
            self.say(f"[{stage}] namespace {name}: deleted only if nothing not ours is left in it")
            self.runner.run(label, view.kubectl("delete", "namespace", name, "--wait=false"))
            return
        obj = view.raw(f"/api/v1/namespaces/{name}")
        if obj is None or obj["metadata"]["uid"] != entry["uid"]:
            self._done(stage, entry, describe(entry))
            return
        if not obj["metadata"].get("deletionTimestamp"):
            others = self._blockers(name)
            if others:
                shown = ", ".join(f"{o['kind']} {o['metadata']['name']}" for o in others[:6])
                more = f" and {len(others) - 6} more" if len(others) > 6 else ""
                # It stays in the ledger: a later uninstall deletes it once it holds nothing else.
                self.report.kept.append(f"Namespace {name}: kept, it holds what the install did not create "
                                        f"or data that is kept: {shown}{more}")
                return
            view.delete(label, entry)
        self._done(stage, entry, describe(entry))

    def _blockers(self, namespace: str) -> list[dict]:
        """What keeps the namespace: objects the ledger never recorded as removed by us (not ours,
        or ours and kept), other than those made for every namespace, owned ones (garbage
        collected with their owner) and ones being deleted. Listed twice if needed: garbage
        collection of what was just removed may still be under way."""
        current = {e["uid"] for e in self.ledger.current() if e.get("uid")}
        gone = {e["uid"] for e in self.ledger.entries() if e.get("uid")} - current
        for attempt in range(3):
            others = foreign(self.view.namespaced_objects(namespace), gone)
            if not others:
                return []
            time.sleep(1 + attempt)
        return others

    def _mark_stage_pending(self, stage: str) -> None:
        """The install's state: a removed stage runs again on the next install."""
        from .state import load_state, save_state

        state = load_state(self.directory)
        if stage in state.stages:
            state.stages[stage].status = "pending"
            state.stages[stage].fingerprint = None
            save_state(self.directory, state)

    # --- after ---------------------------------------------------------------------------------
    def check(self, removed: list[dict]) -> None:
        """Each removed thing is gone; a namespace still Terminating is explained."""
        view = self.view
        deadline = time.monotonic() + self.timeout
        for entry in removed:
            what = describe(entry)
            if entry["op"] == L.HELM:
                if view.helm_exists(entry):
                    self.report.left.append(f"{what}: still there")
            elif entry["op"] == L.OBJECT:
                while True:
                    obj = view.get(entry)
                    if obj is None or obj["metadata"].get("uid") != entry["uid"]:
                        break
                    if time.monotonic() > deadline or self.cancelled():
                        if entry["kind"] == "Namespace":
                            why = stuck_namespace(view, entry["name"])
                            self.report.left.append(f"Namespace {entry['name']} is stuck Terminating: " +
                                                    ("; ".join(why) if why else "no object with a finalizer found; "
                                                     f"inspect it with `kubectl get namespace {entry['name']} -o yaml`"))
                        else:
                            finalizers = obj["metadata"].get("finalizers") or []
                            self.report.left.append(f"{what}: still there" + (
                                f", held by finalizer {', '.join(finalizers)}" if finalizers else ""))
                        break
                    time.sleep(0.5)


# --- the whole command ---------------------------------------------------------------------------------

def _needs(directory: Path) -> tuple[dict[str, tuple[str, ...]], str]:
    """Stage -> its needs (the plan of DIR's answers), and the kube context; empty when unreadable."""
    from .export import read_answers_file
    from .installdir import ANSWERS_FILE
    from .secretstore import read_stored
    from .settings import load_answers

    try:
        settings = load_answers(read_answers_file(directory / ANSWERS_FILE, follow_links=False),
                                read_stored(directory)).settings
    except Exception:  # noqa: BLE001 - no or bad answers: fall back to the ledger's order
        return {}, ""
    if settings is None:
        return {}, ""
    from .stages import plan

    # The cluster stages: the bootstrap's are undone as one, by --node.
    return {s.name: s.needs for s in plan(settings)}, settings.cluster.context or ""


def _recorded_stages(ledger: L.Ledger, entries: list[dict], needs: dict) -> list[str]:
    """Stages with cluster things recorded, in plan order where the plan knows the stage (one it
    does not know came later, so it is removed first)."""
    recorded = [s for s in ledger.stages() if any(e["stage"] == s and e["op"] not in HOST_OPS for e in entries)]
    return [s for s in needs if s in recorded] + [s for s in recorded if s not in needs]


def show_plan(plan: Plan, say: Callable[[str], None]) -> None:
    if not plan.stages and not plan.node:
        say("Nothing recorded in the ledger is left to remove.")
    if plan.stages:
        say("Will remove, stage by stage (the reverse of the install):")
    for stage, items in plan.stages:
        say(f"  {stage}:")
        for entry in items:
            extra = " (only if nothing not ours is in it)" if entry.get("kind") == "Namespace" else ""
            say(f"    - {describe(entry)}{extra}")
    if plan.kept:
        say("Kept:")
        for line in plan.kept:
            say(f"  - {line}")
    if plan.node:
        say("On this machine (--node), the bootstrap undone:")
        for entry in plan.node:
            say(f"    - {describe(entry)}")


def data_volumes(view: ClusterView, entries: list[dict], namespaces: set[str]) -> list[tuple[str, str]]:
    """(what, size) of every volume --delete-data removes: the ledger's claims and kept volumes,
    and the claims in our namespaces (the hub's database, user homes)."""
    found = []
    for entry in entries:
        if entry["op"] == L.KEPT_VOLUME:
            found.append((f"PersistentVolume {entry['name']} (was {entry.get('claim')})", entry.get("size", "?")))
    cluster = view.cluster
    for namespace in sorted(namespaces):
        try:
            claims = cluster.items(cluster.core.list_namespaced_persistent_volume_claim, namespace)
        except Exception:  # noqa: BLE001 - a namespace gone already
            continue
        for pvc in claims:
            size = ((pvc.get("status") or {}).get("capacity") or {}).get("storage") or \
                (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage", "?")
            found.append((f"PersistentVolumeClaim {namespace}/{pvc['metadata']['name']}", size))
    return found


def run(directory: Path, *, yes: bool = False, dry_run: bool = False, stage: str | None = None,
        delete_data: bool = False, delete_crds: bool = False, node: bool = False, forget_secrets: bool = False,
        timeout: float = 120, say: Callable[[str], None] = print, ask: Callable[[str], bool] | None = None,
        cluster_factory: Callable[[], object] | None = None, runner: Runner | None = None,
        sudo: list[str] | None = None) -> int:
    """The command: plan, show, ask, remove, check. The exit code: 0 nothing left, 1 something left,
    2 bad input, 3 the cluster could not be reached."""
    from .installdir import LOG_FILE
    from .runner import Masker
    from .state import InstallLock, LockHeld

    directory = Path(directory)
    if not directory.is_dir():
        say(f"uninstall: {directory} is not an install directory (it does not exist)")
        return EXIT_BAD_INPUT
    ledger = L.Ledger(directory)
    if not ledger.path.exists():
        say(f"uninstall: {ledger.path} does not exist: nothing was recorded here, so nothing is removed "
            "(an install made before the ledger existed must be removed by hand)")
        return EXIT_BAD_INPUT
    needs, context = _needs(directory)
    try:
        secrets = __import__("wizard.secretstore", fromlist=["read_stored"]).read_stored(directory)
    except Exception:  # noqa: BLE001 - masking only
        secrets = {}
    if runner is None:
        runner = Runner(directory / LOG_FILE, Masker(secrets.values()), dry_run=dry_run, command_limit=timeout + 30)
    kube_args = ["--context", context] if context else []
    helm_args = ["--kube-context", context] if context else []

    def default_factory():
        from .kube import Cluster

        return Cluster(None, context or None)

    view = ClusterView(runner, lambda *a: ["kubectl", *kube_args, *a], lambda *a: ["helm", *helm_args, *a],
                       cluster_factory or default_factory)
    entries = ledger.current()
    try:
        chosen = select_stages(_recorded_stages(ledger, entries, needs), stage, needs)
    except BadInput as err:
        say(f"uninstall: {err}")
        return EXIT_BAD_INPUT
    plan = make_plan(entries, chosen, delete_data=delete_data, delete_crds=delete_crds, node=node and stage is None)
    show_plan(plan, say)
    if not plan.stages and not plan.node and not delete_crds:
        if dry_run:
            return EXIT_OK
        code = _check_only(directory, view, ledger, stage, needs, timeout, say)
        if code == EXIT_OK and forget_secrets and stage is None:  # removed before: forget them now
            try:
                with InstallLock(directory):
                    _forget_secrets(directory, say)
            except LockHeld as err:
                say(f"uninstall: {err}")
                return EXIT_BAD_INPUT
        return code

    prompting = threading.Event()

    def confirm(question: str) -> bool:
        if yes or dry_run:
            return True
        if ask is None:
            raise BadInput("not on a terminal: pass --yes to remove, or --dry-run to see the commands")
        prompting.set()
        try:
            return ask(question)
        finally:
            prompting.clear()

    def stop() -> None:
        """Ctrl+C or SIGTERM: at a question, stop at once (nothing was removed since it was asked);
        otherwise let the running command end (a helm uninstall or delete cut half-way is worse than
        the wait), start no other, record what was done, and say how to go on."""
        if prompting.is_set():
            raise KeyboardInterrupt
        runner.refuse_new()
        say(f"\nstopping once the running command ends (at most {timeout + 30:.0f} s)")

    signals = contextlib.ExitStack()

    try:
        lock = InstallLock(directory)
        if not dry_run:
            lock.__enter__()
    except LockHeld as err:
        say(f"uninstall: {err}")
        return EXIT_BAD_INPUT
    if threading.current_thread() is threading.main_thread():  # the TUI runs it in a worker thread
        from . import interrupts

        signals.enter_context(interrupts.cancelling(stop))
    try:
        runner.log("uninstall", f"uninstall of {directory}" + (" (dry run)" if dry_run else ""))
        if not confirm("Remove the above? [y/N] "):
            say("nothing removed")
            return EXIT_OK
        if plan.stages or delete_crds:
            try:
                view.reachable()
            except Unreachable as err:
                if not plan.node:
                    say(f"uninstall: {err}")
                    return EXIT_UNREACHABLE
                say(f"note: {err}; going on with the node (kubeadm reset removes the cluster)")
                plan.stages = []
                delete_crds = False
        worker = Uninstaller(directory, runner, view, timeout=timeout, say=say,
                             cancelled=lambda: runner.cancelled)
        worker.report.kept += plan.kept
        if delete_data and plan.stages:
            namespaces = {e["namespace"] for _s, items in plan.stages for e in items if e.get("namespace")}
            namespaces |= {e["name"] for _s, items in plan.stages for e in items if e.get("kind") == "Namespace"}
            volumes = data_volumes(view, entries, namespaces)
            say("--delete-data deletes these volumes and everything on them:")
            for what, size in volumes:
                say(f"  - {what}, {size}")
            if not volumes:
                say("  (none found)")
            if not confirm("Delete this data for good? [y/N] "):
                say("nothing removed")
                return EXIT_OK
        for name, items in plan.stages:
            if runner.cancelled:
                break
            worker.remove_stage(name, items, delete_data=delete_data)
            if delete_data and not dry_run:
                _delete_claims(view, runner, name, items)
        if delete_crds and not runner.cancelled:
            _delete_crds(view, runner, ledger, worker.report, dry_run)
        if plan.stages and not dry_run and not runner.cancelled:
            worker.check(removed_entries(ledger, stage, needs))
        if plan.node and not runner.cancelled:
            _undo_node(directory, runner, plan.node, node_confirm=confirm, say=say, report=worker.report,
                       sudo=sudo if sudo is not None else ([] if os.geteuid() == 0 else ["sudo"]))
        if runner.cancelled:
            return _interrupted(directory, say)
        if dry_run:
            say(f"\n{len(runner.planned)} command(s) would run; nothing was changed:")
            for stage_name, command in runner.planned:
                say(f"  [{stage_name}] {command}")
            return EXIT_OK
        if forget_secrets and stage is None:
            _forget_secrets(directory, say)
        return _summary(worker.report, say, directory)
    except BadInput as err:
        say(f"uninstall: {err}")
        return EXIT_BAD_INPUT
    except Cancelled:  # a command refused after Ctrl+C, in the middle of a step: that step was not done
        return _interrupted(directory, say)
    finally:
        signals.close()
        if not dry_run:
            lock.__exit__(None, None, None)


def _forget_secrets(directory: Path, say: Callable[[str], None]) -> None:
    """--forget-secrets: secret.yaml and the copy the backups keep of it (DIR/applied/) go."""
    from .backup import forget_applied_secrets
    from .installdir import SECRET_FILE

    forget_applied_secrets(directory)
    try:
        (directory / SECRET_FILE).unlink()
        say("secret.yaml removed (--forget-secrets): the next install generates new secrets")
    except FileNotFoundError:
        pass


def _interrupted(directory: Path, say: Callable[[str], None]) -> int:
    say(f"interrupted; run `wizard uninstall --dir {directory}` again to continue")
    return EXIT_LEFT


def removed_entries(ledger: L.Ledger, stage: str | None, needs: dict) -> list[dict]:
    """Every release and object of the selected stages that uninstall removed, by this run or by
    one cut off before it could check (each uid once)."""
    ever = list(dict.fromkeys(e["stage"] for e in ledger.entries() if e["op"] != L.REMOVED))
    chosen = set(ever) if stage is None else set(select_stages(list(needs) + [s for s in ever if s not in needs],
                                                               stage, needs))
    now = {L.key(e) for e in ledger.current()}
    gone = {(L.key(e), e.get("uid")): e for e in ledger.entries()
            if e["op"] in (L.HELM, L.OBJECT) and e["stage"] in chosen and L.key(e) not in now}
    return list(gone.values())


def _check_only(directory: Path, view: ClusterView, ledger: L.Ledger, stage: str | None, needs: dict,
                timeout: float, say) -> int:
    """Nothing left to remove: check that what was removed is gone (a run may have been cut off
    before its checks)."""
    targets = removed_entries(ledger, stage, needs)
    if not targets:
        return EXIT_OK
    try:
        view.reachable()
    except Unreachable as err:
        say(f"uninstall: {err}")
        return EXIT_UNREACHABLE
    worker = Uninstaller(directory, view.runner, view, timeout=timeout, say=say)
    worker.check(targets)
    return _summary(worker.report, say, directory)


def _delete_claims(view: ClusterView, runner: Runner, stage: str, items: list[dict]) -> None:
    """--delete-data: the claims in the namespaces of the removed releases (the hub's database, user homes)."""
    for entry in items:
        if entry["op"] != L.HELM:
            continue
        cluster = view.cluster
        for pvc in cluster.items(cluster.core.list_namespaced_persistent_volume_claim, entry["namespace"]):
            meta = pvc["metadata"]
            labels = meta.get("labels") or {}
            if (meta.get("annotations") or {}).get(HELM_RELEASE) == entry["name"] or \
                    labels.get("component") == "singleuser-storage":
                view.delete(f"uninstall-{stage}", {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                   "namespace": entry["namespace"], "name": meta["name"],
                                                   "uid": meta["uid"]})


def _delete_crds(view: ClusterView, runner: Runner, ledger: L.Ledger, report: Report, dry_run: bool) -> None:
    """--delete-crds: the CRDs our helm releases made, unless custom resources of them exist."""
    # Only the CRDs of releases uninstalled (now or before): a release still installed needs its own.
    releases = {e["name"] for e in ledger.entries() if e["op"] == L.HELM} - \
        {e["name"] for e in ledger.current() if e["op"] == L.HELM}
    listing = view.raw("/apis/apiextensions.k8s.io/v1/customresourcedefinitions") or {}
    for crd in listing.get("items", []):
        meta = crd["metadata"]
        if (meta.get("annotations") or {}).get(HELM_RELEASE) not in releases:
            continue
        spec = crd["spec"]
        in_use = []
        for version in spec.get("versions", []):
            found = view.raw(f"/apis/{spec['group']}/{version['name']}/{spec['names']['plural']}") or {}
            in_use += found.get("items", [])
            break
        if in_use:
            names = ", ".join(f"{i['metadata'].get('namespace', '')}/{i['metadata']['name']}".lstrip("/")
                              for i in in_use[:5])
            report.left.append(f"CRD {meta['name']}: refused, {len(in_use)} custom resource(s) of it exist ({names})")
            continue
        view.delete("uninstall-crds", {"apiVersion": "apiextensions.k8s.io/v1", "kind": CRD_KIND, "namespace": "",
                                       "name": meta["name"], "uid": meta["uid"]})
        report.removed.append(f"CRD {meta['name']}")


def _undo_node(directory: Path, runner: Runner, entries: list[dict], *, node_confirm, say, report: Report,
               sudo: list[str]) -> None:
    commands = node_commands(entries, directory, sudo)
    say("This machine (--node): these commands undo the bootstrap:")
    for argv, _must in commands:
        say(f"  {' '.join(shlex.quote(a) for a in argv)}")
    if not node_confirm("Undo the bootstrap on this machine (kubeadm reset: the cluster on it is gone)? [y/N] "):
        report.left.append("the bootstrap of this machine (not undone: not confirmed)")
        return
    ledger = L.Ledger(directory)
    for argv, must in commands:
        result = runner.run("uninstall-node", argv, check=False)
        if must and not result.ok and not runner.dry_run:
            report.left.append(f"`{' '.join(argv)}` exited with {result.exit_code} (see install.log)")
            return
    if not runner.dry_run:
        for entry in entries:
            ledger.mark_removed(entry, entry["stage"])
        from .state import load_state, save_state

        state = load_state(directory)
        for name in list(state.stages):
            state.stages[name].status = "pending"
            state.stages[name].fingerprint = None
        save_state(directory, state)
    report.removed.append("the bootstrap of this machine")


def _summary(report: Report, say, directory: Path) -> int:
    say(f"\nremoved: {len(report.removed)} thing(s)")
    for line in report.kept:
        say(f"kept: {line}")
    for line in report.notes:
        say(f"note: {line}")
    for line in report.left:
        say(f"LEFT: {line}")
    if report.left:
        say(f"something is left (above); fix it, then run `wizard uninstall --dir {directory}` again")
    else:
        say(f"nothing of the install is left but what is kept above. `wizard install --dir {directory}` installs "
            "again with the same secrets.")
    return report.code


def preview(directory: Path, *, stage: str | None = None, delete_data: bool = False, delete_crds: bool = False,
            node: bool = False) -> list[str]:
    """What `run` would show before asking, from the ledger alone (no cluster): for the TUI."""
    ledger = L.Ledger(Path(directory))
    entries = ledger.current()
    needs, _context = _needs(Path(directory))
    lines: list[str] = []
    show_plan(make_plan(entries, select_stages(_recorded_stages(ledger, entries, needs), stage, needs), delete_data=delete_data,
                        delete_crds=delete_crds, node=node), lines.append)
    return lines
