"""Reading this machine into `HostFacts`: procfs, /etc, PATH, the ports, containerd's version and
(once the node is set up) its taints. Kept apart from the checks in host.py, which are pure
functions of the facts.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from .host import ADMIN_CONF, REQUIRED_PORTS, HostFacts

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


def _containerd_version(commands: frozenset[str]) -> str | None:
    import subprocess  # only when reading the real machine: keeps export quick
    if "containerd" not in commands:
        return None
    try:
        run = subprocess.run(["containerd", "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return run.stdout.strip() if run.returncode == 0 else ""


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
        commands=commands, containerd_version=_containerd_version(commands),
        node_taints=_node_taints(commands) if real and initialised else None,
        user=user, home=home,
    )
    files = {}
    for template in read:
        path = facts.resolve(template)
        files[path] = _read(root / path.lstrip("/"))
    return replace(facts, files=files)
