"""The kubeadm configuration the control plane is made with, as data dumped to YAML.

`kubeadm init --config FILE` reads it instead of flags, so the file on the node says what the
cluster was made with and can be read back (and re-used) later. The KubeletConfiguration in it is
uploaded by `kubeadm init` to the `kubelet-config` ConfigMap, which every `kubeadm join` downloads:
workers get the same cgroup driver and image garbage collection without a file of their own.
"""

from __future__ import annotations

from . import yamlio

# The only kubeadm API version kubeadm 1.37 reads: v1beta3 is refused since 1.37 and v1 is still
# experimental (k8s.io/kubernetes v1.37.2, cmd/kubeadm/app/util/config/common.go).
KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
KUBEADM_CONFIG = "/etc/kubernetes/binderhub-wizard/kubeadm-config.yaml"
CONTAINERD_SOCKET = "unix:///var/run/containerd/containerd.sock"   # kubeadm's CRISocketContainerd
# A Binder node fills its disk with the images it builds and pulls. The kubelet's defaults (85/80)
# start collecting only where its imagefs eviction (below 15% free) is about to evict pods: start
# at 75% used, free down to 60%, and drop any image unused for two weeks whatever the disk says
# (imageMaximumGCAge, GA since 1.35).
IMAGE_GC = {"imageGCHighThresholdPercent": 75, "imageGCLowThresholdPercent": 60, "imageMaximumGCAge": "336h"}


def kubeadm_documents(kubernetes_version: str, pod_network_cidr: str, public_ip: str | None = None,
                      advertise_address: str | None = None) -> list[dict]:
    """InitConfiguration, ClusterConfiguration and KubeletConfiguration. `advertise_address` only
    where it is known to be an address of this machine: kubeadm otherwise picks the address of
    the default route's interface, which is right behind 1:1 NAT too."""
    init: dict = {"apiVersion": KUBEADM_API, "kind": "InitConfiguration",
                  "nodeRegistration": {"criSocket": CONTAINERD_SOCKET}}
    if advertise_address:
        init["localAPIEndpoint"] = {"advertiseAddress": advertise_address}
    cluster: dict = {"apiVersion": KUBEADM_API, "kind": "ClusterConfiguration",
                     "kubernetesVersion": kubernetes_version,
                     "networking": {"podSubnet": pod_network_cidr}}
    if public_ip:   # kubectl from outside through the public address must match the certificate
        cluster["apiServer"] = {"certSANs": [public_ip]}
    kubelet = {"apiVersion": KUBELET_API, "kind": "KubeletConfiguration", "cgroupDriver": "systemd", **IMAGE_GC}
    return [init, cluster, kubelet]


def kubeadm_config(kubernetes_version: str, pod_network_cidr: str, public_ip: str | None = None,
                   advertise_address: str | None = None) -> str:
    return yamlio.dumps_all(kubeadm_documents(kubernetes_version, pod_network_cidr, public_ip, advertise_address))
