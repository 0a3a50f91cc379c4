"""Host preflight checks over crafted facts, and reading crafted files into facts."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from wizard import host, hostread
from wizard.host import ERROR, OK, WARNING, HostFacts, run_host_checks

HEALTHY = HostFacts()
GIB = 1024**3


def check(name: str, **changes) -> host.HostCheck:
    return host.CHECKS[name](replace(HEALTHY, **changes))


def test_a_healthy_machine_passes_every_check():
    results = run_host_checks(HEALTHY)
    assert [r.name for r in results] == list(host.CHECKS)
    assert {r.name: r.level for r in results if r.level != OK} == {"ip-forward": WARNING}


def test_root():
    assert check("root", euid=0).level == OK
    with_sudo = check("root", euid=1000, sudo="/usr/bin/sudo")
    assert with_sudo.level == OK and "sudo" in with_sudo.message
    refused = check("root", euid=1000, sudo=None)
    assert refused.level == ERROR and "not running as root" in refused.message and refused.next_step


@pytest.mark.parametrize("text", [
    'ID=debian\nVERSION_ID="12"\n',
    'ID=debian\nVERSION_ID="13"\n',
    'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\n',
    "ID=ubuntu\nVERSION_ID='24.04'\nPRETTY_NAME=\"Ubuntu 24.04.3 LTS\"\n",
    'PRETTY_NAME="Ubuntu 26.04 LTS"\nID=ubuntu\nVERSION_ID="26.04"\nVERSION_CODENAME=resolute\n',
])
def test_supported_systems(text):
    assert check("os", os_release=text).level == OK


@pytest.mark.parametrize("text, shown", [
    ('ID=ubuntu\nVERSION_ID="20.04"\nPRETTY_NAME="Ubuntu 20.04.6 LTS"\n', "Ubuntu 20.04.6 LTS"),
    ('ID=debian\nVERSION_ID="11"\n', "debian 11"),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n', "rocky 9.4"),
    ('ID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="22"\n', "linuxmint 22"),
])
def test_unsupported_systems_name_what_is_supported(text, shown):
    result = check("os", os_release=text)
    assert result.level == ERROR
    assert shown in result.message and "Debian 12 or 13, Ubuntu 22.04, 24.04 or 26.04" in result.message


def test_missing_os_release_is_an_error():
    assert check("os", os_release=None).level == ERROR


def test_swap():
    header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    assert check("swap", swaps=header).level == OK
    on = check("swap", swaps=header + "/swap.img                               file\t\t4194300\t\t0\t\t-2\n")
    assert on.level == WARNING
    assert "/swap.img" in on.message and "will be switched off now and in /etc/fstab" in on.message
    assert check("swap", swaps=None).level == WARNING


def test_cgroup_v2():
    assert check("cgroup-v2", cgroup_v2=True).level == OK
    v1 = check("cgroup-v2", cgroup_v2=False)
    assert v1.level == ERROR and "cgroup.controllers" in v1.message and "cgroup v1" in v1.message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_port_held_by_a_listening_socket_fails():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        free = _free_port()
        busy = hostread.ports_in_use([held, free])
        assert held in busy and free not in busy
        result = check("ports", ports=(held, free), ports_in_use=busy)
    assert result.level == ERROR
    assert f"port {held} already in use" in result.message and f":{held}" in result.next_step


def test_free_ports_pass():
    ports = (_free_port(), _free_port())
    assert check("ports", ports=ports, ports_in_use=hostread.ports_in_use(ports)).level == OK


def test_kubernetes_ports_are_fine_on_an_initialised_node_but_others_are_not():
    assert check("ports", ports_in_use=frozenset({6443, 10250}), initialised=True).level == OK
    assert check("ports", ports_in_use=frozenset({6443}), initialised=False).level == ERROR
    both = check("ports", ports_in_use=frozenset({6443, 443}), initialised=True)
    assert both.level == ERROR and "443" in both.message and "6443" not in both.message


def test_listening_ports_from_proc_net(tmp_path):
    header = "  sl  local_address rem_address   st tx_queue rx_queue\n"
    (tmp_path / "tcp").write_text(header + "   0: 0100007F:1F90 00000000:0000 0A 0:0\n"
                                           "   1: 0100007F:01BB 0100007F:90BC 01 0:0\n")
    (tmp_path / "tcp6").write_text(header + "   0: 00000000000000000000000000000000:192B 0000:0000 0A 0:0\n")
    assert hostread.listening_ports(tmp_path) == {8080, 6443}    # 443 is an established connection


def test_br_netfilter():
    assert check("br-netfilter", modules="br_netfilter 32768 0 - Live 0x0000000000000000\n",
                 br_netfilter_installed=False).level == OK
    assert check("br-netfilter", modules="", bridge_sysctl=True, br_netfilter_installed=False).level == OK
    loadable = check("br-netfilter", modules="overlay 151552 0 - Live 0x0\n", br_netfilter_installed=True)
    assert loadable.level == OK and "will be loaded" in loadable.message
    missing = check("br-netfilter", modules="bridge 311296 0 - Live 0x0\n", br_netfilter_installed=False)
    assert missing.level == ERROR and "neither loaded nor installed" in missing.message


def test_ip_forward():
    assert check("ip-forward", ip_forward="1\n").level == OK
    off = check("ip-forward", ip_forward="0\n")
    assert off.level == WARNING and "will be set to 1" in off.message
    assert check("ip-forward", ip_forward=None).level == ERROR


def test_cpus():
    assert check("cpus", cpus=2).level == OK
    one = check("cpus", cpus=1)
    assert one.level == ERROR and "at least 2" in one.message


@pytest.mark.parametrize("kib, level", [(16318480, OK), (4026532, OK), (2014508, WARNING)])
def test_memory(kib, level):
    result = check("memory", meminfo=f"MemTotal:       {kib} kB\nMemFree:  100 kB\n")
    assert result.level == level
    if level == WARNING:
        assert "1.9 GiB" in result.message and "4.0 GiB" in result.message


def test_memory_unreadable_is_a_warning():
    assert check("memory", meminfo=None).level == WARNING


def test_disk():
    assert check("disk", var_lib_free=25 * GIB).level == OK
    small = check("disk", var_lib_free=8 * GIB)
    assert small.level == WARNING and "8.0 GiB free on /var/lib" in small.message
    assert check("disk", var_lib_free=None).level == WARNING


@pytest.mark.parametrize("printed, release", [
    ("containerd github.com/containerd/containerd/v2 v2.4.2 2c5a8c4b", (2, 4)),
    ("containerd containerd.io 2.2.1 dea7da592f5d1d2b7755e3a161be07f43fad8f75", (2, 2)),
    ("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3", (1, 6)),
    ("containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+b4\n", (1, 7)),
    ("containerd", None), ("", None), ("containerd github.com/containerd/containerd unknown x", None),
])
def test_containerd_release_from_its_version_line(printed, release):
    assert host.containerd_release(printed) == release


def test_containerd_older_than_2_is_a_warning_that_names_the_replacement():
    old = check("containerd", containerd_version="containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+b4")
    assert old.level == WARNING
    assert old.message.startswith("containerd 1.7 is installed: the kubelet needs containerd 2.0 or newer")
    assert "replaced by containerd.io 2.x from Docker's apt repository" in old.message and "docker.io" in old.message
    assert "install containerd 2.0 or newer yourself" in old.next_step
    assert check("containerd", containerd_version="containerd github.com/containerd/containerd 1.6.20~ds1 x").level == WARNING


def test_containerd_2_or_none_passes_and_an_unreadable_version_warns():
    kept = check("containerd", containerd_version="containerd containerd.io 2.2.1 dea7da59")
    assert kept.level == OK and kept.message == "containerd 2.2 is installed and is kept"
    absent = check("containerd", containerd_version=None)
    assert absent.level == OK and "containerd.io 2.x will be installed" in absent.message
    odd = check("containerd", containerd_version="")
    assert odd.level == WARNING and "cannot read the containerd version" in odd.message


def test_gather_facts_reads_containerd_version_from_the_program(tmp_path, monkeypatch):
    fake = tmp_path / "containerd"
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'containerd github.com/containerd/containerd 1.7.24~ds1 x'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    facts = hostread.gather_facts(ports=(_free_port(),))
    assert "containerd" in facts.commands
    assert facts.containerd_version == "containerd github.com/containerd/containerd 1.7.24~ds1 x"
    assert host.check_containerd(facts).level == WARNING


@pytest.mark.parametrize("os_release, filled", [
    ('ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n', "debian/trixie"),
    ('ID=ubuntu\nVERSION_ID="26.04"\nVERSION_CODENAME=resolute\nUBUNTU_CODENAME=resolute\n', "ubuntu/resolute"),
    ('ID=ubuntu\nVERSION_CODENAME=xia\nUBUNTU_CODENAME=noble\n', "ubuntu/noble"),   # a derivative names its base
])
def test_the_system_fills_os_placeholders(os_release, filled):
    assert replace(HEALTHY, os_release=os_release).resolve("{os}/{codename}") == filled


def test_public_ip():
    assert check("public-ip", public_ip="203.0.113.10", addresses=("127.0.0.1", "203.0.113.10")).level == OK
    assert check("public-ip", public_ip="2001:db8::1", addresses=("2001:db8:0::1",)).level == OK
    nat = check("public-ip", public_ip="203.0.113.10", addresses=("127.0.0.1", "10.0.0.5"))
    assert nat.level == WARNING
    assert "behind 1:1 NAT the ingress must use the node's own address" in nat.message
    assert "10.0.0.5" in nat.message and "127.0.0.1" not in nat.message
    assert check("public-ip", public_ip=None).level == OK


FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.0.0/24 2 0 2
        |-- 10.0.0.0
           /24 link UNICAST
        |-- 10.0.0.5
           /32 host LOCAL
        |-- 10.0.0.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
        |-- 10.0.0.5
           /32 host LOCAL
"""


