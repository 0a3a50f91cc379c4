"""Turning a bare Debian/Ubuntu machine into a kubeadm node, as data.

Every step is a list of exact commands (argv, so nothing goes through a shell unquoted) and a
guard that says when its work is already done. The same guard has two readings: `holds(facts)`
for the wizard, which plans over `HostFacts`, and `shell()` for `bootstrap-node.sh`, which checks
at run time. Keeping both next to each other is what keeps the script and the wizard in step.
Paths may name the invoking user as {user} and {home}: the wizard fills them from the facts,
the script from $SUDO_USER.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from typing import Iterable

from . import host
from .host import ADMIN_CONF, CONTROL_PLANE_TAINT, HostFacts

# Pinned: each pkgs.k8s.io apt repository carries one minor version (apt.kubernetes.io is frozen).
# 1.36 has had several patch releases (1.36.4 in September 2026); the BinderHub chart needs >= 1.28.
KUBERNETES_MINOR = "v1.36"
# The release asset, not Documentation/kube-flannel.yml from a branch, which can name other images.
FLANNEL_VERSION = "v0.28.8"
FLANNEL_URL = "https://github.com/flannel-io/flannel/releases/download/{version}/kube-flannel.yml"
POD_NETWORK_CIDR = "10.244.0.0/16"   # flannel's default net-conf.json
KUBECTL = ("kubectl", f"--kubeconfig={ADMIN_CONF}")
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"   # written by both `kubeadm init` and `kubeadm join`
PRINT_JOIN_COMMAND = ("kubeadm", "token", "create", "--print-join-command")  # on the control plane

KEYRINGS = "/etc/apt/keyrings"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
MODULES_CONF, MODULES = "/etc/modules-load.d/k8s.conf", "overlay\nbr_netfilter\n"
SYSCTL_CONF = "/etc/sysctl.d/k8s.conf"
SYSCTLS = ("net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n"
           "net.ipv4.ip_forward = 1\n")
FSTAB, FSTAB_BACKUP = "/etc/fstab", "/etc/fstab.binderhub-wizard.bak"
HELM_KEY_URL = "https://packages.buildkite.com/helm-linux/helm-debian/gpgkey"
# The helm project's apt repository since baltocdn.com was retired; it carries the newest helm.
HELM_SOURCE = f"deb [signed-by={KEYRINGS}/helm.gpg] https://packages.buildkite.com/helm-linux/helm-debian/any/ any main\n"
USER_KUBECONFIG = "{home}/.kube/config"

# The shell names of the placeholders; render/bootstrap.py sets them from $SUDO_USER.
SHELL_VARIABLES = {"{home}": "kube_home", "{user}": "kube_user"}


def word(text: str) -> str:
    """One shell word: literal parts through shlex.quote, placeholders as quoted variables."""
    parts, rest = [], text
    while rest:
        hits = [(rest.find(p), p) for p in SHELL_VARIABLES if p in rest]
        if not hits:
            parts.append(shlex.quote(rest))
            break
        at, placeholder = min(hits)
        if at:
            parts.append(shlex.quote(rest[:at]))
        parts.append(f'"${{{SHELL_VARIABLES[placeholder]}}}"')
        rest = rest[at + len(placeholder):]
    return "".join(parts) or "''"


def printf(text: str) -> str:
    """A printf that writes exactly `text`: one quoted word a line when it ends in a newline."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        return "printf '%s\\n' " + " ".join(shlex.quote(line) for line in lines[:-1])
    return f"printf %s {shlex.quote(text)}"


# --- guards ----------------------------------------------------------------------------------------

class Guard:
    simple = True   # one command: safe to negate or chain without braces

    def holds(self, facts: HostFacts) -> bool: raise NotImplementedError
    def shell(self) -> str: raise NotImplementedError
    def paths(self) -> tuple[str, ...]: return ()
    def tools(self) -> tuple[str, ...]: return ()


def _braced(g: Guard) -> str:
    return g.shell() if g.simple else f"{{ {g.shell()}; }}"


@dataclass(frozen=True)
class Exists(Guard):
    path: str

    def holds(self, facts): return facts.file(self.path) is not None
    def shell(self): return f"[ -e {word(self.path)} ]"
    def paths(self): return (self.path,)


