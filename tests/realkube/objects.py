"""Cluster objects several test modules need on the shared control plane: cert-manager's CRDs
(the real chart's, kept for the session: fixture cert_manager_crds) and namespaces whose names the
wizard fixes (traefik, cert-manager, registry), made and removed so that the next module finds the
cluster as it was.
"""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.conftest import upstream

from .waiting import wait_for

CERT_MANAGER_CRDS = ("clusterissuers", "certificates")
CERT_MANAGER_CHART = "charts/cert-manager-v1.21.1.tgz"


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


def ensure_cert_manager_crds(api: client.ApiClient, env: dict[str, str]) -> bool:
    """The ClusterIssuer and Certificate CRDs of the real cert-manager chart, Established. Applied
    the way tests/test_realkube.py does (helm template, kubectl apply --server-side, with `env`
    from real_kube_env), so that its apply and this one share a field manager and never conflict.
    True when this call installed them."""
    import shutil
    import subprocess

    extensions = client.ApiextensionsV1Api(api)
    names = [_crd_name(plural) for plural in CERT_MANAGER_CRDS]
    for name in names:
        wait_for(lambda: _absent(lambda: extensions.read_custom_resource_definition(name))
                 or not extensions.read_custom_resource_definition(name).metadata.deletion_timestamp,
                 f"CRD {name} to finish an earlier deletion", timeout=60)
    missing = [name for name in names if _absent(lambda: extensions.read_custom_resource_definition(name))]
    if missing:
        helm, kubectl = (shutil.which(tool, path=env["PATH"]) for tool in ("helm", "kubectl"))
        templates = [f"templates/crd-cert-manager.io_{plural}.yaml" for plural in CERT_MANAGER_CRDS]
        rendered = subprocess.run([helm, "template", "cert-manager", str(upstream(CERT_MANAGER_CHART)),
                                   "--set", "crds.enabled=true", *(a for t in templates for a in ("--show-only", t))],
                                  env=env, capture_output=True, text=True, timeout=60, check=True).stdout
        applied = subprocess.run([kubectl, "apply", "--server-side", "-f", "-"], input=rendered, env=env,
                                 capture_output=True, text=True, timeout=60)
        assert applied.returncode == 0, applied.stderr

    def established(name: str) -> bool:
        conditions = extensions.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)
    for name in names:
        wait_for(lambda: established(name), f"CRD {name} to be Established")
    return bool(missing)


def _listable(api: client.ApiClient, plural: str) -> bool:
    try:
        client.CustomObjectsApi(api).list_cluster_custom_object("cert-manager.io", "v1", plural, limit=1)
        return True
    except ApiException as error:
        if error.status in (404, 429, 503):  # gone, or its storage still (re)initializing
            return error.status == 404
        raise


def remove_cert_manager_crds(api: client.ApiClient, wait: bool = True) -> None:
    """Delete them (and every object of their kinds); with `wait`, until they are gone.

    Deleted only once their kinds can be listed: the API server's CRD finalizer lists them too, and
    when their storage is still initializing it fails and backs off exponentially, per CRD and for
    the whole session (seen: a deletion not done after 60 s). So the tests share the CRDs (fixture
    cert_manager_crds) and delete them as rarely as they can."""
    extensions = client.ApiextensionsV1Api(api)
    for plural in CERT_MANAGER_CRDS:
        wait_for(lambda: _listable(api, plural), f"the {plural} storage to be ready", timeout=30)
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
