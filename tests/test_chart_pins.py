"""Every pinned chart is a published one: its archive is in shared/upstream/charts (built from the
upstream release tag), by file name and by the Chart.yaml inside it, and its provenance is beside
the pin. Old answers that name the replaced openebs chart are refused with the new key."""

from __future__ import annotations

import re
import tarfile

import pytest
import yaml

from tests.real_charts import archive
from tests.variants import variant
from wizard.charts import CHARTS, RENAMED_CHARTS
from wizard.settings import load_answers


@pytest.mark.parametrize("key", sorted(CHARTS))
def test_every_pinned_version_has_its_archive(key):
    chart = CHARTS[key]
    path = archive(key)
    assert path.name == f"{chart.chart}-{chart.version}.tgz"
    with tarfile.open(path) as tar:
        meta = yaml.safe_load(tar.extractfile(f"{chart.chart}/Chart.yaml").read())
    assert (meta["name"], meta["version"]) == (chart.chart, chart.version)


@pytest.mark.parametrize("key", sorted(CHARTS))
def test_every_pin_names_its_provenance(key):
    provenance = CHARTS[key].provenance
    assert re.search(r"\b(tag|commit) \S+", provenance), provenance
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", provenance), f"{key}: no date in {provenance!r}"


def test_the_pins_of_issue_9():
    """The versions the review of November 2026 found current (or last, for ingress-nginx)."""
    assert {key: chart.version for key, chart in CHARTS.items()} == {
        "binderhub": "1.0.0-0.dev.git.3958.haf9ca8b1", "traefik": "41.3.0", "ingress-nginx": "4.14.5",
        "cert-manager": "v1.21.1", "localpv-provisioner": "4.0.0"}
    assert CHARTS["localpv-provisioner"].repo == "https://openebs.github.io/dynamic-localpv-provisioner"


@pytest.mark.parametrize("section,value", [("versions", "4.3.3"), ("charts", "/srv/charts/openebs-4.3.3.tgz")])
def test_the_replaced_openebs_chart_key_is_refused_naming_the_new_one(section, value):
    raw = variant("production-keycloak-traefik")
    raw[section] = {"openebs": value}
    result = load_answers(raw)
    assert not result.ok
    [problem] = result.problems
    assert problem.path == f"{section}.openebs"
    assert f"{section}.{RENAMED_CHARTS['openebs']}" in str(problem) and "no longer installed" in str(problem)


def test_the_new_chart_key_is_accepted_and_storage_provisioner_openebs_still_means_local_pv():
    raw = variant("production-keycloak-traefik")
    raw["versions"] = {"localpv-provisioner": "4.0.0"}
    raw["storage"] = {"provisioner": "openebs"}
    result = load_answers(raw)
    assert result.ok, [str(p) for p in result.problems]
    assert result.settings.storage.storage_class == "openebs-hostpath"
