"""A whole install against the fake cluster: answers pointing at the stand-in charts, a fake that
plays the controllers after chosen delays (cert-manager's ingress-shim included), and a local
HTTPS stand-in for the two hosts. Used by the end-to-end tests and the benchmark."""

from __future__ import annotations

import copy
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import EXAMPLE_ANSWERS, REPO
from tests.registry_standin import Behaviour, RegistryStandin, make_ca
from tests.tls_standin import HubStandin, TestCA

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
    raw = yaml.safe_load(EXAMPLE_ANSWERS.read_text())
    raw["charts"] = chart_sources()
    for section, values in (changes or {}).items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(copy.deepcopy(values))
        else:
            raw[section] = values
    path = directory / "answers-fake.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


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


@dataclass
class Install:
    directory: Path
    answers: Path
    env: dict
    hub: HubStandin
    ca: TestCA
    registry: RegistryStandin
    ca_bundle: Path

    def stop(self) -> None:
        self.hub.stop()
        self.registry.__exit__(None, None, None)

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "wizard", *args, "--dir", str(self.directory)],
                              env=self.env, capture_output=True, text=True, timeout=timeout, cwd=REPO)

    def cluster_options(self, wait: float = 30) -> list[str]:
        registry = [arg for host, target in self.registry.resolve.items() for arg in ("--resolve", f"{host}:{target}")]
        return [*self.hub.resolve_args(), *registry, "--ca-bundle", str(self.ca_bundle), "--timeout", str(wait)]

    def install(self, *extra: str, wait: float = 30) -> subprocess.CompletedProcess:
        return self.run("install", "--answers", str(self.answers), "--yes", *self.cluster_options(wait), *extra)

    def verify(self) -> subprocess.CompletedProcess:
        return self.run("verify", *self.cluster_options())


def make_install(tmp_path: Path, fake, env: dict, changes: dict | None = None,
                 delays: dict[str, float] | None = None) -> Install:
    fake.add_node("node-1", runtime="containerd://2.0.5")
    play_controllers(fake, delays)
    ca = TestCA(tmp_path)
    hub = HubStandin(ca, "binder.example.org", "hub.example.org",
                     "https://sso.example.org/realms/binder/protocol/openid-connect/auth", "binderhub").start()
    # The external registry of the example answers, with the example's credentials.
    registry_ca = make_ca(tmp_path / "registry-ca")
    registry = RegistryStandin(registry_ca, Behaviour(username="robot", password="example-registry-password"))
    registry.__enter__()
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(ca.ca_path.read_bytes() + registry_ca.ca_path.read_bytes())
    return Install(tmp_path / "setup", answers_for_fake(tmp_path, changes), env, hub, ca, registry, bundle)
