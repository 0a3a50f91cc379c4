"""Values and manifests for what BinderHub stands on: storage, ingress, certificates."""

from __future__ import annotations

from ..settings import Settings
from .expose import INGRESS_DEPLOYMENTS, service_annotations, service_spec
from .values import ingress_class

LETSENCRYPT = {
    "letsencrypt-prod": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# The storage the wizard installs: the OpenEBS Local PV hostpath chart and the class it makes.
STORAGE_CHART = "localpv-provisioner"
STORAGE_VALUES_FILE = "localpv-provisioner-values.yaml"
STORAGE_CLASS = "openebs-hostpath"
LOCALPV_DEPLOYMENT = "openebs-localpv-provisioner"  # the chart's fullname for release "openebs"


def admission_check_ingress() -> dict:
    """An Ingress for a server-side dry run: ingress-nginx's validating webhook (failurePolicy Fail)
    refuses every Ingress until it answers. Sent to the controller's own namespace, which exists by
    then (the webhook checks Ingresses in every namespace)."""
    namespace, ingress_class = INGRESS_DEPLOYMENTS["ingress-nginx"][0], "nginx"
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "binderhub-wizard-admission-check", "namespace": namespace},
            "spec": {"ingressClassName": ingress_class, "rules": [{
                "host": "admission-check.invalid",
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                    "service": {"name": "binderhub-wizard-admission-check", "port": {"number": 80}}}}]}}]}}


def api_check_certificate() -> dict:
    """What `cmctl check api` creates with a dry run: accepted once cert-manager's webhook answers
    with its CA injected, which its Deployment being available does not mean."""
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "binderhub-wizard-api-check", "namespace": "cert-manager"},
            "spec": {"secretName": "binderhub-wizard-api-check", "dnsNames": ["api-check.invalid"],
                     "issuerRef": {"name": "binderhub-wizard-api-check", "kind": "Issuer"}}}


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


def localpv_values() -> dict:
    """The standalone OpenEBS Local PV hostpath chart: its StorageClass, made the default (the
    chart's default is false), so the hub database and user volumes land on it without naming it.
    The chart pings OpenEBS's usage analytics every 24 h unless told not to: a site's storage
    provisioner has no business reporting home, so that is off."""
    return {"hostpathClass": {"enabled": True, "name": STORAGE_CLASS, "isDefaultClass": True},
            "analytics": {"enabled": False}}


def ingress_values(s: Settings) -> tuple[str, dict]:
    """(file name, values) for the chosen controller, reachable on the public IP.

    The address goes into the chart's values, not a `kubectl patch` as in the original notes, which
    the next `helm upgrade` would undo. Each controller's chart takes its Service under its own keys:
    one function per controller builds them, so another way to reach the public IP is one more case.
    """
    if s.ingress.controller == "ingress-nginx":
        return "ingress-nginx-values.yaml", {"controller": {
            "service": nginx_service(s),
            "ingressClassResource": {"name": "nginx", "enabled": True, "default": True},
            "publishService": {"enabled": True},
        }}
    values: dict = {
        "service": traefik_service(s),
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": "traefik"},
        "providers": {"kubernetesIngress": {"publishedService": {"enabled": True}}},
    }
    if s.registry.type == "in-cluster":
        # Traefik 3 stops reading a request after 60 s (respondingTimeouts.readTimeout, "the entire
        # request, including the body"), which cuts a large layer push to the in-cluster registry.
        # 0: no limit. Traefik sets no body-size limit of its own (only a buffering middleware would).
        values["ports"] = {"websecure": {"transport": {"respondingTimeouts": {"readTimeout": 0}}}}
    return "traefik-values.yaml", values


def nginx_service(s: Settings) -> dict:
    # ingress-nginx reads controller.service.{type,externalIPs,loadBalancerClass,annotations} and
    # allocateLoadBalancerNodePorts (when set at all) and writes them into the Service.
    service = dict(service_spec(s))
    annotations = service_annotations(s)
    return {**service, "annotations": annotations} if annotations else service


def traefik_service(s: Settings) -> dict:
    # Traefik's chart (41.x) copies service.spec into the Service verbatim; a `service.type`
    # or `service.externalIPs` beside it is read by nothing, and the public IP would be lost.
    annotations = service_annotations(s)
    return {"spec": service_spec(s), **({"annotations": annotations} if annotations else {})}
