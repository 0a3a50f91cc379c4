"""Preflight checks of the machine itself, before it becomes a kubeadm node (as kubeadm's preflight).

Everything is read once into `HostFacts` by `gather_facts`; the checks are pure functions of those
facts, so tests craft facts instead of machines. Each check has a name that `run_host_checks(skip=)`
accepts, like `kubeadm init --ignore-preflight-errors=NAME`.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping

OK, WARNING, ERROR = "ok", "warning", "error"
SUPPORTED_OS = {"debian": ("12", "13"), "ubuntu": ("22.04", "24.04")}
SUPPORTED_TEXT = "Debian 12 or 13, Ubuntu 22.04 or 24.04"
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


@dataclass(frozen=True)
class HostCheck:
    name: str
    level: str          # ok, warning or error
    message: str
    next_step: str = ""

    @property
    def blocking(self) -> bool:
        return self.level == ERROR

    def __str__(self) -> str:
        tail = f" — {self.next_step}" if self.next_step else ""
        return f"[{self.level}] {self.name}: {self.message}{tail}"


@dataclass(frozen=True)
class HostFacts:
    """What the checks and the bootstrap plan look at. The defaults describe a healthy, fresh
    machine (so a test changes only what it is about); `gather_facts` reads the real one.
    Texts are file contents, None where the file is missing or unreadable."""

    euid: int = 0
    sudo: str | None = "/usr/bin/sudo"
    os_release: str | None = 'ID=debian\nVERSION_ID="13"\nPRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n'
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
    node_taints: frozenset[str] | None = None  # taint keys of the nodes; None: no cluster to ask
    user: str = "root"                       # who ran the wizard (SUDO_USER) and that user's home
    home: str = "/root"
    # Files the bootstrap guards compare against. Hidden from repr: admin.conf holds a client key.
    files: Mapping[str, str | None] = field(default_factory=dict, repr=False)

    def resolve(self, text: str) -> str:
        """Fill the invoking user's name and home into a path or argument ({user}, {home})."""
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


def check_public_ip(f: HostFacts) -> HostCheck:
    if not f.public_ip:
        return HostCheck("public-ip", OK, "no public IP given yet")
    try:
        wanted = ipaddress.ip_address(f.public_ip)
    except ValueError:
        return HostCheck("public-ip", ERROR, f"{f.public_ip} is not an IP address", "answer network.public_ip")
    mine = {ipaddress.ip_address(a) for a in f.addresses}
    if wanted in mine:
        return HostCheck("public-ip", OK, f"{f.public_ip} is an address of this machine")
    own = ", ".join(a for a in f.addresses if not ipaddress.ip_address(a).is_loopback) or "none found"
    return HostCheck("public-ip", WARNING, f"{f.public_ip} is not an address of this machine (it has {own}): "
                     "behind 1:1 NAT the ingress must use the node's own address",
                     "answer network.public_ip with this machine's private address and forward the public one "
                     "to it, unless another machine really holds that address")


