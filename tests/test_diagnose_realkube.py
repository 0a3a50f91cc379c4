"""`wizard diagnose` after a real install on the real control plane (tests/install_harness.py:
the real charts, helm and kubectl, the real API server and controllers; kwok's pods and the named
stand-ins for what needs a kubelet or the network).

Proven: the clean install's snapshot holds what the issue lists (our namespaces' objects and
events, cert-manager's certificates, nodes, helm list and history) and the analyzer finds no
cause in it; secrets seeded everywhere the cluster and DIR can carry them (secret.yaml, the answers'
secrets, pod env and annotations, events, install.log, state.json) appear nowhere in the archive,
every member decompressed; a crash-looping hub pod (kwok's CrashLoopBackOff) is named.
Not proven: pod logs, which kwok does not serve (their masking is tested on write_archive in
tests/test_diagnose.py); what a real cluster's failures look like (tests/test_analyzer.py's
fixtures).
"""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest

from tests.install_harness import install_cluster, make_real_install  # noqa: F401
from wizard.analyzer import analyze
from wizard.diagnose import Snapshot

pytestmark = pytest.mark.slow

KNOWN = ("example-client-secret", "example-registry-password")  # the answers' secrets (tests/data/full-answers.yaml)
PATTERN_ONLY = ("zq-env-token-5531", "zq-annotation-pw-6642", "zq-event-pw-7753", "zq-log-bearer-8864abcdef",
                "zq-state-pw-9975")


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def diagnose(run) -> tuple[object, Path]:
    before = set(run.directory.glob("diagnostics-*.tar.gz"))
    started = time.monotonic()
    result = run.run("diagnose", *run.cluster_options())
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (path,) = set(run.directory.glob("diagnostics-*.tar.gz")) - before
    assert path.stat().st_mode & 0o777 == 0o600
    print(f"diagnose took {took:.1f} s")
    return result, path


@pytest.fixture(scope="module")
def installed(install_cluster, tmp_path_factory):  # noqa: F811 - the harness's module fixture
    tmp = tmp_path_factory.mktemp("diagnose-install")
    run = make_real_install(tmp, install_cluster)
    try:
        result = run.install()
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        time.sleep(1.1)  # one archive name per second
        report, path = diagnose(run)
        yield run, report, members(path)
    finally:
        run.stop()


def test_a_clean_install_gives_no_cause_and_the_snapshot_holds_what_was_asked(installed):
    _run, report, archive = installed
    snapshot = Snapshot.from_dict(json.loads(archive["snapshot.json"]))
    assert analyze(snapshot) == [], analyze(snapshot)
    assert "No known cause" in report.stdout and archive["report.txt"].decode() in report.stdout
    # Everything was read; only Keycloak's page is out of reach (sso.example.org has no stand-in).
    unread = [p for p in snapshot.problems if "could not be read" in p and not p.startswith("Keycloak")]
    assert snapshot.reachable and not unread, snapshot.problems
    assert snapshot.probes["keycloak"]["url"] == "https://sso.example.org/realms/binder/protocol/openid-connect/auth"
    binder = snapshot.namespaces["binder"]
    components = {(p["metadata"].get("labels") or {}).get("component") for p in binder["pods"]}
    assert {"hub", "proxy", "binder"} <= components
    assert binder["events"] and binder["persistentvolumeclaims"] and binder["ingresses"]
    assert {"cert-manager", "openebs", "binder"} <= set(snapshot.namespaces)
    assert snapshot.cert_manager["certificates"] and snapshot.cert_manager["clusterissuers"]
    assert "challenges" in snapshot.cert_manager and "orders" in snapshot.cert_manager
    node = snapshot.cluster["nodes"][0]
    assert node["status"]["capacity"] and any(c["type"] == "DiskPressure" for c in node["status"]["conditions"])
    releases = {r["name"] for r in snapshot.helm["releases"]}
    assert {"binder", "cert-manager", "openebs"} <= releases
    assert snapshot.helm["history"]["binder/binder"][0]["status"] == "deployed"
    assert {"install/state.json", "install/install.log", "install/config.yaml", "helm/list.json",
            "cluster/nodes.json", "cert-manager/certificates.json", "namespaces/binder/events.json"} <= set(archive)
    assert not any(name.endswith("secret.yaml") for name in archive)


