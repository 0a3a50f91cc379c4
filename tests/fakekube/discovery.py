"""Documents the API server serves about itself: version, discovery, OpenAPI, and Table views.

Discovery is the legacy (unaggregated) kind: clients that ask for aggregated discovery get a plain
`application/json` answer and fall back to it, as they do against older servers.
"""

from __future__ import annotations

import hashlib
import json

from .defaults import age
from .resources import Kind, Registry

SERVER_VERSION = {
    "major": "1", "minor": "33", "gitVersion": "v1.33.2",
    "gitCommit": "a57b6f7709f6c2722b92f07b8b4c48210a51fc40", "gitTreeState": "clean",
    "buildDate": "2025-06-17T18:36:45Z", "goVersion": "go1.24.4", "compiler": "gc",
    "platform": "linux/amd64",
}

STATUS_VERBS = ["get", "patch", "update"]


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _resource(k: Kind) -> dict:
    r = {"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced, "kind": k.kind,
         "verbs": list(k.verbs)}
    if k.short_names:
        r["shortNames"] = list(k.short_names)
    if k.categories:
        r["categories"] = list(k.categories)
    return r


def resource_list(registry: Registry, group: str, version: str) -> dict | None:
    kinds = [k for k in registry.all() if (k.group, k.version) == (group, version)]
    if not kinds:
        return None
    resources = []
    for k in kinds:
        resources.append(_resource(k))
        resources += [{"name": f"{k.plural}/{sub}", "singularName": "", "namespaced": k.namespaced,
                       "kind": k.kind, "verbs": STATUS_VERBS}
                      for sub in k.subresources]
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": kinds[0].api_version, "resources": resources}


def _group(name: str, versions: list[str]) -> dict:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in registry.groups().items()]}


def api_group(registry: Registry, name: str) -> dict | None:
    versions = registry.groups().get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


# ---- OpenAPI ------------------------------------------------------------------------------
#
# kubectl (and helm, through kubectl's libraries) validates manifests by default. It first reads
# /openapi/v3 to learn whether the server validates fields itself: if the PATCH operation of the
# kind's path takes a `fieldValidation` query parameter, kubectl sends `fieldValidation=Strict`
# and skips client-side schema validation. So each group-version document needs only paths with
# that parameter and the kind's `x-kubernetes-group-version-kind`; no schemas. The PATCH operation
# deliberately declares no request body types, so `kubectl apply` computes its patches from its
# compiled-in types (strategic merge) or, for custom resources, as JSON merge patches.


# /openapi/v2 is what kubectl falls back to for kinds the v3 documents do not cover (a custom
# resource whose CRD is in the same `apply`): with no definitions, it skips validating them.
OPENAPI_V2 = {"swagger": "2.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
              "paths": {}, "definitions": {}}


def _gv_path(k: Kind) -> str:
    return f"apis/{k.group}/{k.version}" if k.group else "api/v1"


def openapi_v3_document(registry: Registry, gv_path: str) -> dict | None:
    kinds = [k for k in registry.all() if _gv_path(k) == gv_path]
    if not kinds:
        return None
    paths = {}
    for k in kinds:
        gvk = {"group": k.group, "version": k.version, "kind": k.kind}
        ns = "/namespaces/{namespace}" if k.namespaced else ""
        op = {"x-kubernetes-group-version-kind": gvk,
              "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
              "responses": {"200": {"description": "OK"}}}
        paths[f"/{gv_path}{ns}/{k.plural}/{{name}}"] = {"get": {"x-kubernetes-group-version-kind": gvk,
                                                                "responses": op["responses"]},
                                                        "put": op, "patch": op}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}


def openapi_v3_root(registry: Registry) -> dict:
    out = {}
    for gv_path in sorted({_gv_path(k) for k in registry.all()}):
        doc = json.dumps(openapi_v3_document(registry, gv_path), sort_keys=True).encode()
        # Clients cache each document by this hash; it changes when a CRD changes the group.
        digest = hashlib.sha512(doc).hexdigest()[:128]
        out[gv_path] = {"serverRelativeURL": f"/openapi/v3/{gv_path}?hash={digest}"}
    return {"paths": out}


# ---- Tables (`kubectl get` without -o asks for these) ---------------------------------------


def as_table(items: list[dict], list_meta: dict, include_object: str) -> dict:
    rows = []
    for obj in items:
        if include_object == "Object":
            embedded = obj
        else:
            embedded = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                        "metadata": obj["metadata"]}
        rows.append({"cells": [obj["metadata"]["name"], age(obj["metadata"].get("creationTimestamp"))],
                     "object": embedded})
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace."},
            {"name": "Age", "type": "string", "format": "", "priority": 0,
             "description": "CreationTimestamp is a timestamp representing the server time when "
                            "this object was created."},
        ],
        "rows": rows,
    }
