"""The analyzer (wizard/analyzer.py) against fixture snapshots, one per failure it must name.

Each file in tests/data/diagnose/ is a Snapshot as `collect` makes it (the API objects as a server
sends them) holding the evidence a real cluster leaves for one failure: the kubelet's and
controllers' event reasons and messages (checked against their upstream source: the kubelet's
hostPath type check and image pull messages, the PV controller's FailedBinding, the eviction
manager's message, cert-manager's HTTP-01 self-check reason, Keycloak's invalidParameterMessage).
Each must give its own named cause and no other. What this cannot show: that a real cluster in
that failure looks exactly like the fixture; the clean state comes from a real install
(tests/test_diagnose_realkube.py).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from wizard.analyzer import RULES, Cause, analyze, format_report
from wizard.diagnose import Snapshot

FIXTURES = Path(__file__).parent / "data" / "diagnose"
CASES = sorted(FIXTURES.glob("*.json"))


def load(path: Path) -> tuple[list[str], Snapshot]:
    data = json.loads(path.read_text())
    return data["expect"], Snapshot.from_dict(data["snapshot"])


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_each_fixture_gives_its_named_cause_and_no_other(path):
    expect, snapshot = load(path)
    causes = analyze(snapshot)
    assert [c.rule for c in causes] == expect, causes
    for cause in causes:
        assert isinstance(cause, Cause) and cause.cause and cause.next_command and cause.evidence
    report = format_report(snapshot, causes)
    assert f"[{expect[0]}]" in report and causes[0].next_command in report


def test_every_required_failure_has_a_fixture():
    """The issue's list: each one has a fixture and a rule that names it."""
    required = {"dind-socket-missing", "image-pull-unauthorized", "acme-dns", "acme-port-80", "acme-hairpin-nat",
                "cert-manager-webhook-not-ready", "hub-db-claim-pending", "disk-pressure-evictions",
                "keycloak-redirect-uri", "registry-push-refused", "service-without-public-ip", "hub-crash-loop"}
    assert required <= {p.stem for p in CASES}
    assert len(RULES) >= 10


def test_the_evidence_quotes_what_the_cluster_said():
    _expect, snapshot = load(FIXTURES / "acme-hairpin-nat.json")
    (cause,) = analyze(snapshot)
    assert "i/o timeout" in cause.evidence and "hub.example.org" in cause.cause
    _expect, snapshot = load(FIXTURES / "hub-crash-loop.json")
    (cause,) = analyze(snapshot)
    assert "TraitError" in cause.evidence and "7 restarts" in cause.evidence
    _expect, snapshot = load(FIXTURES / "dind-socket-missing.json")
    (cause,) = analyze(snapshot)
    assert "node-1" in cause.cause and "/var/run/dind/docker.sock" in cause.cause


def test_the_same_objects_healthy_give_no_cause():
    """Each rule looks at the failure, not at the object: the hub pod Running and Ready, the claim
    Bound, the Service holding the public IP, the Challenge valid give nothing."""
    _e, hub = load(FIXTURES / "hub-crash-loop.json")
    status = hub.namespaces["binder"]["pods"][0]["status"]["containerStatuses"][0]
    status["state"] = {"running": {"startedAt": "2026-11-20T10:00:00Z"}}
    assert analyze(hub) == []
    _e, claim = load(FIXTURES / "hub-db-claim-pending.json")
    claim.namespaces["binder"]["persistentvolumeclaims"][0]["status"]["phase"] = "Bound"
    assert analyze(claim) == []
    _e, service = load(FIXTURES / "service-without-public-ip.json")
    service.namespaces["ingress-nginx"]["services"][0]["status"]["loadBalancer"] = {"ingress": [{"ip": "203.0.113.10"}]}
    assert analyze(service) == []
    _e, challenge = load(FIXTURES / "acme-port-80.json")
    challenge.cert_manager["challenges"][0]["status"] = {"presented": True, "processing": False, "state": "valid",
                                                        "reason": "Successfully authorized domain"}
    assert analyze(challenge) == []


def test_odd_data_never_crashes_the_analysis():
    """A malformed object (a list where a dict belongs) skips that rule; the others still run."""
    _e, snapshot = load(FIXTURES / "hub-crash-loop.json")
    broken = copy.deepcopy(snapshot)
    broken.cluster["nodes"] = [["not", "a", "node"]]
    broken.cert_manager["challenges"] = [{"status": "nonsense"}]
    assert [c.rule for c in analyze(broken)] == ["hub-crash-loop"]
    assert analyze(Snapshot()) == []
    assert "No known cause" in format_report(Snapshot(), [])
