"""Known breaking changes between chart versions the wizard has pinned, as data: what changed
upstream (a values key renamed or removed, a chart replaced, a database migration), and what the
wizard does about it. Shown before an upgrade (wizard/upgrade.py) for each release whose live chart
version is before the change and whose new one is at or after it.

Read from upstream (release notes and commits between the tags) for the pins before and after
November 2026: traefik 37.4.0 -> 41.3.0, ingress-nginx 4.14.1 -> 4.14.5, the openebs umbrella chart
4.3.3 -> localpv-provisioner 4.0.0, binderhub ...3959.hb9fad995 -> ...3958.haf9ca8b1 (z2jh 4.2.0
in both), cert-manager v1.21.1 (unchanged). Light: no kubernetes, no Textual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Breaking:
    chart: str          # the chart's name (as `helm get metadata` reports it) the change belongs to
    since: str          # the first version with the change
    what: str           # what changed upstream
    action: str         # what the wizard does about it
    source: str         # where upstream says so
    from_chart: str = ""  # a chart replaced by `chart` under the same release (any version of it)
    from_version: str = ""  # only from this exact version (a renumbering that goes down)

    def line(self) -> str:
        return f"{self.chart} {self.since}: {self.what} The wizard: {self.action} ({self.source})"


KNOWN: tuple[Breaking, ...] = (
    Breaking("traefik", "38.0.0",
             "providers.kubernetesGateway/knative labelSelector aligned with Traefik; the nginx provider's "
             "settings renamed and given their own RBAC.",
             "sets none of these keys: nothing to migrate.",
             "traefik-helm-chart 758d18e4, b7f9feb1 (v38.0.0)"),
    Breaking("traefik", "39.0.0",
             "ports.<name>.http options and the request-path security options restructured "
             "(Traefik 3.6.7+); rbac.secretResourceNames removed (39.0.3).",
             "sets only ports.websecure.transport.respondingTimeouts, which kept its place: nothing to migrate.",
             "traefik-helm-chart 266ff0e4, 86428ce4, 59790e18"),
    Breaking("traefik", "40.0.0",
             "service.type, service.loadBalancerIP, service.externalIPs, service.loadBalancerSourceRanges "
             "and service.loadBalancerClass removed: the whole Service spec moved under service.spec "
             "(type LoadBalancer by default there); only Traefik Proxy v3.6+ and Kubernetes 1.25+ supported; "
             "providers.kubernetesIngressNginx renamed kubernetesIngressNGINX.",
             "renders the Service only under service.spec (type, loadBalancerClass, "
             "allocateLoadBalancerNodePorts), which both versions read; the diff below shows the Service "
             "unchanged apart from the chart's labels.",
             "traefik-helm-chart b9f3ed34, 749971ca, 236d2b0e (v40.0.0)"),
    Breaking("traefik", "40.2.0",
             "the Gateway API CRDs are no longer shipped in crds/ (helm never deletes CRDs it installed).",
             "uses Ingress, not the Gateway API: nothing to do; CRDs installed before stay.",
             "traefik-helm-chart ab7dbb15 (v40.2.0)"),
    Breaking("traefik", "41.0.0",
             "logs.general.* renamed log.*, logs.access.* renamed accessLog.*; providers.file.content "
             "became an object.",
             "sets none of these keys: nothing to migrate (a hand-added logs: key must be renamed).",
             "traefik-helm-chart 16e26ce8, 93e90396 (v41.0.0)"),
    Breaking("localpv-provisioner", "4.0.0",
             "the openebs umbrella chart is replaced by its localpv-provisioner chart under the same "
             "release (openebs/openebs): its values move from localpv-provisioner.* to the top level, and "
             "the umbrella's other engines (Mayastor, LVM, ZFS, the logging stack) are removed with it.",
             "renders the standalone chart's top-level keys; the object diff below lists what the upgrade "
             "removes. Volumes of the hostpath class are kept (their data lives on the nodes).",
             "wizard/charts.py; openebs/dynamic-localpv-provisioner tag localpv-provisioner-4.0.0",
             from_chart="openebs"),
    Breaking("binderhub", "1.0.0-0.dev.git.3958.haf9ca8b1",
             "the version number goes down (3959 -> 3958): the earlier pin b9fad995 was never published; "
             "af9ca8b1 is the published version of the same chart tree (jupyterhub chart 4.2.0 in both, so "
             "no hub database migration).",
             "upgrades to it like any other version (helm allows a lower version); the hub database is "
             "backed up first all the same.",
             "wizard/charts.py; binderhub#1046", from_version="1.0.0-0.dev.git.3959.hb9fad995"),
)


def _key(version: str) -> tuple:
    """A sortable key for chart versions: v1.2.3, 4.0.0, 1.0.0-0.dev.git.3958.haf9ca8b1 (the dev
    build number counts: 1.0.0-0.dev.git.N sorts by N)."""
    text = version.lstrip("v")
    main, _, pre = text.partition("-")
    numbers = tuple(int(p) if p.isdigit() else 0 for p in main.split("."))
    build = re.search(r"git\.(\d+)", pre)
    # A prerelease sorts before its release; a dev build by its build number.
    return numbers + ((0, int(build.group(1))) if build else (0, 0) if pre else (1, 0))


def applicable(old_chart: str, old_version: str, new_chart: str, new_version: str) -> list[Breaking]:
    """The known changes an upgrade of one release crosses: from (old_chart, old_version) live to
    (new_chart, new_version). A release never installed crosses none."""
    if not old_chart or not old_version:
        return []
    found = []
    for change in KNOWN:
        if change.chart != new_chart:
            continue
        if change.from_chart or change.from_version:
            if (change.from_chart or new_chart) == old_chart and change.from_version in ("", old_version):
                found.append(change)
            continue
        if old_chart == new_chart and _key(old_version) < _key(change.since) <= _key(new_version):
            found.append(change)
    return found
