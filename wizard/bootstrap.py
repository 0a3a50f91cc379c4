"""Turning a bare Debian/Ubuntu machine into a kubeadm node, as data.

Every step is a list of exact commands (argv, so nothing goes through a shell unquoted) and a
guard that says when its work is already done. The same guard has two readings: `holds(facts)`
for the wizard, which plans over `HostFacts`, and `shell()` for `bootstrap-node.sh`, which checks
at run time. Keeping both next to each other is what keeps the script and the wizard in step.
Paths, arguments and file contents may name the invoking user as {user} and {home}, and the
system as {os} and {codename}: the wizard fills them from the facts, the script from $SUDO_USER
and /etc/os-release. The guards live in guards.py.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from typing import Iterable

from . import host, hostread
from .guards import (KUBECTL, All, AnyOf, Contains, ContainerdAtLeast, Exists, FSTAB, FstabSwap,  # noqa: F401
                     Guard, Matches, Not, OnPath, SameFile, SHELL_VARIABLES, SwapActive, Untainted,
                     fstab_swap_lines, printf, word)
from .host import ADMIN_CONF, CONTROL_PLANE_TAINT, HostFacts
from .kubeadmconfig import KUBEADM_CONFIG, kubeadm_config

# Pinned: the current minor with a published patch release. k8s.io/kubernetes v1.37.2 is served by
# the Go module proxy (tag v1.37.2); kubeadm's `kubernetesVersion` pins the control plane to it.
# pkgs.k8s.io has one apt repository per minor (apt.kubernetes.io is frozen), so kubelet, kubeadm
# and kubectl are that minor's newest patch (held); kubeadm accepts any kubelet of the same minor.
KUBERNETES_VERSION = "v1.37.2"
KUBERNETES_MINOR = KUBERNETES_VERSION.rsplit(".", 1)[0]
# The release asset, not Documentation/kube-flannel.yml from a branch, which can name other images.
# flannel-io/flannel release v0.28.9, 2026-08-07.
FLANNEL_VERSION = "v0.28.9"
FLANNEL_URL = "https://github.com/flannel-io/flannel/releases/download/{version}/kube-flannel.yml"
POD_NETWORK_CIDR = "10.244.0.0/16"   # flannel's default net-conf.json
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"   # written by both `kubeadm init` and `kubeadm join`
PRINT_JOIN_COMMAND = ("kubeadm", "token", "create", "--print-join-command")  # on the control plane

KEYRINGS = "/etc/apt/keyrings"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
# Where containerd 2.x (config version 3 and 4) keeps the runc options; 1.x named the plugin
# io.containerd.grpc.v1.cri.
CONTAINERD_RUNC_OPTIONS = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]"
MODULES_CONF, MODULES = "/etc/modules-load.d/k8s.conf", "overlay\nbr_netfilter\n"
SYSCTL_CONF = "/etc/sysctl.d/k8s.conf"
SYSCTLS = ("net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n"
           "net.ipv4.ip_forward = 1\n")
FSTAB_BACKUP = "/etc/fstab.binderhub-wizard.bak"
HELM_KEY_URL = "https://packages.buildkite.com/helm-linux/helm-debian/gpgkey"
# The helm project's apt repository since baltocdn.com was retired; it carries the newest helm.
HELM_SOURCE = f"deb [signed-by={KEYRINGS}/helm.gpg] https://packages.buildkite.com/helm-linux/helm-debian/any/ any main\n"
USER_KUBECONFIG = "{home}/.kube/config"
# containerd 2.x from Docker's apt repository (package containerd.io, which bundles runc and the
# systemd unit), where the distribution's is older: Debian 12/13 ship 1.6.20/1.7.24 and Ubuntu's
# release pockets 1.5/1.7. Docker Engine 29.0.0 (2025-11-10) moved it to containerd 2.1.5, the
# first 2.x containerd.io package; Docker's packages need containerd.io >= 2.1.5 since June 2026
# (docker/docker-ce-packaging#1334). The repository is signed, carries security updates, and covers
# Debian 12/13 and Ubuntu 22.04/24.04/26.04; its key is checked against Docker's published
# fingerprint before apt trusts it. A containerd 2.x already installed (Ubuntu 26.04 ships 2.2)
# is kept.
DOCKER_REPOSITORY = "https://download.docker.com/linux/{os}"
DOCKER_KEY = f"{KEYRINGS}/docker.asc"   # the name Docker's instructions use: an existing setup agrees
DOCKER_KEY_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
DOCKER_LIST = "/etc/apt/sources.list.d/docker.list"
DOCKER_SOURCE = f"deb [signed-by={DOCKER_KEY}] {DOCKER_REPOSITORY} {{codename}} stable\n"


# --- steps -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    stdin: str | None = None       # text fed in (the content `tee` writes)
    when: Guard | None = None      # run only when this holds when the step starts (one-time backups)
    quiet: bool = False            # its output only repeats what it wrote


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    commands: tuple[Command, ...]
    done: Guard | None     # skip the step when it holds; None: the commands converge by themselves
    verify: str


def _cmd(*argv: str, **kw) -> Command:
    return Command(tuple(argv), **kw)


def _write(path: str, text: str) -> Command:
    return _cmd("tee", path, stdin=text, quiet=True)


def _backup(path: str, backup: str) -> Command:
    """Keep the first version only: a re-run must not overwrite the original with our own edit."""
    return _cmd("cp", "-p", path, backup, when=All(Exists(path), Not(Exists(backup))))


def kubernetes_source(minor: str) -> str:
    return (f"deb [signed-by={KEYRINGS}/kubernetes-apt-keyring.gpg] "
            f"https://pkgs.k8s.io/core:/stable:/{minor}/deb/ /\n")


def _repository(name: str, key_url: str, list_path: str, source: str) -> tuple[Command, ...]:
    armored, keyring = f"{KEYRINGS}/{name}.asc", f"{KEYRINGS}/{name}.gpg"
    # curl | gpg would need a shell pipe; two argv commands and a temporary file do not.
    return (_cmd("install", "-d", "-m", "0755", KEYRINGS),
            _cmd("curl", "-fsSL", "-o", armored, key_url),
            _cmd("gpg", "--batch", "--yes", "--dearmor", "-o", keyring, armored),
            _cmd("rm", "-f", armored),
            _write(list_path, source),
            _cmd("apt-get", "update"))


# Drop any SystemdCgroup line, then set it right under the runc options table. containerd 1.7
# prints `SystemdCgroup = false` there, but 2.0/2.1 before their Aug 2025 fixes leave it out,
# so a plain s/false/true/ would silently do nothing on those.
SYSTEMD_CGROUP_SED = (r"/^[[:space:]]*SystemdCgroup[[:space:]]*=/d;"
                      r"s/^([[:space:]]*)(\[plugins\..*\.runtimes\.runc\.options\])[[:space:]]*$/\1\2\n\1  SystemdCgroup = true/")
# Comment out (never delete) uncommented lines of type swap: the same lines FstabSwap finds.
FSTAB_SWAP_SED = (r"/^[[:space:]]*#/!s/^([[:space:]]*[^[:space:]]+[[:space:]]+[^[:space:]]+"
                  r"[[:space:]]+swap([[:space:]]|$))/# \1/")


def _docker_repository() -> tuple[Command, ...]:
    """Docker's apt repository, its key installed only once it proves to be Docker's."""
    download = DOCKER_KEY + ".download"
    has_fingerprint = (f"gpg --batch --show-keys --with-colons {download} | grep -qx 'fpr:::::::::{DOCKER_KEY_FINGERPRINT}:'"
                       f" || {{ echo 'the key downloaded from {DOCKER_REPOSITORY}/gpg does not carry"
                       f" the fingerprint {DOCKER_KEY_FINGERPRINT} of the Docker release key' >&2; exit 1; }}")
    return (_cmd("install", "-d", "-m", "0755", KEYRINGS),
            _cmd("curl", "-fsSL", "-o", download, f"{DOCKER_REPOSITORY}/gpg"),
            _cmd("sh", "-c", has_fingerprint),
            # apt reads an armored key by its .asc name; 0644 so that apt's own user can read it.
            _cmd("install", "-m", "0644", download, DOCKER_KEY),
            _cmd("rm", "-f", download),
            _write(DOCKER_LIST, DOCKER_SOURCE),
            _cmd("apt-get", "update"))


def host_steps(kubernetes: str = KUBERNETES_VERSION) -> list[Step]:
    """What every node needs, control plane or worker: runtime, kernel, swap, kubelet/kubeadm."""
    k8s_list = "/etc/apt/sources.list.d/kubernetes.list"
    minor = kubernetes.rsplit(".", 1)[0]
    containerd_config_done = All(Contains(CONTAINERD_CONFIG, CONTAINERD_RUNC_OPTIONS),
                                 Contains(CONTAINERD_CONFIG, "SystemdCgroup = true"))
    return [
        Step("apt-prerequisites", "curl, gpg and CA certificates for the package repositories",
             (_cmd("apt-get", "update"),
              _cmd("apt-get", "install", "-y", "ca-certificates", "curl", "gpg")),
             All(OnPath("curl"), OnPath("gpg")), "curl and gpg are on PATH"),
        # The kubelet learns the cgroup driver from containerd >= 2.0; its own fallback is going.
        Step("containerd", "containerd 2.x (containerd.io from Docker's apt repository) unless one is installed",
             (*_docker_repository(), _cmd("apt-get", "install", "-y", "containerd.io")),
             ContainerdAtLeast(2), "containerd --version reports 2.0 or newer"),
        # The 2.x layout (config version 3, or 4 from containerd 2.3 on): containerd.io's own file
        # even disables the CRI plugin. A 1.x file (version 2) is rewritten too, its original kept.
        Step("containerd-config", "containerd with the systemd cgroup driver, as the kubelet expects",
             (_backup(CONTAINERD_CONFIG, CONTAINERD_CONFIG + ".binderhub-wizard.bak"),
              _cmd("install", "-d", "-m", "0755", "/etc/containerd"),
              # `containerd config default` writes to stdout only: the redirect needs a shell.
              _cmd("sh", "-c", f"containerd config default > {CONTAINERD_CONFIG}"),
              _cmd("sed", "-i", "-E", "-e", SYSTEMD_CGROUP_SED, CONTAINERD_CONFIG),
              _cmd("systemctl", "restart", "containerd"),
              _cmd("systemctl", "enable", "containerd")),
             containerd_config_done,
             f"{CONTAINERD_CONFIG} has the 2.x runc options with SystemdCgroup = true and containerd restarted"),
        Step("kernel", "kernel modules overlay and br_netfilter, bridge and forwarding sysctls (now and at boot)",
             (_write(MODULES_CONF, MODULES),
              _cmd("modprobe", "overlay"), _cmd("modprobe", "br_netfilter"),
              _write(SYSCTL_CONF, SYSCTLS),
              _cmd("sysctl", "--system")),
             All(Matches(MODULES_CONF, MODULES), Matches(SYSCTL_CONF, SYSCTLS),
                 Matches("/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n"),
                 Matches("/proc/sys/net/ipv4/ip_forward", "1\n")),
             "br_netfilter loaded; bridge-nf-call-iptables and ip_forward are 1"),
        Step("swap-off", "swap off now (the kubelet refuses to start with swap on)",
             (_cmd("swapoff", "-a"),),
             Not(SwapActive()), "/proc/swaps lists no swap area"),
        Step("swap-fstab", "swap off at boot: swap lines in /etc/fstab commented out, the original kept once",
             (_backup(FSTAB, FSTAB_BACKUP),
              _cmd("sed", "-i", "-E", "-e", FSTAB_SWAP_SED, FSTAB)),
             Not(FstabSwap()), "no uncommented swap line in /etc/fstab"),
        Step("kubernetes-repository", f"the pkgs.k8s.io apt repository for Kubernetes {minor}",
             _repository("kubernetes-apt-keyring",
                         f"https://pkgs.k8s.io/core:/stable:/{minor}/deb/Release.key",
                         k8s_list, kubernetes_source(minor)),
             All(Exists(f"{KEYRINGS}/kubernetes-apt-keyring.gpg"), Matches(k8s_list, kubernetes_source(minor))),
             f"{k8s_list} names {minor}"),
        Step("kubernetes-packages", "kubelet, kubeadm and kubectl",
             (_cmd("apt-get", "install", "-y", "kubelet", "kubeadm", "kubectl"),),
             All(OnPath("kubelet"), OnPath("kubeadm"), OnPath("kubectl")),
             "kubelet, kubeadm and kubectl are on PATH"),
        # apt-mark hold and enable say so and succeed when already done: no guard needed.
        Step("kubernetes-hold", "hold the Kubernetes packages (upgrades go through kubeadm) and enable the kubelet",
             (_cmd("apt-mark", "hold", "kubelet", "kubeadm", "kubectl"),
              _cmd("systemctl", "enable", "--now", "kubelet")),
             None, "apt-mark showhold lists kubelet, kubeadm, kubectl"),
    ]


def node_steps(public_ip: str | None = None, *, advertise_address: str | None = None,
               kubernetes: str = KUBERNETES_VERSION, flannel: str = FLANNEL_VERSION,
               single_node: bool = True) -> list[Step]:
    """The whole control-plane node: host steps, helm, the kubeadm configuration file, kubeadm
    init, kubeconfig, untaint, flannel. `advertise_address` only where it is an address of this
    machine (steps_for() decides from the facts)."""
    config = kubeadm_config(kubernetes, POD_NETWORK_CIDR, public_ip, advertise_address)
    config_dir = KUBEADM_CONFIG.rsplit("/", 1)[0]
    steps = host_steps(kubernetes) + [
        Step("helm", "helm from its apt repository (packages.buildkite.com, which replaced baltocdn.com)",
             (*_repository("helm", HELM_KEY_URL, "/etc/apt/sources.list.d/helm-stable-debian.list", HELM_SOURCE),
              _cmd("apt-get", "install", "-y", "helm")),
             OnPath("helm"), "helm is on PATH"),
        # Once the cluster exists the file records what it was made with: it is not rewritten.
        Step("kubeadm-config", f"the kubeadm configuration (Kubernetes {kubernetes}, pod network, "
             f"systemd cgroups, image garbage collection) in {KUBEADM_CONFIG}",
             (_cmd("install", "-d", "-m", "0755", config_dir), _write(KUBEADM_CONFIG, config)),
             AnyOf(Exists(ADMIN_CONF), Matches(KUBEADM_CONFIG, config)),
             f"{KUBEADM_CONFIG} holds the configuration (or the cluster already exists)"),
        Step("kubeadm-init", f"the control plane (kubeadm init --config {KUBEADM_CONFIG})",
             (_cmd("kubeadm", "init", f"--config={KUBEADM_CONFIG}"),),
             Exists(ADMIN_CONF), f"{ADMIN_CONF} exists; the API server answers"),
        Step("kubeconfig", "kubectl for {user} ({home}/.kube/config)",
             (_backup(USER_KUBECONFIG, USER_KUBECONFIG + ".binderhub-wizard.bak"),
              _cmd("install", "-d", "-m", "0700", "{home}/.kube"),
              _cmd("cp", ADMIN_CONF, USER_KUBECONFIG),
              _cmd("chmod", "0600", USER_KUBECONFIG),
              _cmd("chown", "{user}:", "{home}/.kube", USER_KUBECONFIG)),
             SameFile(ADMIN_CONF, USER_KUBECONFIG), f"{USER_KUBECONFIG} is a copy of {ADMIN_CONF}"),
    ]
    if single_node:
        steps.append(Step("untaint", "let workloads run on the control plane (one node)",
                          (_cmd(*KUBECTL, "taint", "nodes", "--all", f"{CONTROL_PLANE_TAINT}-"),),
                          Untainted(CONTROL_PLANE_TAINT), f"no node carries {CONTROL_PLANE_TAINT}"))
    steps += [
        # kubectl apply converges: re-applying the pinned manifest changes nothing, or upgrades it.
        Step("flannel", f"the pod network: flannel {flannel}",
             (_cmd(*KUBECTL, "apply", "-f", FLANNEL_URL.format(version=flannel)),),
             None, "DaemonSet kube-flannel-ds in namespace kube-flannel rolled out"),
        Step("node-ready", "wait until the node and CoreDNS are Ready",
             (_cmd(*KUBECTL, "-n", "kube-flannel", "rollout", "status", "daemonset/kube-flannel-ds", "--timeout=5m"),
              _cmd(*KUBECTL, "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=5m"),
              _cmd(*KUBECTL, "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=5m")),
             None, "node Ready, CoreDNS pods Ready"),
    ]
    return steps


def steps_for(facts: HostFacts) -> list[Step]:
    """The control-plane steps for this machine: advertised on the public IP when it is its own."""
    local = facts.public_ip if facts.public_ip and host.is_own_address(facts, facts.public_ip) else None
    return node_steps(facts.public_ip, advertise_address=local)


def parse_join_command(text: str) -> tuple[str, ...]:
    """The argv of what `kubeadm token create --print-join-command` printed. It holds a token:
    mask it in logs."""
    argv = tuple(shlex.split(text.strip()))
    if argv[:2] != ("kubeadm", "join") or "--token" not in argv or "--discovery-token-ca-cert-hash" not in argv:
        raise ValueError("not a kubeadm join command: run `kubeadm token create --print-join-command` "
                         "on the control plane and pass what it prints")
    return argv


def join_command_steps(join: str | None = None, *, kubernetes: str = KUBERNETES_VERSION) -> list[Step]:
    """A worker: the host steps, then (given what PRINT_JOIN_COMMAND printed on the control
    plane) `kubeadm join`, skipped once the kubelet has its kubeconfig."""
    steps = host_steps(kubernetes)
    if join:
        steps.append(Step("kubeadm-join", "join the cluster (kubeadm join)", (Command(parse_join_command(join)),),
                          Exists(KUBELET_CONF), f"{KUBELET_CONF} exists; the node is listed by kubectl get nodes"))
    return steps


# --- planning over facts -------------------------------------------------------------------------

def needed_paths(steps: Iterable[Step]) -> tuple[str, ...]:
    found = []
    for step in steps:
        for guard in (step.done, *(c.when for c in step.commands)):
            found += guard.paths() if guard else ()
    return tuple(dict.fromkeys(found))


def needed_tools(steps: Iterable[Step]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for s in steps if s.done for t in s.done.tools()))


def gather(public_ip: str | None = None, steps: list[Step] | None = None, **kwargs) -> HostFacts:
    """The real machine's facts, with every file and program the steps' guards look at."""
    steps = node_steps(public_ip) if steps is None else steps
    return hostread.gather_facts(public_ip, read=needed_paths(steps), tools=needed_tools(steps), **kwargs)


def plan(facts: HostFacts, steps: list[Step] | None = None) -> list[tuple[Step, list[Command]]]:
    """The steps still to do and, in each, the commands to run, placeholders filled in."""
    steps = steps_for(facts) if steps is None else steps
    todo = []
    for step in steps:
        if step.done is not None and step.done.holds(facts):
            continue
        commands = [Command(tuple(facts.resolve(a) for a in c.argv),
                            None if c.stdin is None else facts.resolve(c.stdin), None, c.quiet)
                    for c in step.commands if c.when is None or c.when.holds(facts)]
        todo.append((replace(step, title=facts.resolve(step.title), verify=facts.resolve(step.verify)), commands))
    return todo


def bootstrap_commands(facts: HostFacts, steps: list[Step] | None = None) -> list[tuple[str, list[str]]]:
    """The exact sequence (step name, argv) this machine still needs."""
    return [(step.name, list(c.argv)) for step, commands in plan(facts, steps) for c in commands]
