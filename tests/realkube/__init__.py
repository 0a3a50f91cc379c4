"""A real Kubernetes control plane for the tests, on loopback.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler at v1.37.2 and kwok v0.8.0, built
from source by scripts/build-control-plane.sh (tests/controlplane holds the Go modules). kwok plays
the kubelet: nodes, pod status, pod IPs. Nothing routes traffic (no kube-proxy, CNI or container
runtime), and no cert-manager, ingress controller or provisioner runs: standins.py writes what they
would, for the objects a test names.

- fixtures.py: `real_kube` (session), `real_kube_env`, `real_namespace`, `pod_behaviours`,
  `real_api_server` (another API server with other admission plugins).
- pods.py: per-workload pod readiness delays and faults (`PodBehaviours`, `pod_annotations`),
  more nodes (`add_node`).
- standins.py: ClusterIssuer and Certificate conditions, Ingress and Service status, a volume
  provisioner for one StorageClass.
- faultproxy.py: `FaultProxy` in front of an API server (fixtures `fault_proxy`, `fault_proxy_env`):
  injected error answers, slow or held requests, an API that stops and starts again.
- controlplane.py: `ControlPlane`, usable without pytest (the benchmark): start(), kubeconfig, stop().
"""
