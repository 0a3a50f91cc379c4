"""`wizard uninstall --node`: the bootstrap of this machine undone from the ledger, against a
recording runner that plays every command on an in-memory file system. The node stages' own apply
steps (wizard/nodestages.py) write the ledger as the install would; the undo then runs the exact
command sequence below, and every file the bootstrap touched is back byte for byte (or gone, where
it did not exist). It cannot show what apt, kubeadm or iptables do on a real machine; the CI
workflow runs `wizard uninstall --node --yes` on one."""

from __future__ import annotations

import copy
import os

import pytest

from tests.variants import BASE
from wizard import bootstrap, host, ledger, uninstall
from wizard.context import Context
from wizard.nodestages import node_stages
from wizard.runner import CommandResult, Runner
from wizard.settings import load_answers

ORIGINAL = {
    "/etc/fstab": b"UUID=1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n# \xe9\xff not UTF-8\n",
    "/etc/containerd/config.toml": b"version = 2\n# the operator's own\n",
    "/root/.kube/config": b"apiVersion: v1\nkind: Config\n# another cluster\n",
    "/proc/sys/net/ipv4/ip_forward": b"0\n",
    "/proc/sys/net/bridge/bridge-nf-call-iptables": b"0\n",
}
INSTALLED = {"ca-certificates"}


class PlayingRunner(Runner):
    """Records every command and plays the file writes of the bootstrap and its undo on `fs`."""

    def __init__(self, log, fs: dict[str, bytes]):
        super().__init__(log)
        self.fs = fs
        self.commands: list[list[str]] = []

    def run(self, stage, argv, *, mutating=True, stdin=None, check=True, timeout=None, hide_output=False):
        argv = list(argv)
        if argv[0] == "dpkg-query":
            found = argv[-1] in INSTALLED
            return CommandResult(tuple(argv), 0 if found else 1, "install ok installed" if found else "")
        self.commands.append(argv)
        fs, tool, args = self.fs, argv[0], argv[1:]
        if tool == "tee":
            fs[args[-1]] = stdin.encode()
        elif tool == "cp":
            fs[args[-1]] = fs[args[-2]]
        elif tool == "sed":
            fs[args[-1]] = fs[args[-1]] + b"# edited\n"
        elif tool in ("curl", "gpg"):
            fs[args[args.index("-o") + 1]] = b"key"
        elif tool == "sh" and " > " in args[-1]:
            fs[args[-1].rsplit(" > ", 1)[1]] = b"containerd default\n"
        elif tool == "install" and "-d" not in args:
            source = args[-2]
            fs[args[-1]] = open(source, "rb").read() if os.path.isabs(source) and os.path.exists(source) else fs[source]
        elif tool == "rm":
            fs.pop(args[-1], None)
        elif tool == "kubeadm":   # init writes the admin kubeconfig, reset removes it
            if args[0] == "init":
                fs[host.ADMIN_CONF] = b"admin"
            else:
                fs.pop(host.ADMIN_CONF, None)
        return CommandResult(tuple(argv), 0, "")


@pytest.fixture
def bootstrapped(tmp_path, monkeypatch):
    """A fresh machine with swap, bootstrapped by the node stages' apply steps (the ledger written)."""
    fs = dict(ORIGINAL)
    monkeypatch.setattr(ledger, "_read_file", lambda path: fs.get(path))
    monkeypatch.setattr(ledger, "_is_dir", lambda path: any(name.startswith(path + "/") for name in fs))
    facts = host.HostFacts(swaps="Filename\tType\tSize\tUsed\tPriority\n/swap.img file 2097148 0 -2\n",
                           files={"/etc/fstab": ORIGINAL["/etc/fstab"].decode("latin-1"),
                                  bootstrap.CONTAINERD_CONFIG: ORIGINAL["/etc/containerd/config.toml"].decode(),
                                  "/root/.kube/config": ORIGINAL["/root/.kube/config"].decode()})
    settings = load_answers(copy.deepcopy(BASE)).settings
    directory = tmp_path / "setup"
    directory.mkdir()
    runner = PlayingRunner(directory / "install.log", fs)
    ctx = Context(settings, directory, runner, host_facts=lambda: facts)
    for stage in node_stages(settings):
        stage.apply(ctx)
    runner.commands.clear()
    return directory, runner, fs