@dataclass(frozen=True)
class Contains(Guard):
    path: str
    text: str

    def holds(self, facts): return self.text in (facts.file(self.path) or "")
    def shell(self): return f"grep -qsF -- {shlex.quote(self.text)} {word(self.path)}"
    def paths(self): return (self.path,)


@dataclass(frozen=True)
class Matches(Guard):
    """The file holds exactly this text."""
    path: str
    text: str

    def holds(self, facts): return facts.file(self.path) == self.text
    def shell(self): return f"cmp -s {word(self.path)} <({printf(self.text)})"
    def paths(self): return (self.path,)


@dataclass(frozen=True)
class SameFile(Guard):
    first: str
    second: str

    def holds(self, facts): return facts.file(self.first) is not None and facts.file(self.first) == facts.file(self.second)
    def shell(self): return f"cmp -s {word(self.first)} {word(self.second)}"
    def paths(self): return (self.first, self.second)


@dataclass(frozen=True)
class OnPath(Guard):
    program: str

    def holds(self, facts): return self.program in facts.commands
    def shell(self): return f"command -v {shlex.quote(self.program)} >/dev/null 2>&1"
    def tools(self): return (self.program,)


class SwapActive(Guard):
    """/proc/swaps lists an area below its header line."""

    def holds(self, facts): return bool(host.active_swaps(facts.swaps or ""))
    def shell(self): return "awk 'NR > 1 && NF { found = 1 } END { exit !found }' /proc/swaps"


def fstab_swap_lines(text: str) -> list[str]:
    """Uncommented fstab lines whose type (third field) is swap: what the awk below matches."""
    return [line for line in text.splitlines()
            if len(f := line.split()) >= 3 and not f[0].startswith("#") and f[2] == "swap"]


class FstabSwap(Guard):
    def holds(self, facts): return bool(fstab_swap_lines(facts.file(FSTAB) or ""))
    def shell(self): return f"awk '$1 !~ /^#/ && $3 == \"swap\" {{ found = 1 }} END {{ exit !found }}' {FSTAB}"
    def paths(self): return (FSTAB,)


@dataclass(frozen=True)
class Untainted(Guard):
    """No node carries the taint (a cluster that cannot be asked counts as tainted)."""
    key: str
    simple = False

    def holds(self, facts): return facts.node_taints is not None and self.key not in facts.node_taints

    def shell(self):
        get = " ".join(shlex.quote(a) for a in (*KUBECTL, "get", "nodes", "-o",
                                                "jsonpath={.items[*].spec.taints[*].key}"))
        return f'taints="$({get})" && [[ " $taints " != *{shlex.quote(" " + self.key + " ")}* ]]'

    def tools(self): return ("kubectl",)


@dataclass(frozen=True)
class Not(Guard):
    inner: Guard

    def holds(self, facts): return not self.inner.holds(facts)
    def shell(self): return f"! {_braced(self.inner)}"
    def paths(self): return self.inner.paths()
    def tools(self): return self.inner.tools()


class All(Guard):
    simple = False

    def __init__(self, *parts: Guard):
        self.parts = parts

    def holds(self, facts): return all(p.holds(facts) for p in self.parts)
    def shell(self): return " && ".join(_braced(p) for p in self.parts)
    def paths(self): return tuple(x for p in self.parts for x in p.paths())
    def tools(self): return tuple(x for p in self.parts for x in p.tools())


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


