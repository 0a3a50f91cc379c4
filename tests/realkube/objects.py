"""Cluster objects several test modules need on the shared control plane, made and removed so that
the next module finds the cluster as it was: cert-manager's CRDs (the real ones, from
../shared/upstream) and namespaces whose names the wizard fixes (traefik, cert-manager, registry).
"""

from __future__ import annotations

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.conftest import upstream

from .waiting import wait_for

CERT_MANAGER_CRDS = ("clusterissuers", "certificates")


def _crd_name(plural: str) -> str:
    return f"{plural}.cert-manager.io"


def _absent(read) -> bool:
    try:
        read()
        return False
    except ApiException as error:
        if error.status == 404:
            return True
        raise


def ensure_cert_manager_crds(api: client.ApiClient) -> bool:
    """The ClusterIssuer and Certificate CRDs of the real cert-manager release, Established.
    True when this call created them (the caller then removes them)."""
    extensions = client.ApiextensionsV1Api(api)
    created = False
    for plural in CERT_MANAGER_CRDS:
        name = _crd_name(plural)
        wait_for(lambda: _absent(lambda: extensions.read_custom_resource_definition(name))
                 or not extensions.read_custom_resource_definition(name).metadata.deletion_timestamp,
                 f"CRD {name} to finish an earlier deletion", timeout=60)
        if _absent(lambda: extensions.read_custom_resource_definition(name)):
            extensions.create_custom_resource_definition(yaml.safe_load(upstream(f"cert-manager.io_{plural}.yaml").read_text()))
            created = True

    def established(name: str) -> bool:
        conditions = extensions.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)
    for plural in CERT_MANAGER_CRDS:
        wait_for(lambda: established(_crd_name(plural)), f"CRD {_crd_name(plural)} to be Established")
    return created


def remove_cert_manager_crds(api: client.ApiClient, wait: bool = True) -> None:
    """Delete them (and every object of their kinds); with `wait`, until they are gone."""
    extensions = client.ApiextensionsV1Api(api)
    for plural in CERT_MANAGER_CRDS:
        try:
            extensions.delete_custom_resource_definition(_crd_name(plural))
        except ApiException as error:
            if error.status != 404:
                raise
    for plural in CERT_MANAGER_CRDS if wait else ():
        wait_for(lambda: _absent(lambda: extensions.read_custom_resource_definition(_crd_name(plural))),
                 f"CRD {_crd_name(plural)} to be deleted", timeout=60)


def ensure_namespace(api: client.ApiClient, name: str) -> bool:
    """The namespace exists (after any earlier deletion of it finished). True when this call made it."""
    core = client.CoreV1Api(api)
    wait_for(lambda: _absent(lambda: core.read_namespace(name)) or core.read_namespace(name).status.phase == "Active",
             f"namespace {name} to finish an earlier deletion", timeout=60)
    if not _absent(lambda: core.read_namespace(name)):
        return False
    core.create_namespace({"metadata": {"name": name}})
    return True


def delete_namespace(api: client.ApiClient, name: str, wait: bool = True) -> None:
    """Delete it; with `wait`, until the namespace controller has emptied and removed it (so the
    next module can make it again)."""
    core = client.CoreV1Api(api)
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise
    if wait:
        wait_for(lambda: _absent(lambda: core.read_namespace(name)), f"namespace {name} to be deleted", timeout=60,
                 interval=0.2)
