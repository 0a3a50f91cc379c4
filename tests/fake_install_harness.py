"""A whole install against the fake API server (tests/fakekube), for the tests that still need its
fault injection (HTTP 500s, a held request, a stopped API) until tests/realkube has a fault proxy:
answers pointing at stand-in charts for ingress-nginx, cert-manager and BinderHub (the fake cannot
run their hook Jobs), a fake that plays the controllers after chosen delays, and the HTTPS
stand-ins. tests/test_signals.py and tests/test_secret_masking.py still reach it through
tests.install_harness.make_install until they move. Everything else installs on the real control
plane (tests/install_harness.py). Goes with tests/fakekube."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO
from tests.install_harness import Install, standins, write_answers

CHARTS = REPO / "tests" / "charts"
STAND_INS = {"ingress-nginx": "ingress-nginx", "cert-manager": "cert-manager", "binderhub": "binderhub"}
# Charts whose real archive the fake can already take (shared/upstream/charts): the stand-ins of
# these used keys the real charts do not read.
REAL = ("localpv-provisioner", "traefik")


def chart_sources() -> dict[str, str]:
    """`charts:` for the answers: the stand-ins, and the real archives of REAL."""
    from tests.real_charts import archive

    return {**{key: str(CHARTS / chart) for key, chart in STAND_INS.items()},
            **{key: str(archive(key)) for key in REAL}}


DEFAULT_DELAYS = {"Deployment": 0.2, "DaemonSet": 0.2, "StatefulSet": 0.2, "PersistentVolumeClaim": 0.1,
                  "ClusterIssuer.cert-manager.io": 0.2, "Certificate.cert-manager.io": 0.2, "Ingress": 0.1}


def answers_for_fake(directory: Path, changes: dict | None = None) -> Path:
    return write_answers(directory, chart_sources(), changes, name="answers-fake.yaml")


def play_controllers(fake, delays: dict[str, float] | None = None) -> None:
    """Readiness after a delay per kind, and cert-manager's ingress-shim: an Ingress annotated
    with a cluster issuer gets a Certificate per TLS secret."""
    delays = {**DEFAULT_DELAYS, **(delays or {})}
    for kind, delay in delays.items():
        if kind != "Ingress":
            fake.controller.auto(kind, delay=delay)

    def admit(namespace: str, name: str) -> None:
        ingress = fake.get("ingresses", name, namespace)
        fake.set_ingress_ip(namespace, name, fake.controller.ingress_ip)
        issuer = (ingress["metadata"].get("annotations") or {}).get("cert-manager.io/cluster-issuer")
        for tls in (ingress.get("spec") or {}).get("tls") or []:
            if not issuer:
                continue
            certificate = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                           "metadata": {"name": tls["secretName"], "namespace": namespace},
                           "spec": {"secretName": tls["secretName"], "dnsNames": tls.get("hosts") or [],
                                    "issuerRef": {"name": issuer, "kind": "ClusterIssuer"}}}
            try:
                fake.create(certificate, namespace)
            except Exception:  # noqa: BLE001 - already there from an earlier run of the stage
                pass

    fake.controller.auto("Ingress", delay=delays["Ingress"], action=admit)


def make_install(tmp_path: Path, fake, env: dict, changes: dict | None = None,
                 delays: dict[str, float] | None = None) -> Install:
    fake.add_node("node-1", runtime="containerd://2.0.5")
    play_controllers(fake, delays)
    hub, ca, registry, bundle = standins(tmp_path)
    return Install(tmp_path / "setup", answers_for_fake(tmp_path, changes), env, hub, ca, registry, bundle)


make_fake_install = make_install
