"""The install engine's speed on the real control plane with the real charts, each figure
measured in this same run:

1. Wall time of a full `wizard install` with scripted readiness delays, against the critical path of
   those delays through the stage graph (target: at most 1.2x), and against their sum (the original
   notes' order: one step after the other). The delays are kwok's (a pod's ready-after, per workload,
   tests/realkube/pods.py) and the stand-in controllers' (tests/realkube/standins.py).
2. Time from a condition becoming true in the API server to the check noticing it (target: median
   < 0.5 s).
3. The checks' requests to the API per stage, so a polling regression shows.

Needs the control plane binaries (scripts/build-control-plane.sh; BINDERHUB_WIZARD_CONTROL_PLANE).
Run: PATH=.venv/bin:.tools/bin:$PATH .venv/bin/python bench/install_speed.py
"""

from __future__ import annotations

import datetime
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.install_harness import InstallCluster, make_real_install  # noqa: E402
from tests.realkube.controlplane import find_binaries  # noqa: E402

# Seconds until each object is ready after the chart creates it (scripted readiness).
# Of the order a small real cluster shows (image pulls, ACME registration), scaled down.
DELAYS = {"ingress-nginx-controller": 15.0, "cert-manager-webhook": 20.0, "letsencrypt-prod": 12.0,
          "hub": 18.0, "proxy": 10.0, "binder": 15.0, "hub-db-dir": 8.0, "ingress": 5.0, "certificate": 10.0}


def gates() -> dict[str, float]:
    """How long each stage's checks must wait, from the delays above."""
    d = DELAYS
    binderhub = max(d["hub"], d["proxy"], d["binder"], d["hub-db-dir"], d["ingress"])
    return {"preflight": 0, "storage": 0, "ingress": d["ingress-nginx-controller"],
            "cert-manager": d["cert-manager-webhook"], "issuer": d["letsencrypt-prod"], "registry": 0,
            "namespace": 0, "binderhub": binderhub,
            # Certificates are made when an Ingress is admitted, during the binderhub stage.
            "endpoints": max(0.0, d["ingress"] + d["certificate"] - binderhub)}


def critical_path(stages, gate: dict[str, float]) -> tuple[float, list[str]]:
    """Its length, and its stages (the last stage that ends last, back through the latest need)."""
    end: dict[str, float] = {}
    for stage in stages:  # plan order is topological
        end[stage.name] = max((end[n] for n in stage.needs), default=0.0) + gate[stage.name]
    needs = {stage.name: stage.needs for stage in stages}
    path = [max(end, key=end.get)]
    while needs[path[-1]]:
        path.append(max(needs[path[-1]], key=end.get))
    return max(end.values()), path[::-1]


def command_seconds(log: str, stages: list[str]) -> float:
    """Seconds the mutating commands (helm, kubectl apply) of `stages` took, from install.log's
    timestamps (whole seconds): time no scripted delay has started counting yet."""
    total, started = 0.0, {}
    for line in log.splitlines():
        match = re.match(r"(\S+ \S+) \[([a-z-]+)\] (\$ (?:helm|kubectl apply)|exit )", line)
        if not match or match.group(2) not in stages:
            continue
        moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
        if match.group(3).startswith("$"):
            started[match.group(2)] = moment
        elif match.group(2) in started:
            total += moment - started.pop(match.group(2))
    return total


