"""Every key the wizard sets in a chart's values is one the real chart reads.

helm ignores a values key that no template reads, and a schema without `additionalProperties:
false` lets it pass: a key the chart dropped (Traefik's `service.type` beside `service.spec`)
changes nothing, silently. So every leaf key the wizard renders, for every answers variant, must be
in the chart's values.yaml, or named by its values.schema.json (a property, a pattern, or inside a
map the schema declares free-form: `additionalProperties`, or an object naming no key), or read by
a template as `.Values.KEY`, or inside an empty map of values.yaml that a template reads whole
(`annotations: {}`). Keys under `jupyterhub:` are checked against the jupyterhub chart BinderHub bundles.

What this cannot prove: that a free-form map's contents mean something to whoever reads them (the
hub configuration test loads `hub.config` in the real hub for that), nor what a key does; the helm
template tests read the rendered objects back for the keys that matter most.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

import pytest
import yaml

from tests.real_charts import chart_files
from tests.rendering import render, yaml_of
from tests.variants import VARIANTS, variant
from wizard.render.infra import STORAGE_VALUES_FILE

# Key prefixes no values.yaml, schema or `.Values.` reference names, and why each is read anyway.
EXCEPTIONS = {
    ("traefik", "service.spec"): "Traefik's _service.tpl writes service.spec into the Service's spec "
                                 "verbatim (`with .service.spec | toYaml`); test_real_charts reads the "
                                 "public IP back from the rendered Service",
}


@dataclass(frozen=True)
class ChartReader:
    values: dict
    schema: dict
    templates: str


@cache
def reader(key: str, subchart: str = "") -> ChartReader:
    """What the chart (or its bundled subchart) reads: its defaults, its schema, and its templates
    and the files it ships for its pods (z2jh's jupyterhub_config.py, binderhub_config.py)."""
    files = chart_files(key)
    prefix = f"charts/{subchart}/" if subchart else ""
    templates = "\n".join(text for name, text in files.items()
                          if name.startswith((f"{prefix}templates/", f"{prefix}files/")))
    schema_text = files.get(f"{prefix}values.schema.json")
    return ChartReader(yaml.safe_load(files[f"{prefix}values.yaml"]) or {},
                       json.loads(schema_text) if schema_text else {}, templates)


def leaf_paths(values: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            paths += leaf_paths(value, (*prefix, str(key)))
        else:
            paths.append((*prefix, str(key)))
    return paths


def in_values(values: dict, path: tuple[str, ...]) -> bool:
    node = values
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _resolve(schema: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        target = schema
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def in_schema(schema: dict, path: tuple[str, ...]) -> bool:
    """The schema names every level of `path`, or declares a free-form map on the way."""
    node = _resolve(schema, schema)
    for part in path:
        if not isinstance(node, dict):
            return False
        properties = node.get("properties") or {}
        if part in properties:
            node = _resolve(schema, properties[part])
            continue
        pattern = next((sub for regex, sub in (node.get("patternProperties") or {}).items()
                        if re.search(regex, part)), None)
        if pattern is not None:
            node = _resolve(schema, pattern)
            continue
        extra = node.get("additionalProperties")
        if extra is True:
            return True
        if extra is None and node.get("type") == "object" and not properties and "patternProperties" not in node:
            return True  # an object schema that names no key: a free-form map (annotations, labels)
        if isinstance(extra, dict) and extra:
            node = _resolve(schema, extra)
            continue
        return False
    return True


def read_by_templates(templates: str, path: tuple[str, ...]) -> bool:
    """`.Values.KEY` in a template, or `get_config("KEY"` / `get_value("KEY"` in the Python the
    chart runs in its pods (the way z2jh and binderhub read their values there)."""
    dotted = re.escape(".".join(path))
    return re.search(rf"\.Values\.{dotted}(?![\w-])|get_(?:config|value)\(\s*[\"']{dotted}[\"']", templates) is not None


def unread(key: str, values: dict) -> list[str]:
    """The leaf keys of `values` that the pinned chart `key` does not read, except the named ones."""
    missing = []
    for path in leaf_paths(values):
        dotted = ".".join(path)
        if any(key == chart and (dotted == prefix or dotted.startswith(prefix + "."))
               for chart, prefix in EXCEPTIONS):
            continue
        chart = reader(key)
        if key == "binderhub" and path[0] == "jupyterhub":
            sub = reader(key, "jupyterhub")
            if in_values(chart.values, path) or _reads(sub, path[1:]):
                continue
        elif _reads(chart, path):
            continue
        missing.append(dotted)
    return missing


def in_free_map(chart: ChartReader, path: tuple[str, ...]) -> bool:
    """A key inside a map that values.yaml declares empty (`annotations: {}`) and a template reads
    whole (`range $k, $v := .Values.controller.service.annotations`): the chart passes on any key."""
    for end in range(1, len(path)):
        node = chart.values
        for part in path[:end]:
            node = node.get(part) if isinstance(node, dict) else None
        if node == {} and read_by_templates(chart.templates, path[:end]):
            return True
    return False


def _reads(chart: ChartReader, path: tuple[str, ...]) -> bool:
    return (in_values(chart.values, path) or in_schema(chart.schema, path) or read_by_templates(chart.templates, path)
            or in_free_map(chart, path))


def chart_values_of(files) -> dict[str, dict]:
    """Chart key -> the values the wizard renders for it (secret.yaml merged into binderhub's)."""
    out = {"binderhub": {**yaml_of(files, "config.yaml")}}
    secret = yaml_of(files, "secret.yaml")
    for section, value in secret.items():
        out["binderhub"].setdefault(section, {})
        out["binderhub"][section] = _merge(out["binderhub"][section], value)
    for key, name in (("traefik", "traefik-values.yaml"), ("ingress-nginx", "ingress-nginx-values.yaml"),
                      ("cert-manager", "cert-manager-values.yaml"), ("localpv-provisioner", STORAGE_VALUES_FILE)):
        if name in files:
            out[key] = yaml_of(files, name)
    return out


def _merge(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return {**a, **{k: _merge(a.get(k), v) for k, v in b.items()}}
    return b


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_key_the_wizard_sets_is_read_by_the_real_chart(name):
    for key, values in chart_values_of(render(variant(name))).items():
        assert unread(key, values) == [], f"{key}: keys the chart does not read"


def test_the_walk_finds_keys_the_chart_does_not_read():
    """Traefik's old Service keys, and a misspelt z2jh key, are reported: the check can fail."""
    assert unread("traefik", {"service": {"type": "ClusterIP", "externalIPs": ["203.0.113.10"]}}) == \
        ["service.type", "service.externalIPs"]
    assert unread("binderhub", {"jupyterhub": {"cull": {"timout": 60}}}) == ["jupyterhub.cull.timout"]
    assert unread("localpv-provisioner", {"localpv-provisioner": {"hostpathClass": {"isDefaultClass": True}}}) == \
        ["localpv-provisioner.hostpathClass.isDefaultClass"]
    # Beside the free-form annotation maps (read whole), a misspelt Service key is still reported.
    assert unread("ingress-nginx", {"controller": {"service": {"annotations": {"metallb.io/loadBalancerIPs": "x"},
                                                               "loadBalancerClas": "x"}}}) == \
        ["controller.service.loadBalancerClas"]
    assert unread("traefik", {"service": {"annotations": {"metallb.io/loadBalancerIPs": "x"}, "annotation": {"a": 1}}}) == \
        ["service.annotation.a"]


def test_every_exception_is_still_needed():
    """An exception whose keys the chart now reads (or the wizard no longer sets) goes."""
    used = set()
    for name in VARIANTS:
        for key, values in chart_values_of(render(variant(name))).items():
            for path in leaf_paths(values):
                for chart, prefix in EXCEPTIONS:
                    dotted = ".".join(path)
                    if key == chart and dotted.startswith(prefix + ".") and not _reads(reader(key), path):
                        used.add((chart, prefix))
    assert used == set(EXCEPTIONS)
