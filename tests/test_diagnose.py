"""`wizard diagnose` where parts fail, and its masking. The real CLI in a subprocess, with real
kubectl and helm; the install directory is written by the real `wizard export`.

Proven here: an API server that does not answer gives exit 3 and still an archive (0600) of what
DIR says; an empty cluster of the real control plane (no cert-manager CRDs, none of our
namespaces) gives exit 0 and an archive that says what could not be read; bad input gives exit 2
and writes nothing; the masking patterns hide tokens and passwords the install does not know and
leave names, digests and code alone. The full install and the seeded-secrets test are in
tests/test_diagnose_realkube.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_ANSWERS, REPO
from tests.toolenv import kube_tool_env
from wizard.diagnose import Masker, Snapshot, write_archive


def wizard(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wizard", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=REPO)


def exported(tmp_path: Path, env: dict) -> Path:
    directory = tmp_path / "setup"
    result = wizard(env, "export", "--answers", str(EXAMPLE_ANSWERS), "--dir", str(directory))
    assert result.returncode == 0, result.stderr
    return directory


def archive_members(path: Path) -> dict[str, str]:
    with tarfile.open(path) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}


def only_archive(directory: Path) -> Path:
    found = list(directory.glob("diagnostics-*.tar.gz"))
    assert len(found) == 1, found
    assert found[0].stat().st_mode & 0o777 == 0o600
    return found[0]


def test_unreachable_api_server_gives_exit_3_and_a_partial_archive(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "unreachable-cluster-token"}}]}))
    env = kube_tool_env(kubeconfig, tmp_path / "state")
    directory = exported(tmp_path, env)
    result = wizard(env, "diagnose", "--dir", str(directory))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "did not answer" in result.stdout and "diagnostics-" in result.stdout
    members = archive_members(only_archive(directory))
    assert "secret.yaml" not in " ".join(members) and "install/answers.yaml" in members
    assert "install/config.yaml" in members and "report.txt" in members
    assert "does not answer" in members["problems.txt"]
    snapshot = Snapshot.from_dict(json.loads(members["snapshot.json"]))
    assert snapshot.reachable is False and snapshot.namespaces == {}
    stored = (directory / "secret.yaml").read_text()
    assert not any(value in text for text in members.values() for value in _secret_values(stored))


def test_verify_points_to_diagnose_when_a_check_fails(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}], "users": [{"name": "u", "user": {}}]}))
    env = kube_tool_env(kubeconfig, tmp_path / "state")
    directory = exported(tmp_path, env)
    result = wizard(env, "verify", "--dir", str(directory), "--timeout", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"wizard diagnose --dir {directory}" in result.stdout


def _secret_values(secret_yaml: str) -> list[str]:
    import yaml

    values: list[str] = []

    def walk(key, node):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(k, v)
        elif isinstance(node, str) and ("password" in key.lower() or "token" in key.lower()
                                        or "secret" in key.lower()):
            values.append(node)
    walk("", yaml.safe_load(secret_yaml))
    assert values
    return values


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    env = kube_tool_env(tmp_path / "no-kubeconfig", tmp_path / "state")
    missing = wizard(env, "diagnose", "--dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "--dir" in missing.stderr and "does not exist" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    no_answers = wizard(env, "diagnose", "--dir", str(empty))
    assert no_answers.returncode == 2 and "answers" in no_answers.stderr
    assert list(empty.iterdir()) == [] and not (tmp_path / "nowhere").exists()


def test_an_empty_cluster_without_crds_is_recorded_not_fatal(real_kube_without_nodes, tmp_path):
    """The real API server with nothing of ours: no cert-manager CRDs, no namespaces, no releases."""
    env = real_kube_without_nodes.env(tmp_path / "state")
    directory = exported(tmp_path, env)
    result = wizard(env, "diagnose", "--dir", str(directory))
    assert result.returncode == 0, result.stdout + result.stderr
    members = archive_members(only_archive(directory))
    problems = members["problems.txt"]
    assert "cert-manager certificates: could not be read" in problems
    assert "cert-manager challenges: could not be read" in problems
    assert "namespaces not found" in problems and "binder" in problems
    snapshot = Snapshot.from_dict(json.loads(members["snapshot.json"]))
    assert snapshot.reachable and snapshot.namespaces == {} and snapshot.helm["releases"] == []
    assert "No known cause" in members["report.txt"]


@pytest.mark.parametrize("text, hidden, kept", [
    ('password: hunter2hunter2', "hunter2hunter2", "password: "),
    ('{"client_secret": "s3cr3t-value-x"}', "s3cr3t-value-x", '"client_secret": "'),
    ("JUPYTERHUB_API_TOKEN=abcDEF123456", "abcDEF123456", "JUPYTERHUB_API_TOKEN="),
    ("Authorization: Bearer abcdefghijklmnop123", "abcdefghijklmnop123", "Bearer"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl", "eyJzdWIiOiJhbGljZSJ9", "token"),
    ("push https://robot:pa55word@registry.example.org/v2/", "pa55word", "registry.example.org"),
    ("secretToken " + "ab12" * 16, "ab12" * 16, "secretToken"),
])
def test_patterns_hide_what_the_install_does_not_know(text, hidden, kept):
    masked = Masker().text(text)
    assert hidden not in masked and kept in masked and "****" in masked


@pytest.mark.parametrize("text", [
    "secretName: binderhub-tls",
    "image: quay.io/jupyterhub/k8s-hub@sha256:" + "0f" * 32,
    'api_token = os.environ.get("JUPYTERHUB_API_TOKEN")',
    "authenticator_class: generic-oauth",
    "the token refresher starts",
])
def test_patterns_leave_names_digests_and_code_alone(text):
    assert Masker().text(text) == text


def test_env_values_named_secret_are_masked_in_objects():
    pod = {"spec": {"containers": [{"env": [{"name": "CONFIGPROXY_AUTH_TOKEN", "value": "plainvalue1"},
                                            {"name": "HUB_URL", "value": "http://hub:8081"}]}]},
           "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...plainvalue1...}"},
                        "managedFields": [{"manager": "kubectl"}]}}
    masked = Masker().data(pod)
    env = masked["spec"]["containers"][0]["env"]
    assert env == [{"name": "CONFIGPROXY_AUTH_TOKEN", "value": "****"}, {"name": "HUB_URL", "value": "http://hub:8081"}]
    assert "plainvalue1" not in json.dumps(masked) and "managedFields" not in masked["metadata"]


def test_write_archive_masks_every_member_again(tmp_path):
    """A snapshot that still carries a secret (a log read before the secret was known) is masked
    when written: the archive's last pass uses secret.yaml and the patterns on every member."""
    directory = tmp_path / "setup"
    directory.mkdir()
    (directory / "secret.yaml").write_text("registry:\n  password: archive-known-secret-77\n")
    (directory / "install.log").write_text("leaked archive-known-secret-77 and password=pattern-only-88\n")
    snapshot = Snapshot(logs={"binder/hub-1/hub": "token archive-known-secret-77\nAuthorization: Basic "
                                                  "cGF0dGVybi1vbmx5LTk5OnNlY3JldA=="},
                        namespaces={"binder": {"events": [{"message": "password: pattern-only-88"}]}})
    path = write_archive(directory, snapshot, report="report")
    data = b"".join(m.encode() for m in archive_members(path).values())
    for secret in (b"archive-known-secret-77", b"pattern-only-88", b"cGF0dGVybi1vbmx5LTk5OnNlY3JldA=="):
        assert secret not in data
    assert path.stat().st_mode & 0o777 == 0o600 and not list(directory.glob(".diagnostics-*"))
    assert set(archive_members(path)) >= {"report.txt", "snapshot.json", "install/install.log",
                                          "logs/binder/hub-1/hub.log", "namespaces/binder/events.json"}
    assert "install/secret.yaml" not in archive_members(path)
