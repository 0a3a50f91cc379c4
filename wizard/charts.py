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
    version: str        # pinned, tested version
    namespace: str      # where its release lives
    release: str        # the helm release name


# Pinned November 2026. BinderHub publishes development releases only: an exact --version is
# required (binderhub#1046). This one is the chart at the commit whose schema is in shared/upstream.
CHARTS: dict[str, Chart] = {chart.key: chart for chart in (
    Chart("openebs", "openebs", "https://openebs.github.io/openebs", "4.3.3", "openebs", "openebs"),
    Chart("ingress-nginx", "ingress-nginx", "https://kubernetes.github.io/ingress-nginx", "4.14.1",
          "ingress-nginx", "ingress-nginx"),
    Chart("traefik", "traefik", "https://traefik.github.io/charts", "37.4.0", "traefik", "traefik"),
    Chart("cert-manager", "cert-manager", "oci://quay.io/jetstack/charts/cert-manager", "v1.21.1",
          "cert-manager", "cert-manager"),
    Chart("binderhub", "binderhub", "https://hub.jupyter.org/helm-chart/",
          "1.0.0-0.dev.git.3959.hb9fad995", "", ""),
)}


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
