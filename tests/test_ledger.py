"""The ledger (wizard/ledger.py) on its own: append only, fsync'd lines replayed into what exists
now; a re-run records only what changed; the first previous value is the one kept; a line cut
off by a kill is ignored; host changes are recorded before they happen, with previous file
contents saved beside the ledger byte for byte. What the stages record against the real control
plane is proved in tests/test_uninstall_e2e.py; this cannot show that."""

from __future__ import annotations

import json
import os

from wizard import bootstrap, redact
from wizard.ledger import (DEFAULT_CLASS, HELM, HOST_FILE, HOST_PACKAGE, KUBEADM_INIT, OBJECT, Ledger, Recorder,
                           _objects, host_changes)


def helm(revision: int, stage: str = "binderhub") -> dict:
    return {"op": HELM, "stage": stage, "name": "binder", "namespace": "binder", "chart": "binderhub",
            "version": "1.0", "revision": revision}


def test_a_rerun_records_only_what_changed_and_removed_lines_replay(tmp_path):
    ledger = Ledger(tmp_path)
    assert ledger.record(helm(1)) is True
    assert ledger.record(helm(1)) is False, "the same release again: nothing new"
    assert ledger.record(helm(2)) is True, "a new revision is a change"
    obj = {"op": OBJECT, "stage": "registry", "apiVersion": "v1", "kind": "Service", "namespace": "binder",
           "name": "registry", "uid": "11111111-2222-3333-4444-555555555555"}
    ledger.record(obj)
    assert [e["revision"] for e in ledger.current() if e["op"] == HELM] == [2]
    assert ledger.stages() == ["binderhub", "registry"]
    ledger.mark_removed(obj, "registry")
    assert [e["op"] for e in ledger.current()] == [HELM]
    assert ledger.record(obj) is True, "created again after an uninstall: recorded again"
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["at"] > 0 for line in lines)
    assert oct(os.stat(tmp_path / "ledger.jsonl").st_mode & 0o777) == "0o600"


def test_the_first_previous_value_is_kept(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record({"op": DEFAULT_CLASS, "stage": "storage", "name": "standard", "previous": "true", "value": "false"})
    # Someone set it back by hand, and a re-run un-defaulted it again: the original is still "true".
    ledger.record({"op": DEFAULT_CLASS, "stage": "storage", "name": "standard", "previous": "false", "value": "true"})
    (entry,) = ledger.current()
    assert entry["previous"] == "true" and entry["value"] == "true"


def test_a_line_cut_off_by_a_kill_is_ignored(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record(helm(1))
    with open(tmp_path / "ledger.jsonl", "ab") as handle:
        handle.write(b'{"op": "helm", "name": "cut')
    assert [e["revision"] for e in ledger.current()] == [1]


def test_a_secret_never_reaches_the_ledger(tmp_path):
    """Lines pass through wizard.redact: a secret that slipped into a name would be masked."""
    redact.remember("ledger-distinctive-secret-7781")
    ledger = Ledger(tmp_path)
    ledger.record({**helm(1), "name": "x-ledger-distinctive-secret-7781"})
    assert "ledger-distinctive-secret-7781" not in (tmp_path / "ledger.jsonl").read_text()


def test_kubectl_custom_columns_are_parsed_into_objects():
    output = ("APIVERSION   KIND   NAMESPACE   NAME   UID\n"
              "v1   Namespace   <none>   binder   0b6d2a1c-9d7e-4c1e-9a55-2f1d7c9b0a11\n"
              "v1   ConfigMap   binder   scheduler   1b6d2a1c-9d7e-4c1e-9a55-2f1d7c9b0a11\n"
              "Error from server (Forbidden): nope\n")
    assert _objects(output) == [
        {"apiVersion": "v1", "kind": "Namespace", "namespace": "", "name": "binder",
         "uid": "0b6d2a1c-9d7e-4c1e-9a55-2f1d7c9b0a11"},
        {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "binder", "name": "scheduler",
         "uid": "1b6d2a1c-9d7e-4c1e-9a55-2f1d7c9b0a11"}]


def test_a_dry_run_records_nothing(tmp_path):
    class Ctx:
        directory = tmp_path

        class runner:
            dry_run = True
    record = Recorder(Ctx, "storage")
    record.before_apply(["-f", "x.yaml"])
    record.applied(["-f", "x.yaml"])
    record.default_class("standard", "true", "false")
    assert not (tmp_path / "ledger.jsonl").exists()


def test_host_changes_save_each_previous_file_byte_for_byte(tmp_path):
    fstab = tmp_path / "fstab"
    original = b"/swap.img none swap sw 0 0\n# \xe9 not utf-8\n"
    fstab.write_bytes(original)
    commands = [bootstrap.Command(("cp", "-p", str(fstab), str(tmp_path / "fstab.bak"))),
                bootstrap.Command(("sed", "-i", "-E", "-e", "s/x/y/", str(fstab))),
                bootstrap.Command(("tee", str(tmp_path / "new.conf")), stdin="x\n"),
                bootstrap.Command(("apt-get", "install", "-y", "curl", "gpg")),
                bootstrap.Command(("kubeadm", "init", "--config=/x"))]
    ledger = Ledger(tmp_path / "dir")
    host_changes(ledger, "node-x", commands, installed=lambda name: name == "gpg")
    host_changes(ledger, "node-x", commands, installed=lambda name: False)  # a re-run: nothing new but gpg
    fstab.write_bytes(b"changed by us\n")
    host_changes(ledger, "node-x", commands, installed=lambda name: name == "gpg")
    entries = {(e["op"], e.get("path") or e.get("name")): e for e in ledger.current()}
    saved = entries[(HOST_FILE, str(fstab))]
    assert (tmp_path / "dir" / saved["saved"]).read_bytes() == original, "the first content is kept"
    assert saved["existed"] is True and entries[(HOST_FILE, str(tmp_path / "new.conf"))]["existed"] is False
    assert entries[(HOST_FILE, str(tmp_path / "fstab.bak"))]["existed"] is False
    assert (HOST_PACKAGE, "curl") in entries and (KUBEADM_INIT, None) in entries
    assert oct(os.stat(tmp_path / "dir" / saved["saved"]).st_mode & 0o777) == "0o600"


def test_status_says_what_the_ledger_holds_of_each_stage(tmp_path):
    """`wizard status` (the session's status, which the TUI's Welcome shows too) reads the ledger."""
    from tests.test_tui_support import export_example
    from wizard.session import InstallSession

    directory = tmp_path / "setup"
    export_example(directory)
    ledger = Ledger(directory)
    ledger.record(helm(1))
    namespace = {"op": OBJECT, "stage": "namespace", "apiVersion": "v1", "kind": "ConfigMap", "namespace": "binder",
                 "name": "x", "uid": "11111111-2222-3333-4444-555555555555"}
    ledger.record(namespace)
    ledger.mark_removed(namespace, "namespace")
    rows = {row.name: row for row in InstallSession(directory).status().stages}
    assert rows["binderhub"].note == "1 thing(s) in the ledger"
    assert rows["namespace"].note == "removed by wizard uninstall"
    assert rows["storage"].note == ""
