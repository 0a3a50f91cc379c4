"""Preflight checks of the machine itself, before it becomes a kubeadm node (as kubeadm's preflight).

Everything is read once into `HostFacts` by `hostread.gather_facts`; the checks are pure
functions of those facts, so tests craft facts instead of machines. Each check has a name that
`run_host_checks(skip=)` accepts, like `kubeadm init --ignore-preflight-errors=NAME`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from .finding import ERROR, OK, WARNING, Finding  # noqa: F401 - the levels, named once

SUPPORTED_OS = {"debian": ("12", "13"), "ubuntu": ("22.04", "24.04", "26.04")}
SUPPORTED_TEXT = "Debian 12 or 13, Ubuntu 22.04, 24.04 or 26.04"
# The kubelet asks the runtime for its cgroup driver (RuntimeConfig, KEP-4033); containerd answers
# from 2.0 on. Kubernetes 1.37.2 still falls back to its own setting for older runtimes and marks
# that fallback for removal in 1.38 (cmd/kubelet/app/server.go, CRILosingSupport "1.38.0").
MIN_CONTAINERD = (2, 0)
# API server, kubelet, and the ingress on the node's own address.
REQUIRED_PORTS = (6443, 10250, 80, 443)
KUBERNETES_PORTS = frozenset({6443, 10250})   # held by Kubernetes itself once the node is set up
MIN_CPUS = 2                      # kubeadm refuses fewer
MIN_MEMORY = 4 * 1024**3
# MemTotal leaves out what the kernel keeps for itself: a 4 GiB machine shows about 3.8 GiB.
MEMORY_TOLERANCE = 0.9
MIN_DISK = 20 * 1024**3           # images and container layers land under /var/lib
ADMIN_CONF = "/etc/kubernetes/admin.conf"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"


# A host check's result is a Finding (wizard/finding.py), as every other check's is.
HostCheck = Finding


@dataclass(frozen=True)
class HostFacts:
    """What the checks and the bootstrap plan look at. The defaults describe a healthy, fresh
    machine (so a test changes only what it is about); `gather_facts` reads the real one.
    Texts are file contents, None where the file is missing or unreadable."""

    euid: int = 0
    sudo: str | None = "/usr/bin/sudo"
    os_release: str | None = ('ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n'
                              'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n')
    swaps: str | None = "Filename\tType\tSize\tUsed\tPriority\n"
    cgroup_v2: bool = True
    ports: tuple[int, ...] = REQUIRED_PORTS
    ports_in_use: frozenset[int] = frozenset()
    modules: str | None = ""                 # /proc/modules
    br_netfilter_installed: bool = True      # a module file or built-in for the running kernel
    bridge_sysctl: bool = False              # /proc/sys/net/bridge exists (br_netfilter loaded)
    ip_forward: str | None = "0\n"
    cpus: int = 4
    meminfo: str | None = "MemTotal:       16318480 kB\n"
    var_lib_free: int | None = 100 * 1024**3
    addresses: tuple[str, ...] = ("127.0.0.1", "203.0.113.10")
    public_ip: str | None = "203.0.113.10"
    initialised: bool = False                # /etc/kubernetes/admin.conf exists
    commands: frozenset[str] = frozenset()   # programs found on PATH (containerd, kubeadm, ...)
    containerd_version: str | None = None    # what `containerd --version` printed; None: not installed
    node_taints: frozenset[str] | None = None  # taint keys of the nodes; None: no cluster to ask
    user: str = "root"                       # who ran the wizard (SUDO_USER) and that user's home
    home: str = "/root"
    # Files the bootstrap guards compare against. Hidden from repr: admin.conf holds a client key.
    files: Mapping[str, str | None] = field(default_factory=dict, repr=False)

    def resolve(self, text: str) -> str:
        """Fill the invoking user's name and home ({user}, {home}) and the system's ID and
        codename from /etc/os-release ({os}, {codename}) into a path, argument or file content."""
        if "{os}" in text or "{codename}" in text:
            info = parse_os_release(self.os_release or "")
            text = text.replace("{os}", info.get("ID", "")).replace("{codename}", os_codename(info))
        return text.replace("{home}", self.home).replace("{user}", self.user)

    def file(self, path: str) -> str | None:
        return self.files.get(self.resolve(path))


# --- the checks ----------------------------------------------------------------------------------

def check_root(f: HostFacts) -> HostCheck:
    if f.euid == 0:
        return HostCheck("root", OK, "running as root")
    if f.sudo:
        return HostCheck("root", OK, "not root, but sudo is available: the steps run through sudo")
    return HostCheck("root", ERROR, "not running as root and sudo is not installed",
                     "run the wizard as root, or install sudo and give this user the right to use it")


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def os_codename(info: Mapping[str, str]) -> str:
    """The release's codename as apt repositories name it (Docker's instructions read it this way)."""
    return info.get("UBUNTU_CODENAME") or info.get("VERSION_CODENAME", "")


def check_os(f: HostFacts) -> HostCheck:
    if f.os_release is None:
        return HostCheck("os", ERROR, "/etc/os-release is missing: cannot tell which system this is",
                         f"use {SUPPORTED_TEXT}")
    info = parse_os_release(f.os_release)
    name = info.get("PRETTY_NAME") or f"{info.get('ID', '?')} {info.get('VERSION_ID', '')}".strip()
    if info.get("VERSION_ID") in SUPPORTED_OS.get(info.get("ID", ""), ()):
        return HostCheck("os", OK, f"{name} is supported")
    return HostCheck("os", ERROR, f"{name} is not supported: the steps are written for {SUPPORTED_TEXT}",
                     f"use {SUPPORTED_TEXT}, or set the node up by hand and answer the rest of the wizard")


def active_swaps(swaps_text: str) -> list[str]:
    """Swap areas in use, from /proc/swaps (a header line, then one line per area)."""
    return [line.split()[0] for line in swaps_text.splitlines()[1:] if line.strip()]


def check_swap(f: HostFacts) -> HostCheck:
    if f.swaps is None:
        return HostCheck("swap", WARNING, "cannot read /proc/swaps", "check with `swapon --show`")
    areas = active_swaps(f.swaps)
    if not areas:
        return HostCheck("swap", OK, "no swap in use")
    return HostCheck("swap", WARNING, f"swap is on ({', '.join(areas)}): it will be switched off now and in "
                     "/etc/fstab (swap lines are commented out, the old file kept as /etc/fstab.binderhub-wizard.bak)",
                     "nothing to do; skip this check only if you switch swap off yourself")


def check_cgroup(f: HostFacts) -> HostCheck:
    if f.cgroup_v2:
        return HostCheck("cgroup-v2", OK, "cgroup v2 (unified hierarchy) is mounted")
    return HostCheck("cgroup-v2", ERROR, "/sys/fs/cgroup/cgroup.controllers is missing: this machine runs "
                     "cgroup v1, which current kubelets refuse",
                     "boot with the unified hierarchy (systemd.unified_cgroup_hierarchy=1), the default "
                     f"on {SUPPORTED_TEXT}")


def check_ports(f: HostFacts) -> HostCheck:
    busy = sorted(set(f.ports) & f.ports_in_use)
    if f.initialised:  # a re-run: the API server and kubelet hold their own ports
        busy = [p for p in busy if p not in KUBERNETES_PORTS]
    if not busy:
        return HostCheck("ports", OK, f"ports {', '.join(map(str, f.ports))} are free"
                         + (" (or held by the Kubernetes already set up here)" if f.initialised else ""))
    listed = ", ".join(map(str, busy))
    return HostCheck("ports", ERROR, f"port{'s' if len(busy) > 1 else ''} {listed} already in use",
                     f"stop what listens there (see `ss -ltnp 'sport = :{busy[0]}'`) and run again")


def check_br_netfilter(f: HostFacts) -> HostCheck:
    loaded = f.bridge_sysctl or any(line.split(" ", 1)[0] == "br_netfilter"
                                    for line in (f.modules or "").splitlines())
    if loaded:
        return HostCheck("br-netfilter", OK, "br_netfilter is loaded")
    if f.br_netfilter_installed:
        return HostCheck("br-netfilter", OK, "br_netfilter is installed; it will be loaded now and at boot")
    return HostCheck("br-netfilter", ERROR, "the br_netfilter module is neither loaded nor installed for the "
                     "running kernel: pod traffic across the bridge would bypass iptables",
                     "install the running kernel's modules (on Ubuntu linux-modules-extra-$(uname -r)), "
                     "or reboot into the kernel that was installed last")


def check_ip_forward(f: HostFacts) -> HostCheck:
    value = (f.ip_forward or "").strip()
    if f.ip_forward is None:
        return HostCheck("ip-forward", ERROR, "/proc/sys/net/ipv4/ip_forward cannot be read",
                         "check that this is a full machine or VM, not a container without its own network")
    if value == "1":
        return HostCheck("ip-forward", OK, "net.ipv4.ip_forward is 1")
    return HostCheck("ip-forward", WARNING, f"net.ipv4.ip_forward is {value or 'empty'}: it will be set to 1 "
                     "(now and in /etc/sysctl.d/k8s.conf)", "nothing to do")


def check_cpus(f: HostFacts) -> HostCheck:
    if f.cpus >= MIN_CPUS:
        return HostCheck("cpus", OK, f"{f.cpus} CPUs")
    return HostCheck("cpus", ERROR, f"{f.cpus} CPU: kubeadm needs at least {MIN_CPUS}",
                     "give the machine a second CPU")


def mem_total(meminfo: str) -> int | None:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            return int(parts[1]) * 1024 if len(parts) >= 2 and parts[1].isdigit() else None
    return None


def _gib(size: int) -> str:
    return f"{size / 1024**3:.1f} GiB"


def check_memory(f: HostFacts) -> HostCheck:
    total = mem_total(f.meminfo or "")
    if total is None:
        return HostCheck("memory", WARNING, "cannot read MemTotal from /proc/meminfo", "check with `free -h`")
    if total >= MIN_MEMORY * MEMORY_TOLERANCE:
        return HostCheck("memory", OK, f"{_gib(total)} of memory")
    return HostCheck("memory", WARNING, f"{_gib(total)} of memory: Kubernetes, the hub and a few user servers "
                     f"need at least {_gib(MIN_MEMORY)}", "give the machine more memory, or expect few users")


def check_disk(f: HostFacts) -> HostCheck:
    if f.var_lib_free is None:
        return HostCheck("disk", WARNING, "cannot tell the free space on /var/lib", "check with `df -h /var/lib`")
    if f.var_lib_free >= MIN_DISK:
        return HostCheck("disk", OK, f"{_gib(f.var_lib_free)} free on /var/lib")
    return HostCheck("disk", WARNING, f"{_gib(f.var_lib_free)} free on /var/lib: images, build caches and user "
                     f"volumes need at least {_gib(MIN_DISK)}", "free or add space under /var/lib")


def containerd_release(version_output: str) -> tuple[int, int] | None:
    """(major, minor) from `containerd --version`: `containerd PACKAGE VERSION REVISION`, where
    VERSION is `v2.4.2` upstream, `2.2.1` from containerd.io, `1.6.20~ds1` from Debian."""
    fields = version_output.split()
    found = re.match(r"v?(\d+)\.(\d+)", fields[2]) if len(fields) >= 3 else None
    return (int(found[1]), int(found[2])) if found else None


def check_containerd(f: HostFacts) -> HostCheck:
    if f.containerd_version is None:
        return HostCheck("containerd", OK, "containerd is not installed: containerd.io 2.x will be installed "
                         "from Docker's apt repository")
    shown = f.containerd_version.strip()
    release = containerd_release(shown)
    wanted = ".".join(map(str, MIN_CONTAINERD))
    if release is None:
        return HostCheck("containerd", WARNING, f"cannot read the containerd version from `{shown}`",
                         f"check `containerd --version`: Kubernetes needs containerd {wanted} or newer")
    if release >= MIN_CONTAINERD:
        return HostCheck("containerd", OK, f"containerd {release[0]}.{release[1]} is installed and is kept")
    return HostCheck("containerd", WARNING, f"containerd {release[0]}.{release[1]} is installed: the kubelet needs "
                     f"containerd {wanted} or newer to learn the cgroup driver from the runtime (its fallback is "
                     "being removed). It will be replaced by containerd.io 2.x from Docker's apt repository; apt "
                     "removes the distribution's containerd and runc and what depends on them (docker.io)",
                     "nothing to do if this machine runs no other containers; otherwise move them off first, "
                     f"or install containerd {wanted} or newer yourself (the bootstrap then keeps it)")


def is_own_address(f: HostFacts, address: str) -> bool:
    """Whether one of this machine's interfaces holds `address` (not only a NAT in front of it)."""
    try:
        wanted = ipaddress.ip_address(address)
    except ValueError:
        return False
    return wanted in {ipaddress.ip_address(a) for a in f.addresses}