EXPECTED = [
    # kubeadm reset and what it leaves behind (CNI configuration, links, iptables rules), the kubelet
    "kubeadm reset -f",
    "rm -rf /etc/cni/net.d",
    "ip link delete cni0",
    "ip link delete flannel.1",
    "sh -c iptables-save | grep -v -e KUBE- -e FLANNEL -e CNI- | iptables-restore",
    "sh -c ip6tables-save | grep -v -e KUBE- -e FLANNEL -e CNI- | ip6tables-restore",
    "systemctl disable --now kubelet",
    # files, newest change first: the previous content put back, or the file removed
    "install -m 0644 DIR/ledger-files/57b47e333bf7bbc1-config /root/.kube/config",
    "rm -f /root/.kube/config.binderhub-wizard.bak",
    "rm -f /etc/kubernetes/binderhub-wizard/kubeadm-config.yaml",
    "rmdir --ignore-fail-on-non-empty /etc/kubernetes/binderhub-wizard",
    "rm -f /etc/apt/sources.list.d/helm-stable-debian.list",
    "rm -f /etc/apt/keyrings/helm.gpg",
    "rm -f /etc/apt/keyrings/helm.asc",
    "rm -f /etc/apt/sources.list.d/kubernetes.list",
    "rm -f /etc/apt/keyrings/kubernetes-apt-keyring.gpg",
    "rm -f /etc/apt/keyrings/kubernetes-apt-keyring.asc",
    "install -m 0644 DIR/ledger-files/cf54dfacf32eec1c-fstab /etc/fstab",
    "rm -f /etc/fstab.binderhub-wizard.bak",
    "sysctl -w net.ipv4.ip_forward=0",
    "sysctl -w net.bridge.bridge-nf-call-iptables=0",
    "rm -f /etc/sysctl.d/k8s.conf",
    "rm -f /etc/modules-load.d/k8s.conf",
    "install -m 0644 DIR/ledger-files/01f47751eb07da57-config.toml /etc/containerd/config.toml",
    "rm -f /etc/containerd/config.toml.binderhub-wizard.bak",
    "rm -f /etc/apt/sources.list.d/docker.list",
    "rm -f /etc/apt/keyrings/docker.asc",
    "rm -f /etc/apt/keyrings/docker.asc.download",
    "rmdir --ignore-fail-on-non-empty /etc/apt/keyrings",   # made by the bootstrap: removed if empty
    # swap back on (fstab is restored), packages unheld and purged (ca-certificates was there before)
    "swapon -a",
    "apt-mark unhold kubelet kubeadm kubectl",
    "apt-get purge -y curl gpg containerd.io kubelet kubeadm kubectl helm",
]


def test_the_undo_runs_the_exact_sequence_and_restores_every_file_byte_for_byte(bootstrapped):
    directory, runner, fs = bootstrapped
    said: list[str] = []
    code = uninstall.run(directory, yes=True, node=True, runner=runner, sudo=[], say=said.append)
    assert code == 0, "\n".join(said)
    commands = [" ".join(argv).replace(str(directory), "DIR") for argv in runner.commands]
    assert commands == EXPECTED, "\n".join(commands)
    for path, content in ORIGINAL.items():
        assert fs[path] == content, f"{path} not restored byte for byte"
    assert sorted(set(fs) - set(ORIGINAL)) == [], "a file the bootstrap made is left"
    # Done: a second run has nothing left to undo and runs nothing.
    runner.commands.clear()
    assert uninstall.run(directory, yes=True, node=True, runner=runner, sudo=[], say=said.append) == 0
    assert runner.commands == []


def test_the_node_undo_asks_its_own_question(bootstrapped):
    directory, runner, fs = bootstrapped
    asked: list[str] = []
    code = uninstall.run(directory, node=True, runner=runner, sudo=[], say=lambda line: None,
                         ask=lambda question: asked.append(question) or len(asked) == 1)
    assert len(asked) == 2 and "kubeadm reset" in asked[1]
    assert code == 1 and runner.commands == [], "declined: nothing undone, and it says something is left"