def host_steps(kubernetes: str = KUBERNETES_MINOR) -> list[Step]:
    """What every node needs, control plane or worker: runtime, kernel, swap, kubelet/kubeadm."""
    k8s_list = "/etc/apt/sources.list.d/kubernetes.list"
    return [
        Step("apt-prerequisites", "curl, gpg and CA certificates for the package repositories",
             (_cmd("apt-get", "update"),
              _cmd("apt-get", "install", "-y", "ca-certificates", "curl", "gpg")),
             All(OnPath("curl"), OnPath("gpg")), "curl and gpg are on PATH"),
        Step("containerd", "containerd from the distribution (Kubernetes has no Docker runtime since 1.24)",
             (_cmd("apt-get", "update"), _cmd("apt-get", "install", "-y", "containerd")),
             OnPath("containerd"), "containerd is on PATH"),
        Step("containerd-config", "containerd with the systemd cgroup driver, as the kubelet expects",
             (_backup(CONTAINERD_CONFIG, CONTAINERD_CONFIG + ".binderhub-wizard.bak"),
              _cmd("install", "-d", "-m", "0755", "/etc/containerd"),
              # `containerd config default` writes to stdout only: the redirect needs a shell.
              _cmd("sh", "-c", f"containerd config default > {CONTAINERD_CONFIG}"),
              _cmd("sed", "-i", "-E", "-e", SYSTEMD_CGROUP_SED, CONTAINERD_CONFIG),
              _cmd("systemctl", "restart", "containerd"),
              _cmd("systemctl", "enable", "containerd")),
             Contains(CONTAINERD_CONFIG, "SystemdCgroup = true"),
             f"{CONTAINERD_CONFIG} has SystemdCgroup = true and containerd restarted"),
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
        Step("kubernetes-repository", f"the pkgs.k8s.io apt repository for Kubernetes {kubernetes}",
             _repository("kubernetes-apt-keyring",
                         f"https://pkgs.k8s.io/core:/stable:/{kubernetes}/deb/Release.key",
                         k8s_list, kubernetes_source(kubernetes)),
             All(Exists(f"{KEYRINGS}/kubernetes-apt-keyring.gpg"), Matches(k8s_list, kubernetes_source(kubernetes))),
             f"{k8s_list} names {kubernetes}"),
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


def node_steps(public_ip: str | None = None, *, kubernetes: str = KUBERNETES_MINOR,
               flannel: str = FLANNEL_VERSION, single_node: bool = True) -> list[Step]:
    """The whole control-plane node: host steps, helm, kubeadm init, kubeconfig, untaint, flannel."""
    init = ["kubeadm", "init", f"--pod-network-cidr={POD_NETWORK_CIDR}"]
    if public_ip:   # kubectl from outside through the public address must match the certificate
        init.append(f"--apiserver-cert-extra-sans={public_ip}")
    steps = host_steps(kubernetes) + [
        Step("helm", "helm from its apt repository (packages.buildkite.com, which replaced baltocdn.com)",
             (*_repository("helm", HELM_KEY_URL, "/etc/apt/sources.list.d/helm-stable-debian.list", HELM_SOURCE),
              _cmd("apt-get", "install", "-y", "helm")),
             OnPath("helm"), "helm is on PATH"),
        Step("kubeadm-init", "the control plane (kubeadm init)", (_cmd(*init),),
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


def parse_join_command(text: str) -> tuple[str, ...]:
    """The argv of what `kubeadm token create --print-join-command` printed. It holds a token:
    mask it in logs."""
    argv = tuple(shlex.split(text.strip()))
    if argv[:2] != ("kubeadm", "join") or "--token" not in argv or "--discovery-token-ca-cert-hash" not in argv:
        raise ValueError("not a kubeadm join command: run `kubeadm token create --print-join-command` "
                         "on the control plane and pass what it prints")
    return argv


def join_command_steps(join: str | None = None, *, kubernetes: str = KUBERNETES_MINOR) -> list[Step]:
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
    return host.gather_facts(public_ip, read=needed_paths(steps), tools=needed_tools(steps), **kwargs)


def plan(facts: HostFacts, steps: list[Step] | None = None) -> list[tuple[Step, list[Command]]]:
    """The steps still to do and, in each, the commands to run, placeholders filled in."""
    steps = node_steps(facts.public_ip) if steps is None else steps
    todo = []
    for step in steps:
        if step.done is not None and step.done.holds(facts):
            continue
        commands = [Command(tuple(facts.resolve(a) for a in c.argv), c.stdin, None, c.quiet)
                    for c in step.commands if c.when is None or c.when.holds(facts)]
        todo.append((replace(step, title=facts.resolve(step.title), verify=facts.resolve(step.verify)), commands))
    return todo


def bootstrap_commands(facts: HostFacts, steps: list[Step] | None = None) -> list[tuple[str, list[str]]]:
    """The exact sequence (step name, argv) this machine still needs."""
    return [(step.name, list(c.argv)) for step, commands in plan(facts, steps) for c in commands]
