"""What the screens share: the answers being edited (saved to the install directory as you go),
and the services the App is given (cluster reader, OpenID reader, install plan), so tests can hand
it fast fakes. Nothing here imports Textual; every function that blocks is meant for a worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from wizard import validate as v
from wizard.settings import FIELDS, FIELDS_BY_PATH, REQUIRED, FieldError, value_at, set_value_at

from wizard.installdir import ANSWERS_FILE as ANSWERS, SECRET_FILE  # the one place that names them


# --- the answers being edited ------------------------------------------------------------------

def default_of(path: str, answers: dict) -> Any:
    """The default a field shows, given the answers so far ("" where the answer is required)."""
    spec = FIELDS_BY_PATH[path]
    default = spec.default(answers) if callable(spec.default) else spec.default
    return "" if default is REQUIRED or default is None else default


# The fields each step screen asks, in the order of the steps (screens/app.py's STEPS): the cluster
# screen reads the context, runtime and nodes from the cluster. A test checks the screens compose these.
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "cluster": ("cluster.context", "cluster.namespace", "cluster.release", "cluster.runtime", "cluster.nodes"),
    "network": ("profile", "network.public_ip", "network.domain", "network.binder_host", "network.hub_host",
                "tls.acme_email", "tls.acme_server"),
    "ingress_storage": ("ingress.controller", "network.expose", "storage.provisioner", "storage.storage_class"),
    "registry": ("registry.type", "registry.url", "registry.allow_http", "registry.username", "registry.password",
                 "registry.host", "registry.storage_size", "registry.image_prefix"),
    "login": ("auth.type", "auth.keycloak_url", "auth.allow_http", "auth.realm", "auth.client_id",
              "auth.client_secret", "auth.admin_users", "auth.allow_all", "auth.allowed_users",
              "auth.allowed_groups", "auth.pass_tokens", "auth.login_service"),
    "hub": ("hub.named_servers", "hub.named_server_limit", "hub.cull.enabled", "hub.cull.timeout",
            "hub.database.type", "hub.database.url", "hub.database.password", "hub.user_storage.enabled",
            "hub.user_storage.capacity", "hub.resources.cpu_limit", "hub.resources.memory_limit",
            "hub.resources.cpu_guarantee", "hub.resources.memory_guarantee", "launch.enabled", "launch.repository",
            "launch.ref", "launch.timeout"),
}


def asked_after(step: str) -> tuple[str, ...]:
    """The fields the steps after `step` ask."""
    steps = list(STEP_FIELDS)
    return tuple(path for later in steps[steps.index(step) + 1:] for path in STEP_FIELDS[later])


def first_problem_step(answers: "Answers") -> str | None:
    """The first step (a key of STEP_FIELDS, as screens/app.py's STEPS name them) whose screen
    shows a problem, or None: where Continue should open."""
    for step, paths in STEP_FIELDS.items():
        shown = [path for path in paths if answers.applies(path)]
        if answers.problems(shown, later=asked_after(step)):
            return step
    return None


def from_text(path: str, text: str) -> Any:
    """The value of what was typed into a field, parsed by the core for the field's kind; the text
    itself where it does not parse (the field then shows the core's reason)."""
    try:
        return FIELDS_BY_PATH[path].parse(text)
    except FieldError:
        return text


def to_text(value: Any) -> str:
    """A value as the review lists it (a field's editor shows `Field.format`)."""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if value is None:
        return ""
    return str(value)


def problem_text(err: v.Invalid) -> str:
    return f"{err.why}" + (f" (allowed: {err.allowed})" if err.allowed else "")


class Answers:
    """The raw answers as typed, secrets kept apart (in memory only: they reach secret.yaml
    through export, never answers.yaml). `save` writes answers.yaml atomically."""

    def __init__(self, directory: Path, raw: dict | None = None, secrets: dict[str, str] | None = None):
        self.directory = directory
        self.raw: dict = {}
        self.secrets: dict[str, str] = dict(secrets or {})
        self._problems_key: tuple = ()
        self._problems: dict[str, str] = {}
        for spec in FIELDS:
            if spec.secret:
                continue
            given = value_at(raw or {}, spec.path, _MISSING)
            set_value_at(self.raw, spec.path, given if given is not _MISSING else default_of(spec.path, self.raw))
        for section in ("versions", "charts"):
            if raw and isinstance(raw.get(section), dict) and raw[section]:
                self.raw[section] = dict(raw[section])

    @classmethod
    def load(cls, directory: Path) -> "Answers":
        """What the directory holds: its answers (if readable) and its stored secrets."""
        raw, stored = None, {}
        # Imported only when there is something to read: a new install starts quicker.
        if (directory / ANSWERS).exists():
            from wizard.export import AnswersError, read_answers_file

            try:
                raw = read_answers_file(directory / ANSWERS)
            except AnswersError:
                raw = None
        if (directory / SECRET_FILE).exists():
            from wizard.secretstore import SecretFileError, read_stored

            try:
                stored = read_stored(directory)
            except SecretFileError:
                stored = {}
        secrets = {path: value for path, value in stored.items() if path in FIELDS_BY_PATH}
        return cls(directory, raw if isinstance(raw, dict) else None, secrets)

    def get(self, path: str) -> Any:
        if FIELDS_BY_PATH[path].secret:
            return self.secrets.get(path, "")
        return value_at(self.raw, path)

    def set(self, path: str, value: Any) -> None:
        if FIELDS_BY_PATH[path].secret:
            self.secrets[path] = value
        else:
            set_value_at(self.raw, path, value)

    def combined(self) -> dict:
        """The answers that apply, secrets in: what export takes."""
        merged = self._without(lambda path: not self.applies(path))
        for path, value in self.secrets.items():
            if value and self.applies(path):
                set_value_at(merged, path, value)
        return merged

    def public(self) -> dict:
        """What answers.yaml holds: no secrets; a field that does not apply only if it has a value
        (kept for when it applies again)."""
        return self._without(lambda path: not self.applies(path) and self.get(path) in ("", None))

    def _without(self, drop: Callable[[str], bool]) -> dict:
        import copy

        out: dict = {}
        for spec in FIELDS:
            if spec.secret or drop(spec.path):
                continue
            value = value_at(self.raw, spec.path, _MISSING)
            if value is not _MISSING:
                set_value_at(out, spec.path, copy.deepcopy(value))
        for section in ("versions", "charts"):
            if self.raw.get(section):
                out[section] = dict(self.raw[section])
        return out

    def applies(self, path: str) -> bool:
        return FIELDS_BY_PATH[path].applies(self.raw)

    def problems(self, paths: Iterable[str], later: Iterable[str] = ()) -> dict[str, str]:
        """The core's problems of these fields (settings.problems), the rules across fields
        included; computed once for each state of the answers."""
        from wizard.settings import problems

        key = (tuple(paths), tuple(later), repr(self.raw), repr(sorted(self.secrets.items())))
        if key != self._problems_key:
            self._problems_key, self._problems = key, problems(self.combined(), key[0], key[1])
        return self._problems

    def problem(self, path: str) -> str | None:
        """Why the current value of one field is refused, or None."""
        return self.problems((path,)).get(path)

    def save(self) -> None:
        from wizard.installdir import write_atomic
        from wizard.yamlio import dumps

        write_atomic(self.directory / ANSWERS, "# Saved by the wizard as you type; no secrets here.\n"
                     + dumps(self.public()), 0o644)


_MISSING = object()


# --- the cluster, as the Cluster screen shows it ---------------------------------------------

@dataclass
class NodeInfo:
    name: str
    runtime: str
    addresses: list[tuple[str, str]]   # (type, address)
    ready: bool = True


@dataclass
class ClusterInfo:
    contexts: list[str] = field(default_factory=list)
    current: str = ""
    version: str = ""
    nodes: list[NodeInfo] = field(default_factory=list)
    storage_classes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def runtime(self) -> str:
        runtimes = [n.runtime for n in self.nodes if n.runtime]
        return "docker" if runtimes and all(r.startswith("docker://") for r in runtimes) else "containerd"

    def suggested_ip(self) -> str:
        """A node's external address, else its internal one: the one ports 80 and 443 reach."""
        for wanted in ("ExternalIP", "InternalIP"):
            for node in self.nodes:
                for kind, address in node.addresses:
                    if kind == wanted:
                        try:
                            return v.ip_address(address).value
                        except v.Invalid:
                            continue
        return ""


def read_cluster(context: str | None, kubeconfig: str | None = None) -> ClusterInfo:
    """Contexts of the kubeconfig, and what the chosen one sees. Blocking: run it in a worker."""
    import os

    info = ClusterInfo()
    # Explicitly: the client reads KUBECONFIG once, when it is first imported.
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None
    try:
        from kubernetes import config

        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
        info.contexts = [c["name"] for c in contexts]
        info.current = (active or {}).get("name", "")
    except Exception as err:  # noqa: BLE001 - no kubeconfig is an answer, not a crash
        info.error = f"no kubeconfig could be read ({err.__class__.__name__}: {str(err)[:120]})"
        return info
    try:
        from wizard.kube import Cluster

        cluster = Cluster(kubeconfig, context or None, request_timeout=8)
        code = cluster.plain(cluster.call(cluster.version_api.get_code))
        info.version = code.get("gitVersion", "")
        for node in cluster.items(cluster.core.list_node):
            status = node.get("status") or {}
            ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
            info.nodes.append(NodeInfo(node["metadata"]["name"],
                                       (status.get("nodeInfo") or {}).get("containerRuntimeVersion", ""),
                                       [(a.get("type", ""), a.get("address", "")) for a in status.get("addresses") or []],
                                       ready))
        info.storage_classes = [sc["metadata"]["name"] for sc in cluster.items(cluster.storage.list_storage_class)]
    except Exception as err:  # noqa: BLE001
        from wizard.kube import api_error_text

        info.error = f"the cluster does not answer ({api_error_text(err)[:160]})"
    return info


# --- the Keycloak test ---------------------------------------------------------------------------

class OpenIDError(Exception):
    pass


def read_openid(keycloak_url: str, realm: str, timeout: float = 10) -> str:
    """Read the realm's OpenID configuration; what it found, or OpenIDError with why not."""
    import json
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    url = f"{keycloak_url.rstrip('/')}/realms/{quote(realm, safe='')}/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http(s) only, checked
            body = answer.read(1_000_000)
    except urllib.error.HTTPError as err:
        hint = " (no such realm? Keycloak older than 17 needs /auth in the URL)" if err.code == 404 else ""
        raise OpenIDError(f"{url} answered HTTP {err.code}{hint}") from None
    except urllib.error.URLError as err:
        raise OpenIDError(f"{url} could not be reached: {err.reason}") from None
    except (OSError, ValueError) as err:
        raise OpenIDError(f"{url} could not be read: {err.__class__.__name__}") from None
    try:
        data = json.loads(body)
        issuer, authorize = data["issuer"], data["authorization_endpoint"]
    except (ValueError, KeyError, TypeError):
        raise OpenIDError(f"{url} is not an OpenID configuration") from None
    return f"found realm {realm}: issuer {issuer}, login at {authorize}"


# --- review and status: the core's session, as the screens show it -----------------------------

@dataclass
class ReviewData:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)       # rendered files that differ from DIR's
    stale: dict[str, str] = field(default_factory=dict)    # stage -> why it will run
    stages: list[str] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)  # stage -> what a run would do with it
    commands: list[str] = field(default_factory=list)       # only those a run would run
    refused: str = ""                                       # preflight refused: a real run stops there
    what_changes: list[str] = field(default_factory=list)   # wizard.upgrade.format_changes: files, objects


