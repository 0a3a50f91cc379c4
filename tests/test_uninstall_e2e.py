"""`wizard uninstall` end to end on the real control plane with the real charts (one install for the
module, tests in order): the ledger the install wrote (no secret in it), the dry run, `--stage`,
install again afterwards with the same secrets, the whole uninstall SIGKILLed at each of its steps
and resumed (nothing of ours left, nothing deleted twice, everything not ours untouched, the moved
default StorageClass flag restored, the hub's data kept), then `--delete-data`.

Real: the API server and its controllers (garbage collection, the namespace controller, the
PersistentVolume binder), helm and kubectl, every chart archive. Stand-ins as in
tests/install_harness.py (pod readiness, webhooks, the provisioner). It cannot show what a real
storage provisioner does with a Retained volume's data, only that the volume object is kept.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from kubernetes import client

from tests.conftest import REPO
from tests.install_harness import InstallCluster, helm_releases, make_real_install  # noqa: F401
from tests.install_harness import install_cluster  # noqa: F401 - the module's cluster

pytestmark = pytest.mark.slow

NAMESPACES = ("openebs", "ingress-nginx", "cert-manager", "binder")


def core(cluster) -> client.CoreV1Api:
    return client.CoreV1Api(cluster.api)


def seed_foreign(cluster) -> dict[str, str]:
    """Objects that are not ours, in the namespaces the install uses (made before it), and a
    second default StorageClass that the install un-defaults. Returns name -> uid."""
    api = core(cluster)
    uids = {}
    api.create_namespace({"metadata": {"name": "binder"}})  # the operator made the namespace: not ours
    for namespace in ("binder", "ingress-nginx"):
        try:
            api.create_namespace({"metadata": {"name": namespace}})
        except client.ApiException as err:
            assert err.status == 409
        made = api.create_namespaced_config_map(namespace, {"metadata": {"name": "not-ours"}, "data": {"k": "v"}})
        uids[f"{namespace}/not-ours"] = made.metadata.uid
    made = client.StorageV1Api(cluster.api).create_storage_class(
        {"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
         "provisioner": "example.com/other"})
    uids["standard"] = made.metadata.uid
    return uids


@pytest.fixture(scope="module")
def installed(install_cluster, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("uninstall")
    foreign = seed_foreign(install_cluster)
    run = make_real_install(tmp, install_cluster)
    try:
        result = run.install()
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        run.foreign = foreign
        yield run
    finally:
        run.stop()


def uninstall(run, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return run.run("uninstall", "--timeout", "30", *args, timeout=timeout)


def ledger(run) -> list[dict]:
    return [json.loads(line) for line in (run.directory / "ledger.jsonl").read_text().splitlines()]


def test_the_install_recorded_what_it_created_and_no_secret(installed):
    entries = ledger(installed)
    releases = {(e["namespace"], e["name"]): e for e in entries if e["op"] == "helm"}
    assert set(releases) == {("openebs", "openebs"), ("ingress-nginx", "ingress-nginx"),
                             ("cert-manager", "cert-manager"), ("binder", "binder")}, releases
    assert all(e["revision"] == 1 and e["chart"] for e in releases.values())
    objects = {(e["kind"], e["namespace"], e["name"]) for e in entries if e["op"] == "object"}
    assert ("ClusterIssuer", "", "binderhub-letsencrypt") in objects or any(k == "ClusterIssuer" for k, _n, _m in objects)
    assert ("Namespace", "", "cert-manager") in objects and ("Namespace", "", "openebs") in objects
    assert ("Namespace", "", "binder") not in objects, "the operator made it: not ours"
    assert ("Namespace", "", "ingress-nginx") not in objects, "it existed before: not ours"
    assert any(k == "ConfigMap" and ns == "binder" for k, ns, _n in objects)
    moved = [e for e in entries if e["op"] == "default-class"]
    assert moved == [{**moved[0], "name": "standard", "previous": "true", "value": "false"}], moved
    text = (installed.directory / "ledger.jsonl").read_text()
    stored = yaml.safe_load((installed.directory / "secret.yaml").read_text())
    secrets = ["example-client-secret", "example-registry-password"]
    secrets += [v for v in json.dumps(stored).split('"') if len(v) >= 16 and " " not in v]
    assert not [s for s in secrets if s in text], "a secret reached the ledger"


def test_a_rerun_of_the_install_records_nothing_new(installed):
    before = (installed.directory / "ledger.jsonl").read_text()
    again = installed.install()
    assert again.returncode == 0, again.stdout[-2000:]
    assert (installed.directory / "ledger.jsonl").read_text() == before


def test_the_dry_run_prints_every_command_and_changes_nothing(installed):
    before = (installed.directory / "ledger.jsonl").read_text()
    shown = uninstall(installed, "--dry-run")
    assert shown.returncode == 0, shown.stdout[-3000:] + shown.stderr[-2000:]
    out = shown.stdout
    order = [out.index(f"  {stage}:") for stage in ("binderhub", "namespace", "issuer", "cert-manager", "ingress",
                                                     "storage")]
    assert order == sorted(order), out
    assert "helm uninstall binder --namespace binder" in out and "kubectl delete --raw" in out
    assert "storageclass.kubernetes.io/is-default-class=true" in out, "the moved flag is set back"
    assert "the hub's database volume of release binder" in out and "CRDs made by release cert-manager" in out
    assert (installed.directory / "ledger.jsonl").read_text() == before
    assert helm_releases(installed.cluster.api).get("binder") == ["deployed"]


def test_stage_removes_one_stage_then_install_again_with_the_same_secrets(installed):
    secrets = (installed.directory / "secret.yaml").read_bytes()
    done = uninstall(installed, "--stage", "binderhub", "--yes")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    releases = helm_releases(installed.cluster.api)
    assert "binder" not in releases and {"openebs", "ingress-nginx", "cert-manager"} <= set(releases)
    assert "kept: PersistentVolume" in done.stdout, done.stdout[-2000:]
    # The stand-in for the ingress controller and cert-manager remembers objects by name, not uid:
    # a real controller serves a re-created Ingress; here it must be told to look again.
    # Its ingress-shim makes the Certificate of the new Ingress only once the old one (owned by the
    # removed Ingress) has been garbage-collected.
    custom = client.CustomObjectsApi(installed.cluster.api)
    deadline = time.monotonic() + 60
    while custom.list_namespaced_custom_object("cert-manager.io", "v1", "binder", "certificates")["items"]:
        assert time.monotonic() < deadline, "the removed Ingresses' Certificates were not garbage-collected"
        time.sleep(0.2)
    installed.cluster.controllers.done.clear()
    again = installed.install()
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert "binderhub     will run: not run yet" in again.stdout, again.stdout[:3000]
    assert "ingress       done" in again.stdout
    assert (installed.directory / "secret.yaml").read_bytes() == secrets
    assert helm_releases(installed.cluster.api)["binder"] == ["deployed"]


def _finished(log: str) -> int:
    """How many of the uninstall's commands have finished (the runner logs "exit N" after each)."""
    return len(re.findall(r"\[uninstall-[a-z-]+\] exit -?\d+", log))


