"""From a bare machine: the host preflight and the bootstrap steps as stages of the same engine
(same runner, state, resume, dry run and log), run before `preflight` by `wizard install --bootstrap`.

Each bootstrap step is a stage of its own, so a resume skips what is done; its guard (the same
one bootstrap-node.sh uses) decides which commands still need to run, and must hold afterwards.
"""

from __future__ import annotations

import os

from . import bootstrap, host
from .context import CheckFailed, Context, PreflightRefused
from .ledger import record_host
from .stage import Stage


def _facts(ctx: Context) -> host.HostFacts:
    if ctx.host_facts is not None:
        return ctx.host_facts()
    return bootstrap.gather(ctx.settings.network.public_ip)


def _nothing(ctx: Context) -> None:
    return None


def host_preflight(ctx: Context) -> None:
    skip = [name for name in ctx.options.skip_checks if name in host.CHECKS or name == "all"]
    for result in host.run_host_checks(_facts(ctx), skip=skip):
        if result.blocking:
            raise PreflightRefused(f"host-{result.name}", result.problem, result.next_step)
        if result.level == host.WARNING:
            ctx.notify("host", f"warning: {result.problem}" + (f" ({result.next_step})" if result.next_step else ""))


def _sudo() -> list[str]:
    return [] if os.geteuid() == 0 else ["sudo"]


def _step(facts: host.HostFacts, name: str) -> bootstrap.Step:
    """The step as this machine needs it now (the kubeadm configuration advertises the public IP
    only where the machine holds it), found by name: the stage list is made before any fact."""
    return next(step for step in bootstrap.steps_for(facts) if step.name == name)


def _apply(name: str):
    def apply(ctx: Context) -> None:
        facts = _facts(ctx)
        for _planned, commands in bootstrap.plan(facts, [_step(facts, name)]):
            record_host(ctx, f"node-{name}", commands)  # the ledger, before anything changes
            for command in commands:
                ctx.runner.run(f"node-{name}", [*_sudo(), *command.argv], stdin=command.stdin)
    return apply


def _verify(name: str):
    def verify(ctx: Context) -> None:
        facts = _facts(ctx)
        step = _step(facts, name)
        if step.done is not None and not step.done.holds(facts):
            raise CheckFailed(f"node-{name}", f"after {facts.resolve(step.title)}: expected {facts.resolve(step.verify)}",
                              "see install.log for the commands' output, fix the cause, and run again")
    return verify


def node_stages(ctx_settings) -> list[Stage]:
    steps = bootstrap.node_steps(ctx_settings.network.public_ip)
    stages = [Stage("host", (), (), _nothing, host_preflight,
                    describe="host preflight: root, OS, swap, cgroup v2, ports, kernel, CPU, memory, disk, containerd",
                    checks_only=True)]
    for step in steps:
        stages.append(Stage(f"node-{step.name}", (stages[-1].name,), (), _apply(step.name), _verify(step.name),
                            describe=step.title))
    return stages


def join_command(runner) -> str:
    """A fresh worker join command (it holds a token: shown to the user, never logged)."""
    result = runner.run("join-command", [*_sudo(), *bootstrap.PRINT_JOIN_COMMAND], hide_output=True)
    return result.output.strip().splitlines()[-1] if result.output.strip() else ""