def check_public_ip(f: HostFacts) -> HostCheck:
    if not f.public_ip:
        return HostCheck("public-ip", OK, "no public IP given yet")
    try:
        ipaddress.ip_address(f.public_ip)
    except ValueError:
        return HostCheck("public-ip", ERROR, f"{f.public_ip} is not an IP address", "answer network.public_ip")
    if is_own_address(f, f.public_ip):
        return HostCheck("public-ip", OK, f"{f.public_ip} is an address of this machine")
    own = ", ".join(a for a in f.addresses if not ipaddress.ip_address(a).is_loopback) or "none found"
    return HostCheck("public-ip", WARNING, f"{f.public_ip} is not an address of this machine (it has {own}): "
                     "behind 1:1 NAT the ingress must use the node's own address",
                     "answer network.public_ip with this machine's private address and forward the public one "
                     "to it, unless another machine really holds that address")


CHECKS: dict[str, Callable[[HostFacts], HostCheck]] = {
    "root": check_root, "os": check_os, "swap": check_swap, "cgroup-v2": check_cgroup,
    "ports": check_ports, "br-netfilter": check_br_netfilter, "ip-forward": check_ip_forward,
    "cpus": check_cpus, "memory": check_memory, "disk": check_disk, "containerd": check_containerd,
    "public-ip": check_public_ip,
}


def run_host_checks(facts: HostFacts, skip: Iterable[str] = ()) -> list[HostCheck]:
    """Every check, in order. A skipped name (or "all") turns that check's error into a warning,
    as kubeadm's --ignore-preflight-errors does; an unknown name is refused, so a typo never
    silently lets a failing check through."""
    skipped = {name.strip().lower() for name in skip if name.strip()}
    unknown = skipped - set(CHECKS) - {"all"}
    if unknown:
        raise ValueError(f"unknown host check {', '.join(sorted(unknown))}; known: {', '.join(CHECKS)}, all")
    results = []
    for name, check in CHECKS.items():
        result = check(facts)
        if result.blocking and (name in skipped or "all" in skipped):
            result = HostCheck(name, WARNING, f"ignored as asked: {result.message}", result.next_step)
        results.append(result)
    return results