def _completed(log: str) -> list[tuple[str, int]]:
    """(command, exit code) of each command that ran to its end; one killed with the wizard has none."""
    done, current = [], None
    for match in re.finditer(r"\[uninstall-[a-z-]+\] (?:\$ (.*)|exit (-?\d+))$", log, re.M):
        if match.group(1) is not None:
            current = match.group(1)
        elif current is not None:
            done.append((current, int(match.group(2))))
            current = None
    return done


def test_sigkill_at_each_step_then_resume_leaves_nothing_of_ours(installed):
    """The uninstall is first stopped with Ctrl+C (SIGINT) as soon as its first command has
    finished: it lets the running command end, starts no other, says how to go on and exits 1.
    Then it is killed (SIGKILL) after each next command (before it can write that down), resumed,
    and so on until a run finishes: every command ran once, nothing of ours is left, everything not
    ours is as it was. It cannot show a kill in the middle of a helm uninstall (helm's own recovery
    is tests/test_helm_recovery.py's)."""
    recorded = [e for e in ledger(installed) if e["op"] == "object"]
    log = installed.directory / "install.log"
    log.write_text("")
    kills, finished, stopped = 0, None, None
    while finished is None and kills < 60:
        seen = _finished(log.read_text())
        process = subprocess.Popen([sys.executable, "-m", "wizard", "uninstall", "--yes", "--timeout", "30",
                                    "--dir", str(installed.directory)], env=installed.env, cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        sent = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _finished(log.read_text()) > seen:
                sent = signal.SIGINT if stopped is None else signal.SIGKILL
                process.send_signal(sent)
                kills += 1
                break
            time.sleep(0.01)
        out, _ = process.communicate(timeout=60)
        if sent == signal.SIGINT and "interrupted; run `wizard uninstall" in out:
            stopped = (process.returncode, out)
        elif process.returncode is not None and process.returncode >= 0:
            finished = (process.returncode, out)
    assert stopped is not None and stopped[0] == 1, stopped
    assert "stopping once the running command ends" in stopped[1] and "Traceback" not in stopped[1]
    assert finished is not None and finished[0] == 0, finished
    assert kills >= 5, kills
    completed = _completed(log.read_text())
    assert [c for c in completed if c[1] != 0] == [], "a command failed"
    deletes = [c for c, _code in completed if c.startswith(("kubectl delete", "helm uninstall"))]
    assert len(deletes) == len(set(deletes)), f"something was deleted twice: {deletes}"
    assert "LEFT" not in finished[1] and "Traceback" not in finished[1]
    api = installed.cluster.api
    assert not helm_releases(api, NAMESPACES[:3] + ("binder",)) or set(helm_releases(api)) == set()
    for entry in recorded:
        if entry["kind"] in ("PersistentVolumeClaim", "PersistentVolume"):
            continue
        path = f"/api/v1/namespaces/{entry['name']}" if entry["kind"] == "Namespace" else None
        if path:
            try:
                got = core(installed.cluster).read_namespace(entry["name"])
                assert got.metadata.uid != entry["uid"], f"{entry['kind']} {entry['name']} is left"
            except client.ApiException as err:
                assert err.status == 404
    # Everything not ours, untouched; the moved default back.
    for key, uid in installed.foreign.items():
        if key == "standard":
            sc = client.StorageV1Api(api).read_storage_class("standard")
            assert sc.metadata.uid == uid
            assert sc.metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true"
        else:
            namespace, name = key.split("/")
            assert core(installed.cluster).read_namespaced_config_map(name, namespace).metadata.uid == uid
    assert core(installed.cluster).read_namespace("binder").status.phase == "Active", "not ours: kept"
    assert "kept: PersistentVolume" in finished[1] or any(e["op"] == "kept-volume" for e in ledger(installed))
    kept = [e for e in ledger(installed) if e["op"] == "kept-volume"]
    assert kept and core(installed.cluster).read_persistent_volume(kept[0]["name"]).spec.persistent_volume_reclaim_policy == "Retain"


def test_delete_data_names_each_volume_and_deletes_it(installed):
    kept = [e for e in ledger(installed) if e["op"] == "kept-volume"]
    done = uninstall(installed, "--delete-data", "--yes")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    for entry in kept:
        assert f"PersistentVolume {entry['name']}" in done.stdout and entry["size"] in done.stdout
        try:
            pv = core(installed.cluster).read_persistent_volume(entry["name"])
            assert pv.metadata.deletion_timestamp is not None
        except client.ApiException as err:
            assert err.status == 404
    # Everything was removed before; --forget-secrets still forgets them (and the backups' copy).
    (installed.directory / "applied").mkdir(exist_ok=True)
    (installed.directory / "applied" / "secret.yaml").write_bytes((installed.directory / "secret.yaml").read_bytes())
    again = uninstall(installed, "--yes", "--forget-secrets")
    assert again.returncode == 0 and "Nothing recorded in the ledger is left to remove" in again.stdout
    assert "secret.yaml removed (--forget-secrets)" in again.stdout, again.stdout[-2000:]
    assert not (installed.directory / "secret.yaml").exists()
    assert not (installed.directory / "applied" / "secret.yaml").exists()


def test_a_finalizer_that_never_clears_is_reported_by_name(installed, tmp_path):
    """A namespace the ledger says we made, holding our ConfigMap with a finalizer nobody removes:
    the ConfigMap is deleted (it stays, marked), the namespace goes Terminating and stays; the
    report names the object, its finalizer and the command to look at it, and the exit is 1."""
    from wizard.ledger import OBJECT, Ledger

    api = core(installed.cluster)
    namespace = api.create_namespace({"metadata": {"name": "stuck-here"}})
    held = api.create_namespaced_config_map("stuck-here", {"metadata": {"name": "held", "finalizers": [
        "example.com/never"]}})
    directory = tmp_path / "setup"
    ledger_ = Ledger(directory)
    ledger_.record({"op": OBJECT, "stage": "launch", "apiVersion": "v1", "kind": "Namespace", "namespace": "",
                    "name": "stuck-here", "uid": namespace.metadata.uid})
    ledger_.record({"op": OBJECT, "stage": "launch", "apiVersion": "v1", "kind": "ConfigMap",
                    "namespace": "stuck-here", "name": "held", "uid": held.metadata.uid})
    try:
        done = subprocess.run([sys.executable, "-m", "wizard", "uninstall", "--yes", "--timeout", "5",
                               "--dir", str(directory)], env=installed.env, cwd=REPO, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
        assert "ConfigMap held holds finalizer example.com/never" in done.stdout, done.stdout[-2000:]
        assert "`kubectl get configmaps held -n stuck-here -o yaml`" in done.stdout
        assert "Namespace stuck-here is stuck Terminating" in done.stdout
    finally:
        api.patch_namespaced_config_map("held", "stuck-here", {"metadata": {"finalizers": None}})


def test_delete_crds_is_refused_while_custom_resources_of_them_exist(installed):
    """After the uninstall, cert-manager's CRDs are still there (kept). An Issuer that is not ours
    keeps its CRD: refused, named, exit 1; the other CRDs of the release go; the Issuer stays."""
    custom = client.CustomObjectsApi(installed.cluster.api)
    custom.create_namespaced_custom_object("cert-manager.io", "v1", "binder", "issuers", {
        "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "not-ours"},
        "spec": {"selfSigned": {}}})
    done = uninstall(installed, "--delete-crds", "--yes")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "CRD issuers.cert-manager.io: refused, 1 custom resource(s) of it exist (binder/not-ours)" in done.stdout
    extensions = client.ApiextensionsV1Api(installed.cluster.api)
    names = {crd.metadata.name for crd in extensions.list_custom_resource_definition().items
             if crd.metadata.deletion_timestamp is None}
    assert "issuers.cert-manager.io" in names and "certificates.cert-manager.io" not in names, names
    assert custom.get_namespaced_custom_object("cert-manager.io", "v1", "binder", "issuers", "not-ours")