def full_install(tmp: Path) -> tuple[float, float, float, dict[str, int], InstallCluster]:
    from wizard.install import render_into
    from wizard.stages import plan

    binaries, why = find_binaries()
    if binaries is None:
        raise SystemExit(why)
    d = DELAYS
    cluster = InstallCluster(
        binaries, tmp / "cluster", volume_delay=d["hub-db-dir"],
        pod_delays={name: d[name] for name in ("ingress-nginx-controller", "cert-manager-webhook", "hub", "proxy",
                                               "binder")},
        delays={"ClusterIssuer/letsencrypt-prod": d["letsencrypt-prod"], "Ingress": d["ingress"],
                "Certificate": d["certificate"]})
    install = make_real_install(tmp, cluster)
    try:
        started = time.monotonic()
        result = install.install("-v", wait=120)
        wall = time.monotonic() - started
        if result.returncode != 0:
            raise SystemExit(f"install failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
        stages = plan(render_into(install.directory, None, scratch=True).settings)
        gate = gates()
        wall_engine = _engine_seconds(result.stdout)
        length, on_path = critical_path(stages, gate)
        commands = command_seconds((install.directory / "install.log").read_text(), on_path)
        return wall, wall_engine, length, {
            "sum": sum(gate[s.name] for s in stages), "commands": commands, **_requests(result.stdout)}, cluster
    except BaseException:
        cluster.stop()
        raise
    finally:
        install.stop()


def _engine_seconds(stdout: str) -> float:
    for line in stdout.splitlines():
        if line.startswith("done in "):
            return float(line.split()[2])
    return float("nan")


def _requests(stdout: str) -> dict[str, int]:
    counts = {}
    for line in stdout.splitlines():
        if line.startswith("API requests by the checks:"):
            for item in line.split(":", 1)[1].split(","):
                name, _, number = item.strip().partition("=")
                if number:
                    counts[name] = int(number)
    return counts


def notice_latency(cluster: InstallCluster, rounds: int = 15) -> list[float]:
    """Flip a ClusterIssuer to Ready at a known moment while a check waits for it (the install left
    cert-manager's CRDs and its webhook stand-in in place; the stand-in controllers are stopped)."""
    from kubernetes import client

    from tests.realkube.standins import set_cluster_issuer_ready
    from wizard.kube import Cluster, Resource, is_true

    cluster.controllers.stop()
    custom = client.CustomObjectsApi(cluster.api)
    wizard_cluster = Cluster(str(cluster.kube.kubeconfig))
    latencies = []
    for i in range(rounds):
        name = f"issuer-{i}"
        custom.create_cluster_custom_object("cert-manager.io", "v1", "clusterissuers", {
            "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": name},
            "spec": {"acme": {"server": "https://acme.invalid", "privateKeySecretRef": {"name": "k"},
                              "solvers": []}}})
        flipped: list[float] = []

        def flip(name: str = name, flipped: list[float] = flipped) -> None:
            time.sleep(0.3)
            flipped.append(time.monotonic())
            set_cluster_issuer_ready(cluster.api, name)

        thread = threading.Thread(target=flip)
        thread.start()
        resource = Resource(f"ClusterIssuer {name}", wizard_cluster.custom.list_cluster_custom_object,
                            ("cert-manager.io", "v1", "clusterissuers"))
        wizard_cluster.wait_for(resource, name, lambda o: is_true(o, "Ready"), timeout=10)
        noticed = time.monotonic()
        thread.join()
        latencies.append(noticed - flipped[0])
    return latencies


def main() -> int:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        wall, engine, path, extra, cluster = full_install(tmp)
        try:
            latencies = notice_latency(cluster)
        finally:
            cluster.stop()
    total, commands = extra.pop("sum"), extra.pop("commands")
    ratio = wall / path
    print(f"scripted delays: critical path {path:.1f} s, one after another (the original notes' order) {total:.1f} s")
    print(f"wizard install wall time {wall:.1f} s (engine {engine:.0f} s; the rest is start-up and rendering)")
    print(f"ratio to the critical path: {ratio:.2f}x (target at most 1.2x): {'ok' if ratio <= 1.2 else 'OVER TARGET'}")
    print(f"ratio of the sequential order to the critical path: {total / path:.2f}x")
    print(f"of the wall time, the charts' helm installs and kubectl applies on the critical path took {commands:.0f} s "
          f"(real helm against the real API server: CRDs, hook Jobs) and start-up {wall - engine:.0f} s; "
          f"wall time / (critical path + those): {wall / (path + commands + wall - engine):.2f}x")
    median = statistics.median(latencies)
    print(f"condition true -> check noticed: median {median * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms over "
          f"{len(latencies)} rounds (target median < 500 ms): {'ok' if median < 0.5 else 'OVER TARGET'}")
    print("API requests by the checks, per stage: " + ", ".join(f"{k} {v}" for k, v in extra.items()))
    return 0 if ratio <= 1.2 and median < 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
