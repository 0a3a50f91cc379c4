"""How the ingress controller's Service is reached on the public IP (`network.expose`).

- `load-balancer`: `type: LoadBalancer` with a `loadBalancerClass` of the wizard's own that no
  controller serves, so nothing else touches its status; the ingress stage writes the public IP into
  `status.loadBalancer.ingress` through the status subresource, and kube-proxy routes it. Kubernetes'
  advice for a fixed address without a load balancer, now that `spec.externalIPs` is deprecated
  (1.36, KEP-5707, CVE-2020-8554).
- `external-ips`: `type: ClusterIP` with `spec.externalIPs`, the original notes' way.
- `metallb`: a normal LoadBalancer Service that asks MetalLB for the public IP; an IPAddressPool
  holding that address alone (not handed to other Services) and an L2Advertisement for it.

Pure data and command lines: the stage, its check, install.sh and the review all read them here,
so they show the same commands.
"""

from __future__ import annotations

import ipaddress
import json
from shlex import quote

from ..settings import Settings

# A label-style name with a prefix of our own: no load-balancer implementation claims it.
LOAD_BALANCER_CLASS = "binderhub-wizard/static-address"
METALLB_NAMESPACE = "metallb-system"
METALLB_GROUP, METALLB_VERSION = "metallb.io", "v1beta1"
METALLB_CRDS = ("ipaddresspools.metallb.io", "l2advertisements.metallb.io")
METALLB_POOL = "binderhub-public-ip"
METALLB_FILE = "metallb-pool.yaml"
# MetalLB's annotation for the addresses a Service asks for (spec.loadBalancerIP is deprecated).
METALLB_IPS_ANNOTATION = "metallb.io/loadBalancerIPs"
# The controller's Deployment and Service of each ingress chart, by namespace and name.
INGRESS_DEPLOYMENTS = {"ingress-nginx": ("ingress-nginx", "ingress-nginx-controller"),
                       "traefik": ("traefik", "traefik")}


def service_spec(s: Settings) -> dict:
    """The Service fields each mode needs (the same for both charts; each puts them elsewhere)."""
    mode = s.network.expose
    if mode == "external-ips":
        return {"type": "ClusterIP", "externalIPs": [s.network.public_ip]}
    # No NodePorts: the address is routed to the Service by kube-proxy, not through a node port.
    spec: dict = {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False}
    if mode == "load-balancer":
        spec["loadBalancerClass"] = LOAD_BALANCER_CLASS
    return spec


def service_annotations(s: Settings) -> dict:
    if s.network.expose == "metallb":
        return {METALLB_IPS_ANNOTATION: s.network.public_ip}
    return {}


def metallb_manifests(s: Settings) -> list[dict]:
    """The pool of the public IP alone, handed out only to a Service that asks for it by address
    (autoAssign off), and its announcement on the node's network (layer 2, ARP/NDP)."""
    ip = ipaddress.ip_address(s.network.public_ip)
    cidr = f"{ip}/{ip.max_prefixlen}"
    meta = {"name": METALLB_POOL, "namespace": METALLB_NAMESPACE}
    api = f"{METALLB_GROUP}/{METALLB_VERSION}"
    return [{"apiVersion": api, "kind": "IPAddressPool", "metadata": meta,
             "spec": {"addresses": [cidr], "autoAssign": False}},
            {"apiVersion": api, "kind": "L2Advertisement", "metadata": dict(meta),
             "spec": {"ipAddressPools": [METALLB_POOL]}}]


def status_patch(s: Settings) -> list[str]:
    """kubectl arguments that write the public IP into the controller Service's status (mode
    load-balancer): through the status subresource, as a load-balancer controller would."""
    namespace, name = INGRESS_DEPLOYMENTS[s.ingress.controller]
    body = {"status": {"loadBalancer": {"ingress": [{"ip": s.network.public_ip}]}}}
    return ["-n", namespace, "patch", "service", name, "--subresource=status", "--type=merge",
            "-p", json.dumps(body, separators=(",", ":"))]


def status_patch_command(s: Settings) -> str:
    """The same as one shell command line (install.sh, the check's next step)."""
    return " ".join(quote(a) for a in ["kubectl", *status_patch(s)])


def external_addresses(service: dict | None) -> list[str]:
    """What `kubectl get svc` shows under EXTERNAL-IP: a LoadBalancer's status addresses, then
    spec.externalIPs (for any type)."""
    if not service:
        return []
    spec = service.get("spec") or {}
    found: list[str] = []
    if spec.get("type") == "LoadBalancer":
        for entry in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            found.append(entry.get("ip") or entry.get("hostname") or "")
    found += spec.get("externalIPs") or []
    return [a for a in found if a]
