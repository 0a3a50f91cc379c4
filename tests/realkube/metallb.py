"""A stand-in for MetalLB's controller (the part that assigns addresses), for tests that run the
ingress stage with network.expose metallb against the real control plane.

What it does, as MetalLB's controller does for it: for every Service of type LoadBalancer without
a loadBalancerClass, it reads the IPAddressPools (metallb.io/v1beta1, through the real API server
and the CRDs in metallb-crds.yaml), takes the addresses the Service asks for in the
`metallb.io/loadBalancerIPs` annotation, or else the first free address of a pool with autoAssign
on, and writes it into the Service's status.loadBalancer through the status subresource. An asked
address outside every pool, or an autoAssign-off pool nobody asks for, gets nothing, as with MetalLB.

What it proves: that the wizard's pool and Service fit together the way MetalLB reads them (the
annotation names an address in a pool; the Service has no class MetalLB would skip), and that the
ingress check waits for the assignment and reads it. What it cannot prove: anything MetalLB's
speaker does (ARP/NDP announcements from the L2Advertisement, which is only recorded here), MetalLB's
webhooks (overlapping pools), address ranges written as `A-B`, or that traffic reaches the node.
"""

from __future__ import annotations

import ipaddress

from kubernetes import client

from .standins import Polling

GROUP, VERSION = "metallb.io", "v1beta1"
ANNOTATION = "metallb.io/loadBalancerIPs"


def _in_pool(ip: str, pool: dict) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in pool["spec"].get("addresses") or []
               if "-" not in cidr)


class MetalLBStandin(Polling):
    """Use as a context manager; it polls every 0.2 s in a thread. `assigned` lists
    (namespace/name, address) in order."""

    def __init__(self, api: client.ApiClient):
        super().__init__("metallb-standin")
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.assigned: list[tuple[str, str]] = []

    def poll(self) -> None:
        self.assign_pending()

    def pools(self) -> list[dict]:
        return self.custom.list_cluster_custom_object(GROUP, VERSION, "ipaddresspools").get("items") or []

    def advertised_pools(self) -> set[str]:
        """Pools an L2Advertisement names (an empty list: all of them), as the speaker would announce."""
        pools = {p["metadata"]["name"] for p in self.pools()}
        named: set[str] = set()
        for ad in self.custom.list_cluster_custom_object(GROUP, VERSION, "l2advertisements").get("items") or []:
            named |= set((ad.get("spec") or {}).get("ipAddressPools") or pools)
        return named

    def assign_pending(self) -> None:
        services = self.core.list_service_for_all_namespaces().items
        used = {i.ip for s in services for i in ((s.status.load_balancer or client.V1LoadBalancerStatus()).ingress or [])}
        for svc in services:
            if svc.spec.type != "LoadBalancer" or svc.spec.load_balancer_class:
                continue
            if (svc.status.load_balancer and svc.status.load_balancer.ingress):
                continue
            ip = self._choose(svc, used)
            if ip is None:
                continue
            body = {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}}
            self.core.patch_namespaced_service_status(svc.metadata.name, svc.metadata.namespace, body)
            used.add(ip)
            self.assigned.append((f"{svc.metadata.namespace}/{svc.metadata.name}", ip))

    def _choose(self, svc, used: set[str]) -> str | None:
        pools = self.pools()
        asked = ((svc.metadata.annotations or {}).get(ANNOTATION) or "").split(",")
        asked = [a.strip() for a in asked if a.strip()]
        if asked:
            ip = asked[0]
            return ip if ip not in used and any(_in_pool(ip, p) for p in pools) else None
        for pool in pools:
            if not pool["spec"].get("autoAssign", True):
                continue
            for cidr in pool["spec"].get("addresses") or []:
                if "-" in cidr:
                    continue
                for host in ipaddress.ip_network(cidr, strict=False):
                    if str(host) not in used:
                        return str(host)
        return None