def test_addresses_from_procfs(tmp_path):
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    (tmp_path / "if_inet6").write_text("00000000000000000000000000000001 01 80 10 80       lo\n"
                                       "20010db8000000000000000000000001 02 40 00 80     eth0\n")
    assert hostread.machine_addresses(tmp_path) == ("10.0.0.5", "127.0.0.1", "::1", "2001:db8::1")


def test_skip_turns_an_error_into_a_warning_like_kubeadm():
    facts = replace(HEALTHY, cpus=1, cgroup_v2=False)
    levels = {r.name: r.level for r in run_host_checks(facts)}
    assert levels["cpus"] == ERROR and levels["cgroup-v2"] == ERROR
    skipped = {r.name: r for r in run_host_checks(facts, skip=["cpus"])}
    assert skipped["cpus"].level == WARNING and skipped["cpus"].message.startswith("ignored as asked:")
    assert skipped["cgroup-v2"].level == ERROR
    assert not any(r.blocking for r in run_host_checks(facts, skip=["all"]))


def test_an_unknown_skip_name_is_refused():
    with pytest.raises(ValueError, match="unknown host check cpu;"):
        run_host_checks(HEALTHY, skip=["cpu"])


def _tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_gather_facts_from_a_crafted_tree(tmp_path):
    release = os.uname().release
    root = _tree(tmp_path, {
        "etc/os-release": 'ID=ubuntu\nVERSION_ID="24.04"\n',
        "etc/fstab": "/swap.img none swap sw 0 0\n",
        "proc/swaps": "Filename Type Size Used Priority\n/swap.img file 4194300 0 -2\n",
        "proc/meminfo": "MemTotal:        2014508 kB\n",
        "proc/sys/net/ipv4/ip_forward": "0\n",
        "proc/modules": "overlay 151552 0 - Live 0x0\n",
        "proc/net/fib_trie": FIB_TRIE,
        f"lib/modules/{release}/kernel/net/bridge/br_netfilter.ko.zst": "",
    })
    facts = hostread.gather_facts("203.0.113.10", root=root, read=["/etc/fstab", "/etc/missing"])
    assert facts.files == {"/etc/fstab": "/swap.img none swap sw 0 0\n", "/etc/missing": None}
    assert facts.addresses == ("10.0.0.5", "127.0.0.1") and not facts.initialised
    levels = {r.name: r.level for r in run_host_checks(facts)}
    assert levels == {**levels, "os": OK, "swap": WARNING, "cgroup-v2": ERROR, "br-netfilter": OK,
                      "ip-forward": WARNING, "memory": WARNING, "public-ip": WARNING}
    (root / "sys/fs/cgroup").mkdir(parents=True)
    (root / "sys/fs/cgroup/cgroup.controllers").write_text("cpu memory pids\n")
    assert host.check_cgroup(hostread.gather_facts(root=root)).level == OK


def test_admin_conf_is_not_shown_in_repr():
    facts = replace(HEALTHY, files={"/etc/kubernetes/admin.conf": "client-key-data: SECRET"})
    assert "SECRET" not in repr(facts)


def test_gather_facts_reads_this_machine_without_failing():
    port = _free_port()
    facts = hostread.gather_facts("203.0.113.10", ports=(port,), read=["/etc/hostname"])
    assert facts.ports == (port,) and facts.cpus >= 1 and "/etc/hostname" in facts.files
    assert len(run_host_checks(facts)) == len(host.CHECKS)
