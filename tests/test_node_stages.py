"""The bare-machine stages in the engine: the runner's recorded commands are exactly the bootstrap
plan for a fresh machine, and a re-run on an initialised one skips init and leaves fstab alone."""

from __future__ import annotations

import copy
import dataclasses

from tests.variants import BASE
from wizard import bootstrap, host
from wizard.context import Context
from wizard.engine import Engine
from wizard.nodestages import node_stages
from wizard.runner import Runner
from wizard.settings import load_answers
from wizard.stages import plan
from wizard.state import InstallState
from wizard.yamlio import loads_all


def dry_run(tmp_path, facts: host.HostFacts) -> list[tuple[str, str]]:
    settings = load_answers(copy.deepcopy(BASE)).settings
    runner = Runner(tmp_path / "install.log", dry_run=True)
    ctx = Context(settings, tmp_path, runner, host_facts=lambda: facts)
    assert Engine(ctx, node_stages(settings), InstallState()).run()
    return runner.planned


def expected(facts: host.HostFacts) -> list[tuple[str, str]]:
    import shlex

    return [(f"node-{name}", " ".join(shlex.quote(a) for a in argv)) for name, argv in
            bootstrap.bootstrap_commands(facts)]


def test_a_fresh_machine_runs_exactly_the_bootstrap_plan(tmp_path):
    facts = host.HostFacts(swaps="Filename\tType\tSize\tUsed\tPriority\n/swap.img file 2097148 0 -2\n",
                           files={"/etc/fstab": "/swap.img none swap sw 0 0\n"})
    planned = dry_run(tmp_path, facts)
    commands = [command for _stage, command in planned]
    assert [c.split(" <<< ")[0] for _s, c in planned] == [c for _s, c in expected(facts)]
    assert "apt-get install -y containerd.io" in commands
    assert "kubeadm init --config=/etc/kubernetes/binderhub-wizard/kubeadm-config.yaml" in commands
    assert commands.index("tee /etc/kubernetes/binderhub-wizard/kubeadm-config.yaml") < commands.index(
        "kubeadm init --config=/etc/kubernetes/binderhub-wizard/kubeadm-config.yaml")
    assert any("/etc/fstab" in c for c in commands)


def test_a_rerun_on_an_initialised_node_skips_init_and_fstab(tmp_path):
    admin = "apiVersion: v1\nkind: Config\n"
    facts = host.HostFacts(initialised=True, commands=frozenset({"containerd", "kubeadm", "kubelet", "kubectl", "helm"}),
                           containerd_version="containerd containerd.io 2.2.1 dea7da59", node_taints=frozenset(),
                           files={"/etc/kubernetes/admin.conf": admin, "/root/.kube/config": admin,
                                  "/etc/fstab": "# no swap\n",
                                  bootstrap.CONTAINERD_CONFIG: f"{bootstrap.CONTAINERD_RUNC_OPTIONS}\n  SystemdCgroup = true\n"})
    commands = [command for _stage, command in dry_run(tmp_path, facts)]
    assert [c.split(" <<< ")[0] for c in commands] == [c for _s, c in expected(facts)]
    # These facts show no curl, sysctls or apt source, so those steps run; the runtime, its
    # configuration, the kubeadm configuration and init do not.
    assert not any(c.startswith("kubeadm init") or "kubeadm-config" in c or "containerd" in c for c in commands)
    assert not any("/etc/fstab" in c for c in commands)


def test_the_kubeadm_configuration_advertises_the_public_ip_only_where_it_is_local(tmp_path):
    """The stage decides from the facts when it runs (the stage list is made before any fact)."""
    settings = load_answers(copy.deepcopy(BASE)).settings
    public_ip = settings.network.public_ip
    written = {}
    for addresses, advertised in (((public_ip,), True), (("10.0.0.5",), False)):
        facts = host.HostFacts(public_ip=public_ip, addresses=("127.0.0.1", *addresses))
        runner = Runner(tmp_path / f"{advertised}.log", dry_run=True)
        seen = []
        runner.run = lambda stage, argv, stdin=None, **kw: seen.append((argv, stdin))   # record what runs, with stdin
        ctx = Context(settings, tmp_path, runner, host_facts=lambda: facts)
        stage = next(s for s in node_stages(settings) if s.name == "node-kubeadm-config")
        stage.apply(ctx)
        written[advertised] = next(stdin for argv, stdin in seen if argv[-1].endswith("kubeadm-config.yaml"))
    advertised, behind_nat = ({doc["kind"]: doc for doc in loads_all(written[key])} for key in (True, False))
    assert advertised["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == public_ip
    assert "advertiseAddress" not in written[False]
    assert public_ip in behind_nat["ClusterConfiguration"]["apiServer"]["certSANs"]


def test_host_preflight_refuses_an_unsupported_machine(tmp_path):
    settings = load_answers(copy.deepcopy(BASE)).settings
    facts = dataclasses.replace(host.HostFacts(), cpus=1)
    # Not a dry run (a dry run checks nothing): the host stage runs no command, only its checks.
    ctx = Context(settings, tmp_path, Runner(tmp_path / "install.log"), host_facts=lambda: facts)
    state = InstallState()
    assert not Engine(ctx, node_stages(settings), state).run()
    assert state.stages["host"].status == "failed" and "CPU" in state.stages["host"].error


def test_bootstrap_puts_the_node_stages_before_preflight():
    settings = load_answers(copy.deepcopy(BASE)).settings
    stages = plan(settings, bootstrap=True)
    names = [s.name for s in stages]
    assert names[0] == "host" and names.index("node-kubeadm-init") < names.index("preflight")
    assert stages[names.index("preflight")].needs == (names[names.index("preflight") - 1],)


def test_the_node_stages_do_not_import_the_plan_and_help_names_its_stages():
    """nodestages and stages no longer import each other (both take Stage from wizard/stage.py),
    and `wizard install --help` lists the stages the plan is built from, without kubernetes."""
    import subprocess
    import sys

    from tests.conftest import REPO
    from wizard.stage import CLUSTER_STAGES

    code = ("import sys, wizard.nodestages; print('wizard.stages' in sys.modules); "
            "from wizard.cli import main\ntry: main(['install', '--help'])\nexcept SystemExit: pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'textual')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    lines = run.stdout.splitlines()
    assert lines[0] == "False", run.stdout + run.stderr
    assert lines[-1] == "[]", "install --help imports neither kubernetes nor textual"
    assert ", ".join(CLUSTER_STAGES) in " ".join(run.stdout.split()), run.stdout
    settings = load_answers(copy.deepcopy(BASE)).settings
    assert [s.name for s in plan(settings)] == [n for n in CLUSTER_STAGES if n not in ("cert-manager", "issuer")
                                                or settings.production]
