"""Values and manifests for what BinderHub stands on: storage, ingress, certificates."""

from __future__ import annotations

from ..settings import Settings
from .values import ingress_class

LETSENCRYPT = {
    "letsencrypt-prod": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def cluster_issuers(s: Settings) -> list[dict]:
    """Both Let's Encrypt issuers (switching between them is then one annotation), plus a custom one."""
    servers = dict(LETSENCRYPT)
    if s.tls.acme_server not in ("production", "staging"):
        servers["acme-custom"] = s.tls.acme_server
    return [{
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": {"acme": {
            "server": server,
            "email": s.tls.acme_email,
            "privateKeySecretRef": {"name": f"{name}-account-key"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": ingress_class(s)}}}],
        }},
    } for name, server in servers.items()]


def cert_manager_values() -> dict:
    # crds.enabled replaces the deprecated installCRDs; keep them on uninstall so certificates survive.
    return {"crds": {"enabled": True, "keep": True}}


def openebs_values() -> dict:
    # Only the hostpath Local PV engine: the 4.x chart otherwise adds Mayastor (hugepages, NVMe-TCP,
    # three nodes), the LVM and ZFS engines and a logging stack a single node cannot carry.
    return {
        "engines": {
            "replicated": {"mayastor": {"enabled": False}},
            "local": {"lvm": {"enabled": False}, "zfs": {"enabled": False}},
        },
        "loki": {"enabled": False},
        "alloy": {"enabled": False},
        "localpv-provisioner": {"hostpathClass": {"enabled": True, "isDefaultClass": True}},
    }


def ingress_values(s: Settings) -> tuple[str, dict]:
    """(file name, values) for the chosen controller, reachable on the public IP.

    The address goes into the chart's values, not a `kubectl patch` as in the original notes, which
    the next `helm upgrade` would undo. ClusterIP plus externalIPs: bare metal has no load balancer.
    """
    ip = s.network.public_ip
    if s.ingress.controller == "ingress-nginx":
        return "ingress-nginx-values.yaml", {"controller": {
            "service": {"type": "ClusterIP", "externalIPs": [ip]},
            "ingressClassResource": {"name": "nginx", "enabled": True, "default": True},
            "publishService": {"enabled": True},
        }}
    values: dict = {
        "service": {"type": "ClusterIP", "externalIPs": [ip]},
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": "traefik"},
        "providers": {"kubernetesIngress": {"publishedService": {"enabled": True}}},
    }
    if s.registry.type == "in-cluster":
        # Traefik 3 stops reading a request after 60 s (respondingTimeouts.readTimeout, "the entire
        # request, including the body"), which cuts a large layer push to the in-cluster registry.
        # 0: no limit. Traefik sets no body-size limit of its own (only a buffering middleware would).
        values["ports"] = {"websecure": {"transport": {"respondingTimeouts": {"readTimeout": 0}}}}
    return "traefik-values.yaml", values
