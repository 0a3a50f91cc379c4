"""`bootstrap-node.sh`: the node steps of wizard/bootstrap.py as one shell script, for a machine
the wizard does not run on. Rendered from the same step data, so the script and the wizard cannot
drift apart; every step is skipped when its guard says the work is done, so a re-run is safe.
"""

from __future__ import annotations

from shlex import quote

from ..bootstrap import Command, Step, node_steps, printf, word
from ..host import SUPPORTED_OS, SUPPORTED_TEXT


def _command(c: Command) -> str:
    line = " ".join(word(a) for a in c.argv)
    if c.stdin is not None:
        line = f"{printf(c.stdin)} | {line}"
    if c.quiet:
        line += " >/dev/null"
    if c.when is not None:
        line = f"if {c.when.shell()}; then {line}; fi"
    return line


def _message(text: str) -> str:
    return word(text)


def _step(step: Step) -> list[str]:
    lines = [f"# {step.name}: {step.verify}", f"step {_message(step.title)}"]
    body = [_command(c) for c in step.commands]
    if step.done is None:
        return lines + body
    return lines + [
        f"if {step.done.shell()}; then",
        f"  skip {_message(step.title)}",
        "else",
        *(f"  {line}" for line in body),
        # The guard must hold once the commands ran: a step that did not take effect stops here.
        f"  if ! {{ {step.done.shell()}; }}; then fail {_message(f'{step.name}: expected {step.verify}')}; fi",
        "fi",
    ]


def _os_lines() -> list[str]:
    """The system's ID and codename for the package repositories, and the same refusal of an
    unsupported system as the wizard's host check."""
    supported = "|".join(quote(f"{os_id} {version}") for os_id, versions in SUPPORTED_OS.items()
                         for version in versions)
    return [
        "# The system, as the package repositories name it.",
        "[ -r /etc/os-release ] || fail \"/etc/os-release is missing: cannot tell which system this is\"",
        "os_field() { sed -n \"s/^$1=//p\" /etc/os-release | tr -d \"\\\"'\"; }",
        'os_id="$(os_field ID)"',
        'os_codename="$(os_field UBUNTU_CODENAME)"',
        '[ -n "$os_codename" ] || os_codename="$(os_field VERSION_CODENAME)"',
        'case "$os_id $(os_field VERSION_ID)" in',
        f"  {supported}) ;;",
        f'  *) fail "$(os_field PRETTY_NAME) is not supported: the steps are written for {SUPPORTED_TEXT}" ;;',
        "esac",
    ]


def render_steps_script(steps: list[Step], version: str, purpose: str) -> str:
    lines = [
        "#!/usr/bin/env bash",
        f"# {purpose} Written by binderhub-wizard {version}.",
        "# Idempotent: every step first checks whether its work is done and then skips it; run it",
        f"# again after a failure. Needs {SUPPORTED_TEXT}, and root (sudo).",
        "set -euo pipefail",
        "",
        "step() { printf '\\n==> %s\\n' \"$*\"; }",
        "skip() { printf '    already done: %s\\n' \"$*\"; }",
        "fail() { printf 'FAILED: %s\\n' \"$*\" >&2; exit 1; }",
        "",
        'if [ "$(id -u)" -ne 0 ]; then fail "run as root: sudo bash $0"; fi',
        "export DEBIAN_FRONTEND=noninteractive",
        "# kubectl is set up for whoever ran sudo (root when run as root).",
        'kube_user="${SUDO_USER:-root}"',
        'kube_home="$(getent passwd "$kube_user" | cut -d: -f6)" || fail "no account $kube_user"',
        '[ -n "$kube_home" ] || fail "no home directory for $kube_user"',
        *_os_lines(),
        "",
    ]
    for step in steps:
        lines += _step(step) + [""]
    lines += ['step "done: kubectl works for $kube_user"', ""]
    return "\n".join(lines)


def render_bootstrap_script(public_ip: str, version: str) -> str:
    """A single-node control plane that serves BinderHub on `public_ip`."""
    script = render_steps_script(node_steps(public_ip), version,
                                 f"Makes this machine a one-node Kubernetes cluster for BinderHub on {public_ip}.")
    # Not fatal, as the wizard's host check: behind 1:1 NAT the public address is not local.
    note = (f"{public_ip} is not an address of this machine; behind 1:1 NAT the ingress must use "
            "the node's own address")
    nat_note = [
        f'if [[ " $(ip -o addr show) " != *{quote(" " + public_ip + "/")}* ]]; then',
        f"  printf 'note: %s\\n' {quote(note)} >&2",
        "fi",
        "",
    ]
    head, marker, tail = script.partition("export DEBIAN_FRONTEND=noninteractive\n")
    return head + marker + "\n".join(nat_note) + tail
