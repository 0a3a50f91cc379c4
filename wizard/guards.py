"""Guards: when a bootstrap step's work is already done, read two ways that must agree.

`holds(facts)` answers for the wizard, which plans over `HostFacts`; `shell()` is the same test as
one bash condition for `bootstrap-node.sh`, which checks at run time. tests/test_bootstrap.py runs
both readings against the same files and programs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from . import host
from .host import ADMIN_CONF, HostFacts

KUBECTL = ("kubectl", f"--kubeconfig={ADMIN_CONF}")
FSTAB = "/etc/fstab"

# The shell names of the placeholders (HostFacts.resolve fills them for the wizard);
# render/bootstrap.py sets them from $SUDO_USER and /etc/os-release.
SHELL_VARIABLES = {"{home}": "kube_home", "{user}": "kube_user", "{os}": "os_id", "{codename}": "os_codename"}


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
        return "printf '%s\\n' " + " ".join(word(line) for line in lines[:-1])
    return f"printf %s {word(text)}"



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

    def holds(self, facts): return facts.file(self.path) == facts.resolve(self.text)
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
    """/etc/fstab has an uncommented line of type swap."""

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


class _Combined(Guard):
    simple = False
    every: bool        # all parts hold, or any of them
    joiner: str

    def __init__(self, *parts: Guard):
        self.parts = parts

    def holds(self, facts):
        results = (p.holds(facts) for p in self.parts)
        return all(results) if self.every else any(results)

    def shell(self): return self.joiner.join(_braced(p) for p in self.parts)
    def paths(self): return tuple(x for p in self.parts for x in p.paths())
    def tools(self): return tuple(x for p in self.parts for x in p.tools())


class All(_Combined):
    every, joiner = True, " && "


class AnyOf(_Combined):
    every, joiner = False, " || "


@dataclass(frozen=True)
class ContainerdAtLeast(Guard):
    """`containerd --version` (`containerd PACKAGE VERSION REVISION`) names this major version or a
    newer one; a missing containerd does not."""
    major: int

    def holds(self, facts):
        release = host.containerd_release(facts.containerd_version or "")
        return release is not None and release[0] >= self.major

    def shell(self):
        # END, not a per-line exit: no output at all (no containerd) must fail too.
        return ("containerd --version 2>/dev/null | awk '{ v = $3 } END { sub(/^v/, \"\", v); "
                f"split(v, part, \".\"); exit !(part[1] + 0 >= {self.major}) }}'")

    def tools(self): return ("containerd",)
