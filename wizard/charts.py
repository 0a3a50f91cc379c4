"""The Helm charts an install uses, their pinned versions, and where each can come from.

A chart source is a repository URL (classic `helm repo`), an `oci://` reference, or a local chart
directory or `.tgz` (air-gapped sites, and the tests). `versions:` in the answers overrides a pinned
version; `charts:` overrides the source.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    key: str            # the name used in `versions:` / `charts:` and in file names
    chart: str          # the chart's name inside its repository
    repo: str           # default source
    version: str        # pinned, tested version: a published one
    namespace: str      # where its release lives
    release: str        # the helm release name
    provenance: str     # where the pinned version comes from: tag or commit, and its date


# Pinned November 2026, each a published version whose archive the tests render
# (shared/upstream/charts/CHART-VERSION.tgz). BinderHub publishes development releases only: an
# exact --version is required (binderhub#1046), and chartpress stamps the last commit that touched
# the chart, so the version names af9ca8b1, not the later merge commit b9fad995 with the same tree.
CHARTS: dict[str, Chart] = {chart.key: chart for chart in (
    # Only the Local PV hostpath provisioner is used: its own chart, not the openebs umbrella chart
    # (which adds Mayastor, LVM, ZFS and a logging stack). Release and namespace "openebs" as
    # before, so an install made with the umbrella chart is upgraded in place (same object names).
    Chart("localpv-provisioner", "localpv-provisioner", "https://openebs.github.io/dynamic-localpv-provisioner",
          "4.0.0", "openebs", "openebs",
          "openebs/dynamic-localpv-provisioner tag localpv-provisioner-4.0.0, commit 2f165df9, 2024-03-22"),
    # Retired upstream: 4.14.5 (controller 1.14.5) is the last release, with the fixes for
    # CVE-2026-1580, CVE-2026-24512 (1.14.3) and CVE-2026-3288 (1.14.4).
    Chart("ingress-nginx", "ingress-nginx", "https://kubernetes.github.io/ingress-nginx", "4.14.5",
          "ingress-nginx", "ingress-nginx",
          "kubernetes/ingress-nginx tag helm-chart-4.14.5, commit 0a6fadc0, 2026-03-20"),
    Chart("traefik", "traefik", "https://traefik.github.io/charts", "41.3.0", "traefik", "traefik",
          "traefik/traefik-helm-chart tag v41.3.0, commit a8a66d00, 2026-08-21 (Traefik v3.7.11)"),
    Chart("cert-manager", "cert-manager", "oci://quay.io/jetstack/charts/cert-manager", "v1.21.1",
          "cert-manager", "cert-manager", "cert-manager/cert-manager tag v1.21.1, commit 24e33194, 2026-07-29"),
    Chart("binderhub", "binderhub", "https://hub.jupyter.org/helm-chart/",
          "1.0.0-0.dev.git.3958.haf9ca8b1", "", "",
          "jupyterhub/binderhub commit af9ca8b1, 2026-04-20 (chartpress); bundles the jupyterhub chart 4.2.0"),
)}

# Keys the answers once used, and the key that replaced each: refused with a message naming it.
# The umbrella chart's versions (4.3.3) and sources mean nothing for the standalone chart.
RENAMED_CHARTS = {"openebs": "localpv-provisioner"}


@dataclass(frozen=True)
class ChartRef:
    """What `helm upgrade --install` needs for one chart: the chart argument and its flags."""

    chart: Chart
    source: str
    version: str

    @property
    def kind(self) -> str:
        if self.source.startswith("oci://"):
            return "oci"
        if self.source.startswith(("https://", "http://")):
            return "repo"
        return "local"

    def helm_args(self) -> list[str]:
        """Arguments after the release name: the chart, then --repo/--version as the source needs."""
        if self.kind == "oci":
            return [self.source, "--version", self.version]
        if self.kind == "repo":
            return [self.chart.chart, "--repo", self.source, "--version", self.version]
        # A local directory or archive carries its own version; --version would be ignored or fail.
        return [self.source]


def chart_ref(key: str, versions: dict[str, str], sources: dict[str, str]) -> ChartRef:
    chart = CHARTS[key]
    return ChartRef(chart, sources.get(key, chart.repo), versions.get(key, chart.version))