def review_data(answers: Answers, plan: Callable, options=None) -> ReviewData:
    """The session's preview of a run with these answers (a dry run in a scratch copy: DIR is not
    touched), as the Review screen shows it; `wizard install --dry-run` prints the same."""
    from wizard.session import REFUSED, AnswersProblems, InstallSession

    session = InstallSession(answers.directory, raw=answers.combined(), plan=plan, options=options)
    try:
        preview = session.preview()
    except AnswersProblems as err:
        return ReviewData(problems=err.problems, warnings=err.warnings)
    except REFUSED as err:  # a corrupt secret.yaml, a state from a newer wizard: said, not hung on
        return ReviewData(problems=[str(err)])
    commands = []
    for index, (stage, command) in enumerate(preview.commands):
        commands.append(f"[{stage}] {command}")
        commands += [f"    ({note})" for note in preview.notes.get(index, ())]
    return ReviewData(warnings=preview.warnings, files=preview.files, changed=preview.changed,
                      stale=preview.stale, stages=[s.name for s in preview.stages],
                      verdicts={s.name: preview.verdict(s.name) for s in preview.stages}, commands=commands,
                      refused=str(preview.refused) if preview.refused is not None else "",
                      what_changes=_what_changes(preview))


def _what_changes(preview) -> list[str]:
    from wizard.upgrade import format_changes

    return format_changes(preview.changes) if preview.changes else []


def directory_status(directory: Path, plan: Callable) -> list[tuple[str, str, str]]:
    """(stage, status, note) for each stage, as `wizard status` shows them (stale included)."""
    from wizard.session import InstallSession

    report = InstallSession(directory, plan=plan).status()
    return [(row.name, row.status, row.note) for row in report.stages]