def test_secrets_seeded_everywhere_appear_nowhere_in_the_archive(installed, install_cluster):  # noqa: F811
    from kubernetes import client

    from tests.realkube.pods import CRASH_LOOP, pod_annotations

    run, _report, _archive = installed
    stored = _secret_values(run.directory / "secret.yaml")
    assert set(KNOWN) <= set(stored) and len(stored) >= 4  # the generated tokens too
    core = client.CoreV1Api(install_cluster.api)
    env = [{"name": "SEED_API_TOKEN", "value": PATTERN_ONLY[0]},
           {"name": "REGISTRY_PASSWORD", "value": KNOWN[1]},
           *({"name": f"STORED_{i}_SECRET", "value": value} for i, value in enumerate(stored))]
    core.create_namespaced_pod("binder", {
        "metadata": {"name": "hub-seeded", "labels": {"component": "hub", "app": "jupyterhub"},
                     "annotations": {**pod_annotations(fault=CRASH_LOOP),
                                     "note": f"password={PATTERN_ONLY[1]} client {KNOWN[0]}"}},
        "spec": {"containers": [{"name": "hub", "image": "quay.io/jupyterhub/k8s-hub:4.2.0", "env": env,
                                 "args": ["--token", stored[0]]}]}})
    core.create_namespaced_event("binder", {
        "metadata": {"name": "hub-seeded.seed"},
        "involvedObject": {"kind": "Pod", "namespace": "binder", "name": "hub-seeded"},
        "reason": "Seeded", "type": "Warning",
        "message": f"login with password: {PATTERN_ONLY[2]} and {KNOWN[0]} and {stored[-1]} failed"})
    with open(run.directory / "install.log", "a") as log:
        log.write(f"leaked Authorization: Bearer {PATTERN_ONLY[3]} {KNOWN[1]} {stored[0]}\n")
    state = json.loads((run.directory / "state.json").read_text())
    next(iter(state["stages"].values()))["error"] = f"password={PATTERN_ONLY[4]} {KNOWN[0]}"
    (run.directory / "state.json").write_text(json.dumps(state))
    _wait_crash_looping(core)

    report, path = diagnose(run)
    archive = members(path)
    seeds = [*KNOWN, *PATTERN_ONLY, *stored]
    for name, data in archive.items():
        for seed in seeds:
            assert seed.encode() not in data, f"{seed!r} in {name}"
    assert all(seed not in report.stdout + report.stderr for seed in seeds)
    # The seeded objects are in the archive, masked, not left out.
    snapshot = Snapshot.from_dict(json.loads(archive["snapshot.json"]))
    pods = {p["metadata"]["name"]: p for p in snapshot.namespaces["binder"]["pods"]}
    assert {"name": "SEED_API_TOKEN", "value": "****"} in pods["hub-seeded"]["spec"]["containers"][0]["env"]
    assert any(e["reason"] == "Seeded" and "****" in e["message"] for e in snapshot.namespaces["binder"]["events"])
    # kwok's CrashLoopBackOff on a pod labelled as the hub: the analyzer names it.
    assert [c.rule for c in analyze(snapshot)] == ["hub-crash-loop"]
    assert "[hub-crash-loop]" in report.stdout


def _wait_crash_looping(core, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod("hub-seeded", "binder")
        statuses = pod.status.container_statuses or []
        if any(s.state and s.state.waiting and s.state.waiting.reason == "CrashLoopBackOff" for s in statuses):
            return
        time.sleep(0.5)
    raise AssertionError("kwok did not put the seeded pod into CrashLoopBackOff")


def _secret_values(path: Path) -> list[str]:
    import yaml

    found: list[str] = []

    def walk(key: str, node) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(str(k), v)
        elif isinstance(node, str) and any(word in key.lower() for word in ("password", "token", "secret")):
            found.append(node)
    walk("", yaml.safe_load(path.read_text()))
    return found