CHECKS: dict[str, Callable[[HostFacts], HostCheck]] = {
    "root": check_root, "os": check_os, "swap": check_swap, "cgroup-v2": check_cgroup,
    "ports": check_ports, "br-netfilter": check_br_netfilter, "ip-forward": check_ip_forward,
    "cpus": check_cpus, "memory": check_memory, "disk": check_disk, "public-ip": check_public_ip,
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


# --- reading the real machine --------------------------------------------------------------------

def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def listening_ports(proc_net: Path = Path("/proc/net")) -> set[int]:
    """TCP ports in LISTEN state on any address, from /proc/net/tcp and tcp6 (no root needed)."""
    ports = set()
    for name in ("tcp", "tcp6"):
        for line in (_read(proc_net / name) or "").splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":          # 0A is TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _bind_fails(port: int) -> bool:
    """Binding the wildcard address fails while anything listens on the port, on any address."""
    import socket  # only when reading the real machine: keeps export quick
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
                sock.bind((address, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return True
            # EACCES below 1024 without root, EAFNOSUPPORT without IPv6: cannot tell this way.
    return False


def ports_in_use(ports: Iterable[int], proc_net: Path = Path("/proc/net")) -> frozenset[int]:
    listening = listening_ports(proc_net)
    return frozenset(p for p in ports if p in listening or _bind_fails(p))


def parse_fib_trie(text: str) -> set[str]:
    """Local IPv4 addresses: in /proc/net/fib_trie an address line is followed by `/32 host LOCAL`."""
    found, last = set(), None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif last and "/32 host LOCAL" in stripped:
            found.add(last)
    return found


def parse_if_inet6(text: str) -> set[str]:
    found = set()
    for line in text.splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 32:
            found.add(str(ipaddress.IPv6Address(int(fields[0], 16))))
    return found


def machine_addresses(proc_net: Path = Path("/proc/net")) -> tuple[str, ...]:
    """The machine's own addresses from procfs: no `ip` binary or netlink parsing needed, and
    readable without root."""
    found = parse_fib_trie(_read(proc_net / "fib_trie") or "") | parse_if_inet6(_read(proc_net / "if_inet6") or "")
    return tuple(sorted(found, key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a))))


def _br_netfilter_installed(root: Path, release: str) -> bool:
    base = root / "lib/modules" / release
    if "br_netfilter" in (_read(base / "modules.builtin") or ""):
        return True
    bridge = base / "kernel/net/bridge"
    return bridge.is_dir() and any(p.name.startswith("br_netfilter.ko") for p in bridge.iterdir())


def _invoking_user() -> tuple[str, str]:
    import pwd  # only when reading the real machine: keeps export quick
    name = os.environ.get("SUDO_USER") or pwd.getpwuid(os.geteuid()).pw_name
    try:
        return name, pwd.getpwnam(name).pw_dir
    except KeyError:
        return name, os.path.expanduser("~")


def _free_space(path: Path) -> int | None:
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _node_taints(commands: frozenset[str]) -> frozenset[str] | None:
    import subprocess  # only when reading the real machine: keeps export quick
    if "kubectl" not in commands:
        return None
    try:
        run = subprocess.run(["kubectl", f"--kubeconfig={ADMIN_CONF}", "get", "nodes", "-o",
                              "jsonpath={.items[*].spec.taints[*].key}"],
                             capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return frozenset(run.stdout.split()) if run.returncode == 0 else None


TOOLS = ("containerd", "kubeadm", "kubelet", "kubectl", "helm")


def gather_facts(public_ip: str | None = None, *, ports: Iterable[int] = REQUIRED_PORTS,
                 root: Path = Path("/"), read: Iterable[str] = (), tools: Iterable[str] = TOOLS) -> HostFacts:
    """Read this machine. `root` moves every file read (tests point it at a crafted tree; PATH,
    ports and the cluster are then not looked at); `read` and `tools` name the files and programs
    the bootstrap guards look at (paths may contain {home} and {user})."""
    root = Path(root)
    real = root == Path("/")
    user, home = _invoking_user() if real else ("root", "/root")
    proc = root / "proc"
    ports = tuple(ports)
    commands = frozenset(t for t in {*TOOLS, *tools} if shutil.which(t)) if real else frozenset()
    initialised = (root / ADMIN_CONF.lstrip("/")).exists()
    facts = HostFacts(
        euid=os.geteuid(), sudo=shutil.which("sudo"),
        os_release=_read(root / "etc/os-release"), swaps=_read(proc / "swaps"),
        cgroup_v2=(root / "sys/fs/cgroup/cgroup.controllers").exists(),
        ports=ports, ports_in_use=ports_in_use(ports, proc / "net") if real else frozenset(),
        modules=_read(proc / "modules"),
        br_netfilter_installed=_br_netfilter_installed(root, os.uname().release),
        bridge_sysctl=(proc / "sys/net/bridge").is_dir(), ip_forward=_read(proc / "sys/net/ipv4/ip_forward"),
        cpus=len(os.sched_getaffinity(0)) if real else (os.cpu_count() or 1),
        meminfo=_read(proc / "meminfo"), var_lib_free=_free_space(root / "var/lib"),
        addresses=machine_addresses(proc / "net"), public_ip=public_ip, initialised=initialised,
        commands=commands, node_taints=_node_taints(commands) if real and initialised else None,
        user=user, home=home,
    )
    files = {}
    for template in read:
        path = facts.resolve(template)
        files[path] = _read(root / path.lstrip("/"))
    return replace(facts, files=files)
