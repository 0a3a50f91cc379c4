"""`wizard uninstall`'s refusals and exit codes, as a user meets them (the real command in a
process): a stage that does not exist (2, naming --stage and the stages), no terminal and no --yes
(2), no ledger (2), an unreachable cluster (3, nothing removed, the ledger unchanged). What a
removal does to a cluster is tests/test_uninstall_e2e.py's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.test_tui_support import export_example
from wizard.ledger import HELM, Ledger


def wizard(directory, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wizard", "uninstall", "--dir", str(directory), *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def recorded(tmp_path):
    directory = tmp_path / "setup"
    export_example(directory)
    Ledger(directory).record({"op": HELM, "stage": "binderhub", "name": "binder", "namespace": "binder",
                              "chart": "binderhub", "version": "1.0", "revision": 1})
    return directory


def test_an_unknown_stage_is_refused_naming_the_stages(recorded):
    done = wizard(recorded, "--stage", "nosuch", "--yes")
    assert done.returncode == 2
    assert "--stage nosuch: no such stage; the stages are: preflight, storage, ingress" in done.stdout


def test_without_a_terminal_it_needs_yes(recorded):
    done = wizard(recorded)
    assert done.returncode == 2 and "not on a terminal: pass --yes" in done.stdout


def test_an_unreachable_cluster_is_exit_3_and_nothing_changes(recorded, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                          "users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
                          "current-context: c\n")
    before = (recorded / "ledger.jsonl").read_bytes()
    unreachable = wizard(recorded, "--yes", env={"KUBECONFIG": str(kubeconfig)})
    assert unreachable.returncode == 3, unreachable.stdout + unreachable.stderr
    assert "the cluster's API could not be reached" in unreachable.stdout
    assert (recorded / "ledger.jsonl").read_bytes() == before, "nothing removed, nothing recorded"


def test_no_ledger_is_bad_input(tmp_path):
    directory = tmp_path / "setup"
    export_example(directory)
    done = wizard(directory, "--yes")
    assert done.returncode == 2 and "ledger.jsonl does not exist" in done.stdout
