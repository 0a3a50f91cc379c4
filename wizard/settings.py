"""The answers model: every field (its kind, default and validator), and the rules across fields.

A field's kind (`KINDS`) says how it is typed in: `Field.parse` turns text into its value and
`Field.format` the value back into text, for the TUI and the prompts alike. `load_answers` turns
the raw answers (a mapping from YAML or the UI) into `Settings`, or returns every problem at once:
each field's own, and those of every rule across fields (`RULES`) whose fields are valid.
`problems(raw, paths)` gives the problems of the fields a screen shows, rules across fields
included; `check_field` checks one field alone, as you type. Secrets (kind `secret`) are never
echoed in a problem message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator

from . import redact, validate as v
from .charts import CHARTS, RENAMED_CHARTS

REQUIRED = object()  # sentinel default: the field must be answered (when it applies)

INGRESS_NGINX_RETIRED = (
    "ingress-nginx is retired upstream: no releases or security fixes after March 2026. Its last release "
    "(chart 4.14.5, controller 1.14.5, pinned here) has the fixes for CVE-2026-1580 and CVE-2026-24512 "
    "(1.14.3) and CVE-2026-3288 (1.14.4), and none for anything found since; traefik serves the same "
    "Ingress objects and is maintained")


# network.expose: how the ingress controller's Service is reached on the public IP, and in one line why.
EXPOSE_MODES = {
    "load-balancer": "no load balancer needed; the default",
    "external-ips": "older clusters; deprecated in 1.36",
    "metallb": "MetalLB installed: it announces the IP",
}


# How a field is typed in and shown: the core parses text into the value and formats it back.
# text and secret (never shown) are any text; int a whole number; number a decimal (CPUs, also
# Kubernetes' 500m); bool true/false (yes/no); list names split at commas or spaces; size a byte
# quantity as Kubernetes writes it (10Gi); choice one of the validator's choices.
KINDS = ("text", "secret", "int", "number", "bool", "list", "size", "choice")

_INT = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)")
_MILLI = re.compile(r"\d+m")
_TRUE, _FALSE = ("true", "yes", "y", "on"), ("false", "no", "n", "off")


class FieldError(v.Invalid):
    """Text a field cannot take: names the field, why, and what is allowed."""

    def __init__(self, path: str, why: str, allowed: str):
        super().__init__(why, allowed)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.why}" + (f" (allowed: {self.allowed})" if self.allowed else "")


@dataclass(frozen=True)
class Field:
    path: str
    check: Callable[[Any], v.Checked]
    default: Any = None              # a value, REQUIRED, or a function of the settings so far
    help: str = ""
    kind: str = "text"               # one of KINDS
    applies: Callable[[dict], bool] = lambda answers: True  # required only where it applies
    advanced: bool = False           # the prompts ask it only when advanced questions are wanted

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.path}: kind {self.kind!r} is not one of {KINDS}")

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(getattr(self.check, "choices", ()))

    def parse(self, text: str) -> Any:
        """The value of text typed for this field, or FieldError. Only the kind is checked here:
        whether the value is allowed is the validator's (`check`)."""
        stripped = text.strip()
        if self.kind == "int" and _INT.fullmatch(stripped):
            return int(stripped)
        if self.kind == "number":
            if _INT.fullmatch(stripped):
                return int(stripped)
            if _DECIMAL.fullmatch(stripped):
                return float(stripped)
            if _MILLI.fullmatch(stripped):
                return int(stripped[:-1]) / 1000
        if self.kind == "bool" and stripped.lower() in _TRUE + _FALSE:
            return stripped.lower() in _TRUE
        if self.kind == "list":
            return [item for item in text.replace(",", " ").split() if item]
        if self.kind == "choice" and text in self.choices:
            return text
        if self.kind in ("text", "secret", "size"):
            return text
        raise self._refused(text)

    def _refused(self, text: str) -> FieldError:
        # The validator says why in its own words (it refuses text where a number is wanted).
        try:
            self.check(text)
        except v.Invalid as err:
            return FieldError(self.path, err.why, err.allowed)
        return FieldError(self.path, f"is not {self.kind}", self.kind)

    def format(self, value: Any) -> str:
        """The value as text, as the field shows it; `parse(format(value))` gives it back."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return str(value)

    def read(self, text: str, answers: dict | None = None) -> v.Checked:
        """Parse text and check the value alone (a text box is styled by it as you type); rules
        across fields are `problems`. Raises FieldError."""
        try:
            return check_field(self.path, self.parse(text), answers)
        except FieldError:
            raise
        except v.Invalid as err:
            raise FieldError(self.path, err.why, err.allowed) from None


def value_at(answers: dict, path: str, default: Any = None) -> Any:
    """The answer at a dotted path ("hub.cull.timeout"), or `default` where the path is missing."""
    node: Any = answers
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def set_value_at(answers: dict, path: str, value: Any) -> None:
    """Set the answer at a dotted path, making the sections on the way."""
    parts = path.split(".")
    node = answers
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _production(a: dict) -> bool:
    return value_at(a, "profile") == "production"


def _is(path: str, *values: Any) -> Callable[[dict], bool]:
    return lambda a: value_at(a, path) in values


def _both(*conditions: Callable[[dict], bool]) -> Callable[[dict], bool]:
    return lambda a: all(cond(a) for cond in conditions)


def _https_url(path_of_flag: str, what: str = "", validator: Callable[..., v.Checked] | None = None):
    """A URL check whose allow_http comes from another answer (the field before it)."""
    def check(value: Any, answers: dict | None = None) -> v.Checked:
        allow_http = bool(value_at(answers or {}, path_of_flag, False))
        if validator is not None:
            return validator(value, allow_http=allow_http)
        return v.url(value, allow_http=allow_http, what=what)
    check.needs_answers = True
    return check


_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_GIT_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$")


def _github_repository(value: Any) -> v.Checked:
    allowed = "ORG/NAME of a public GitHub repository, e.g. binder-examples/requirements"
    text = v.line(value, what="a GitHub repository").value
    if not _GITHUB_REPOSITORY.match(text) or text.endswith((".git", "/.", "/..")):
        raise v.Invalid("is not ORG/NAME of a GitHub repository", allowed)
    return v.Checked(text)


def _git_ref(value: Any) -> v.Checked:
    allowed = "a branch, tag or commit: letters, digits, '.', '_', '-' and '/', at most 200, no '..'"
    text = v.line(value, what="a git ref").value
    if not _GIT_REF.match(text) or ".." in text or text.endswith(("/", ".lock")):
        raise v.Invalid("is not a git branch, tag or commit", allowed)
    return v.Checked(text)


def _host_default(prefix: str):
    return lambda a: f"{prefix}.{a['network']['domain']}" if value_at(a, "network.domain") else ""


def url_host(url: str) -> str:
    """host[:port] of a URL ("" where it has no scheme)."""
    return url.split("://", 1)[1].split("/", 1)[0] if "://" in url else ""


def _registry_url_default(a: dict) -> str:
    if value_at(a, "registry.type") == "in-cluster" and value_at(a, "network.domain"):
        return f"https://{value_at(a, 'registry.host')}"
    return REQUIRED if value_at(a, "registry.type") == "external" else ""


def _image_prefix_default(a: dict) -> Any:
    kind = value_at(a, "registry.type")
    if kind == "in-cluster" and value_at(a, "registry.host"):
        return f"{value_at(a, 'registry.host')}/binder/r2d-"
    if kind == "none":
        return "local/r2d-"
    return REQUIRED


FIELDS: tuple[Field, ...] = (
    Field("profile", v.one_of("production", "local"), "production",
          "production: domain names and Let's Encrypt certificates; local: plain HTTP on the public IP, "
          "for trying things only", kind="choice"),
    Field("cluster.context", lambda x: v.Checked("") if x == "" else v.line(x, what="a kubeconfig context"),
          "", "kubeconfig context to use; empty for the current one", advanced=True),
    Field("cluster.namespace", v.k8s_name, "binder", "namespace for BinderHub and JupyterHub"),
    Field("cluster.release", v.helm_release, "binder", "helm release name of BinderHub", advanced=True),
    Field("cluster.runtime", v.one_of("containerd", "docker"), "containerd",
          "container runtime of the nodes (the install reads it from the cluster); chooses the image builder",
          kind="choice", advanced=True),
    Field("cluster.nodes", lambda x: v.whole_number(x, minimum=1, maximum=5000), 1,
          "how many nodes the cluster has (the install reads it); with one, the image cleaner must not cordon it",
          kind="int", advanced=True),
    Field("network.public_ip", v.ip_address, REQUIRED,
          "the node address that receives ports 80 and 443 (the ingress controller's Service address)"),
    Field("network.expose", v.one_of(*EXPOSE_MODES), "load-balancer",
          "how the ingress controller's Service gets the public IP: load-balancer (a LoadBalancer Service of a "
          "class no controller serves, its address written by the wizard), external-ips (spec.externalIPs, the "
          "original way: deprecated in Kubernetes 1.36, denied where DenyServiceExternalIPs is on) or metallb "
          "(MetalLB, installed already, announces it from a pool of the public IP alone)", kind="choice"),
    Field("network.domain", lambda x: v.Checked("") if x == "" else v.dns_name(x), lambda a: REQUIRED if _production(a) else "",
          "your domain; binder and hub hosts default to binder.DOMAIN and hub.DOMAIN", applies=_production),
    Field("network.binder_host", v.dns_name, _host_default("binder"), "host name of the BinderHub page",
          applies=_production),
    Field("network.hub_host", v.dns_name, _host_default("hub"), "host name of JupyterHub", applies=_production),
    Field("tls.acme_email", v.email, lambda a: REQUIRED if _production(a) else "",
          "e-mail for Let's Encrypt (expiry notices)", applies=_production),
    Field("tls.acme_server", v.acme_server, "production",
          "production, staging (untrusted test certificates, generous rate limits) or an ACME directory URL"),
    Field("ingress.controller", v.one_of("traefik", "ingress-nginx"), "traefik",
          "traefik (maintained) or ingress-nginx (retired upstream since March 2026)", kind="choice"),
    Field("storage.provisioner", v.one_of("openebs", "existing"), "openebs",
          "openebs: install OpenEBS Local PV hostpath; existing: use a StorageClass the cluster has", kind="choice"),
    Field("storage.storage_class", v.k8s_subdomain,
          lambda a: "openebs-hostpath" if value_at(a, "storage.provisioner") == "openebs" else REQUIRED,
          "StorageClass for the hub database and user storage (made the only default)"),
    Field("registry.type", v.one_of("external", "in-cluster", "none"), "external",
          "where built images go: an external registry, one deployed in the cluster, or none "
          "(only where the node runtime is Docker)", kind="choice"),
    Field("registry.allow_http", v.boolean, False, "allow a plain-http registry URL (needs node configuration)",
          kind="bool", advanced=True),
    Field("registry.host", v.registry_host, _host_default("registry"),
          "host of the in-cluster registry's Ingress", applies=_is("registry.type", "in-cluster")),
    Field("registry.storage_size", v.size, "50Gi",
          "size of the in-cluster registry's volume (on storage.storage_class); built images pile up there",
          applies=_is("registry.type", "in-cluster"), kind="size"),
    Field("registry.url", _https_url("registry.allow_http", "registry URL"), _registry_url_default,
          "registry URL, e.g. https://registry.example.org", applies=_is("registry.type", "external")),
    Field("registry.username", lambda x: v.line(x, what="a registry user name"),
          lambda a: "binder" if value_at(a, "registry.type") == "in-cluster" else REQUIRED,
          "registry user (a robot account)", applies=_is("registry.type", "external", "in-cluster")),
    Field("registry.password", v.secret_text, REQUIRED, "registry password or token", kind="secret",
          applies=_is("registry.type", "external")),
    Field("registry.image_prefix", v.image_prefix, _image_prefix_default,
          "HOST/PROJECT/PREFIX- for built images", applies=_is("registry.type", "external", "in-cluster")),
    Field("auth.type", v.one_of("keycloak", "none"), "keycloak", "keycloak: log in through Keycloak; none: anonymous",
          kind="choice"),
    Field("auth.allow_http", v.boolean, False, "allow a plain-http Keycloak URL", kind="bool", advanced=True),
    Field("auth.keycloak_url", _https_url("auth.allow_http", validator=v.keycloak_url), REQUIRED,
          "Keycloak base URL (with /auth for Keycloak older than 17)", applies=_is("auth.type", "keycloak")),
    Field("auth.realm", v.keycloak_realm, REQUIRED, "Keycloak realm", applies=_is("auth.type", "keycloak")),
    Field("auth.client_id", lambda x: v.line(x, what="a client id"), "binderhub", "Keycloak client id",
          applies=_is("auth.type", "keycloak")),
    Field("auth.client_secret", v.secret_text, REQUIRED, "Keycloak client secret (confidential client)",
          kind="secret", applies=_is("auth.type", "keycloak")),
    Field("auth.login_service", lambda x: v.line(x, what="a button label", max_length=64), "Keycloak",
          "label of the login button", advanced=True),
    Field("auth.admin_users", lambda x: v.name_list(x, what="user names"), [], "hub admins (Keycloak user names)",
          kind="list"),
    Field("auth.allow_all", v.boolean, False, "let every user of the realm log in", kind="bool"),
    Field("auth.allowed_users", lambda x: v.name_list(x, what="user names"), [], "users allowed to log in",
          kind="list"),
    Field("auth.allowed_groups", lambda x: v.name_list(x, what="group names"), [],
          "Keycloak groups allowed to log in (needs a groups claim in the token)", kind="list"),
    Field("auth.pass_tokens", v.boolean, True,
          "put the user's Keycloak access token into their servers, kept fresh by the hub", kind="bool"),
    Field("hub.named_servers", v.boolean, True, "allow several servers per user (one per Binder launch)",
          kind="bool"),
    Field("hub.named_server_limit", lambda x: v.whole_number(x, maximum=1000), 5,
          "servers per user; 0 for no limit", kind="int", advanced=True),
    Field("hub.cull.enabled", v.boolean, True,
          "stop servers idle for hub.cull.timeout: otherwise every launch keeps its pod, and the node fills up",
          kind="bool"),
    Field("hub.cull.timeout", lambda x: v.whole_number(x, minimum=60, maximum=31_536_000, unit=" seconds"), 3600,
          "idle seconds before a server is stopped", kind="int", advanced=True),
    Field("hub.database.type", v.one_of("sqlite-pvc", "postgres"), "sqlite-pvc", "hub database", kind="choice"),
    Field("hub.database.url", v.postgres_url, REQUIRED, "postgresql://USER@HOST:5432/DB",
          applies=_is("hub.database.type", "postgres")),
    Field("hub.database.password", v.secret_text, REQUIRED, "database password", kind="secret",
          applies=_is("hub.database.type", "postgres")),
    Field("hub.user_storage.enabled", v.boolean, True, "a persistent volume per user", kind="bool"),
    Field("hub.user_storage.capacity", v.size, "10Gi", "size of each user's volume", kind="size"),
    Field("hub.resources.cpu_limit", v.cpu, 2, "CPUs a user server may use", kind="number", advanced=True),
    Field("hub.resources.memory_limit", v.size, "4G", "memory a user server may use", kind="size", advanced=True),
    Field("hub.resources.cpu_guarantee", v.cpu, 0.5, "CPUs reserved for each user server",
          kind="number", advanced=True),
    Field("hub.resources.memory_guarantee", v.size, "1G", "memory reserved for each user server",
          kind="size", advanced=True),
    Field("launch.enabled", v.boolean, True, "after the install, build and launch a small repository as a user "
          "would (the launch stage), then stop it", kind="bool", advanced=True),
    Field("launch.repository", lambda x: _github_repository(x), "binder-examples/requirements",
          "the public GitHub repository (ORG/NAME) the launch check builds", advanced=True),
    Field("launch.ref", lambda x: _git_ref(x), "HEAD", "its branch, tag or commit", advanced=True),
    Field("launch.timeout", lambda x: v.whole_number(x, minimum=30, maximum=7200, unit=" seconds"), 900,
          "how long the launch check waits for the server (a first build takes minutes)", kind="int",
          advanced=True),
)

FIELDS_BY_PATH = {f.path: f for f in FIELDS}
SECRET_PATHS = tuple(f.path for f in FIELDS if f.secret)
# Free-form mappings: chart name -> version / source.
MAP_SECTIONS = {"versions": v.chart_version, "charts": None}


@dataclass(frozen=True)
class Problem:
    path: str
    shown: str          # the value as shown to the user ("(hidden)" for secrets)
    why: str
    allowed: str
    warning: bool = False
    involves: tuple[str, ...] = ()   # for a rule across fields: the fields it compares

    def __str__(self) -> str:
        value = f" = {self.shown}" if self.shown else ""
        return f"{self.path}{value}: {self.why}" + (f" (allowed: {self.allowed})" if self.allowed else "")


@dataclass
class LoadResult:
    settings: "Settings | None"
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.settings is not None


def shown(path: str, value: Any) -> str:
    """How a value appears in a message: secrets never, long values shortened."""
    spec = FIELDS_BY_PATH.get(path)
    if spec is not None and spec.secret:
        return "(hidden)"
    if isinstance(value, str):
        # A URL may carry a password (postgresql://user:PASSWORD@host), whatever its characters.
        value = redact.hide_url_credentials(value)
    return v._show(value)


def check_field(path: str, value: Any, answers: dict | None = None) -> v.Checked:
    """Check one field alone (the UI calls this as you type). Raises validate.Invalid."""
    spec = FIELDS_BY_PATH[path]
    if getattr(spec.check, "needs_answers", False):
        return spec.check(value, answers or {})
    return spec.check(value)


def load_answers(raw: Any, stored_secrets: dict[str, str] | None = None) -> LoadResult:
    """Validate and complete raw answers. `stored_secrets` (path -> value) fill secrets left out.
    Every problem at once: each field's own, and those of every rule across fields whose fields
    are valid (`RULES`)."""
    if raw is None:
        raw = {}
    # Known before any message is made: secrets as given, and passwords written into URLs.
    redact.remember_answers(raw)
    redact.remember(*[value for spec in FIELDS if spec.secret
                      for value in [value_at(raw, spec.path)] if isinstance(value, str)])
    return _load(raw, stored_secrets)


def problems(raw: dict, paths: Iterable[str], later: Iterable[str] = ()) -> dict[str, str]:
    """The problems of the fields a screen or prompt shows, as {path: message}: each field's own,
    and those of the rules across fields that read them. A rule's problem goes beside the field it
    names; where that field is not among `paths`, beside the last field of the rule that is, naming
    the other field. A rule that reads a field asked `later` waits: it is shown where the last of
    its fields is asked. Answers still being typed: secrets in them are not remembered for masking."""
    shown_paths = list(paths)
    deferred = set(later)
    found: dict[str, list[str]] = {}
    for problem in _load(raw, None).problems:
        if deferred.intersection(problem.involves) or problem.path in deferred:
            continue
        if problem.path in shown_paths:
            key, text = problem.path, _why(problem)
        else:
            beside = [path for path in shown_paths if path in problem.involves]
            if not beside:
                continue
            key, text = beside[-1], f"{problem.path} {_why(problem)}"
        found.setdefault(key, []).append(text)
    return {path: "; ".join(texts) for path, texts in found.items()}


def problem_paths(raw: dict) -> list[str]:
    """Every field with a problem, in the order of FIELDS (a rule's problem at the field it names)."""
    paths = {problem.path for problem in _load(raw, None).problems}
    return [spec.path for spec in FIELDS if spec.path in paths]


def _why(problem: Problem) -> str:
    return problem.why + (f" (allowed: {problem.allowed})" if problem.allowed else "")


def _load(raw: Any, stored_secrets: dict[str, str] | None) -> LoadResult:
    result = LoadResult(None)
    if not isinstance(raw, dict):
        result.problems.append(Problem("(answers)", "", "the answers file is not a mapping of sections",
                                       "sections such as network:, tls:, auth:"))
        return result
    _reject_unknown(raw, result)
    answers: dict = {}
    for spec in FIELDS:
        given = value_at(raw, spec.path, _MISSING)
        if given is _MISSING and spec.secret and stored_secrets and spec.path in stored_secrets:
            given = stored_secrets[spec.path]
        if given is _MISSING or (given is None and spec.default is not REQUIRED):
            default = spec.default(answers) if callable(spec.default) else spec.default
            if default is REQUIRED:
                if spec.applies(answers):
                    result.problems.append(Problem(spec.path, "", "is required", spec.help))
                continue
            set_value_at(answers, spec.path, list(default) if isinstance(default, list) else default)
            continue
        try:
            checked = check_field(spec.path, given, answers)
        except v.Invalid as err:
            result.problems.append(Problem(spec.path, shown(spec.path, given), err.why, err.allowed))
            continue
        if checked.note:
            result.warnings.append(Problem(spec.path, shown(spec.path, checked.value), checked.note, "", True))
        set_value_at(answers, spec.path, checked.value)
    for section, check in MAP_SECTIONS.items():
        answers[section] = _load_chart_map(raw.get(section), section, check, result)
    given = _given_paths(raw)
    _cross_checks(answers, result, given)
    if not result.problems:
        result.settings = Settings(answers, given=given)
    return result


def _given_paths(raw: dict) -> frozenset[str]:
    return frozenset(spec.path for spec in FIELDS if value_at(raw, spec.path, _MISSING) is not _MISSING)


_MISSING = object()


def _reject_unknown(raw: dict, result: LoadResult) -> None:
    sections: dict[str, set[str]] = {}
    for spec in FIELDS:
        sections.setdefault(spec.section, set()).add(spec.path)
    for key, value in raw.items():
        if key in MAP_SECTIONS:
            continue
        if key not in sections:
            allowed = ", ".join(sorted(set(sections) | set(MAP_SECTIONS)))
            result.problems.append(Problem(str(key), "", "is not a known section or key", allowed))
            continue
        if key == "profile":
            continue
        if not isinstance(value, dict):
            if value is not None:
                result.problems.append(Problem(key, "", "is not a mapping", f"keys of {key}:"))
            continue
        _reject_unknown_keys(key, value, sections[key], result)


def _reject_unknown_keys(prefix: str, mapping: dict, known: set[str], result: LoadResult) -> None:
    for key, value in mapping.items():
        path = f"{prefix}.{key}"
        if path in known:
            continue
        below = {p for p in known if p.startswith(path + ".")}
        if below and isinstance(value, dict):
            _reject_unknown_keys(path, value, below, result)
            continue
        siblings = sorted({p[len(prefix) + 1:].split(".")[0] for p in known if p.startswith(prefix + ".")})
        result.problems.append(Problem(path, "", "is not a known key", ", ".join(siblings)))


def _load_chart_map(value: Any, section: str, check: Callable | None, result: LoadResult) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        result.problems.append(Problem(section, "", "is not a mapping", "chart name: value"))
        return {}
    loaded: dict[str, str] = {}
    for name, item in value.items():
        path = f"{section}.{name}"
        if name in RENAMED_CHARTS:
            new = RENAMED_CHARTS[name]
            result.problems.append(Problem(path, v._show(item), f"the {name} umbrella chart is no longer installed: "
                                           f"the wizard installs OpenEBS Local PV hostpath from its own chart, {new}, "
                                           "whose versions and sources differ", f"{section}.{new}"))
            continue
        if name not in CHARTS:
            result.problems.append(Problem(path, "", "is not a chart the wizard installs", ", ".join(CHARTS)))
            continue
        try:
            loaded[name] = (check(item) if check else _chart_source(item)).value
        except v.Invalid as err:
            result.problems.append(Problem(path, shown(path, item), err.why, err.allowed))
    return loaded


def _chart_source(value: Any) -> v.Checked:
    text = v.line(value, what="a chart source", max_length=1024).value
    if text.startswith("oci://"):
        if len(text) <= len("oci://") or " " in text:
            raise v.Invalid("is not an OCI reference", "oci://REGISTRY/PATH/CHART")
        return v.Checked(text)
    if text.startswith(("https://", "http://")):
        return v.url(text, allow_http=True, what="chart repository URL")
    return v.Checked(text)  # a local chart directory or .tgz; its existence is checked at install


def _staging(acme_server: str) -> bool:
    """Let's Encrypt staging, by name or by its directory URL (acme-staging-v02.api.letsencrypt.org)."""
    return acme_server == "staging" or "://acme-staging" in acme_server


@dataclass(frozen=True)
class Rule:
    """A rule across fields: it runs once every field it `reads` has a valid value (whatever else
    failed), and reports on one of them (the one to change, on the latest screen where it can)."""

    reads: tuple[str, ...]
    check: Callable[[dict, frozenset[str]], Iterator[Problem]]


RULES: list[Rule] = []


def _rule(*reads: str):
    def register(check: Callable[[dict, frozenset[str]], Iterator[Problem]]):
        RULES.append(Rule(reads, check))
        return check
    return register


def _problem(a: dict, path: str, why: str, allowed: str) -> Problem:
    return Problem(path, shown(path, value_at(a, path)), why, allowed)


def _warning(a: dict, path: str, why: str) -> Problem:
    return Problem(path, shown(path, value_at(a, path)), why, "", True)


@_rule("profile", "network.binder_host", "network.hub_host")
def _hosts_differ(a, given):
    if _production(a) and a["network"]["binder_host"] == a["network"]["hub_host"]:
        yield _problem(a, "network.hub_host", "is the same as network.binder_host",
                       "two different host names: BinderHub and JupyterHub each need their own")


def _no_name_with_local(path: str) -> None:
    @_rule("profile", path)
    def check(a, given):
        if not _production(a) and value_at(a, path):
            yield _problem(a, path, "is set, but profile local serves plain HTTP on the public IP with no names",
                           "leave it out, or use profile: production")


for _path in ("network.domain", "network.binder_host", "network.hub_host"):
    _no_name_with_local(_path)


@_rule("profile")
def _local_profile(a, given):
    if not _production(a):
        yield _warning(a, "profile", "local is for trying things: plain HTTP, no certificates, not for production")


@_rule("profile", "registry.type")
def _own_registry_needs_names(a, given):
    if not _production(a) and a["registry"]["type"] == "in-cluster":
        yield _problem(a, "registry.type", "in-cluster needs a domain and certificates",
                       "external or none with profile: local, or profile: production")


@_rule("registry.type", "cluster.runtime")
def _registry_none_needs_docker(a, given):
    if a["registry"]["type"] == "none" and a["cluster"]["runtime"] != "docker":
        yield _warning(a, "registry.type", "none works only where the node runtime is Docker; on containerd "
                       "(every kubeadm cluster since Kubernetes 1.24) built images never reach the kubelet, and "
                       "the install refuses it there; use external or in-cluster")


@_rule("ingress.controller")
def _nginx_retired(a, given):
    if a["ingress"]["controller"] == "ingress-nginx":
        yield _warning(a, "ingress.controller", INGRESS_NGINX_RETIRED)


@_rule("registry.type", "registry.url", "registry.image_prefix")
def _prefix_on_registry_host(a, given):
    if a["registry"]["type"] == "external":
        host = url_host(a["registry"]["url"])
        prefix_host = a["registry"]["image_prefix"].split("/", 1)[0]
        if host != prefix_host:
            yield _warning(a, "registry.image_prefix", f"starts with {prefix_host}, not the registry host {host}: "
                           "images are pushed where the prefix says")


@_rule("tls.acme_server", "profile", "registry.type")
def _staging_with_own_registry(a, given):
    if a["registry"]["type"] == "in-cluster" and _production(a) and _staging(a["tls"]["acme_server"]):
        yield _problem(a, "tls.acme_server", "staging certificates are not trusted by containerd or dind, so with "
                       "registry.type in-cluster every push and pull of a built image would fail",
                       "production (Let's Encrypt's trusted certificates), or registry.type external")


@_rule("auth.type", "auth.admin_users", "auth.allowed_users", "auth.allowed_groups", "auth.allow_all")
def _someone_may_log_in(a, given):
    auth = a["auth"]
    if auth["type"] == "keycloak" and not (auth["allow_all"] or auth["allowed_users"] or auth["allowed_groups"]):
        if auth["admin_users"]:
            yield _warning(a, "auth.allow_all", "no allow rule: only the admin users can log in "
                           "(set allow_all, allowed_users or allowed_groups to let others in)")
        else:
            yield _problem(a, "auth.allow_all", "no allow rule: nobody could log in (oauthenticator 16+)",
                           "allow_all: true, or a list in allowed_users or allowed_groups")


@_rule("auth.type", "auth.keycloak_url")
def _keycloak_over_http(a, given):
    if a["auth"]["type"] == "keycloak" and a["auth"]["keycloak_url"].startswith("http://"):
        yield _warning(a, "auth.keycloak_url", "plain http: passwords and tokens cross the network unencrypted")


@_rule("auth.type", "hub.user_storage.enabled")
def _no_storage_without_login(a, given):
    if a["auth"]["type"] == "none" and a["hub"]["user_storage"]["enabled"] and "hub.user_storage.enabled" in given:
        yield _warning(a, "hub.user_storage.enabled", "is ignored without login: anonymous Binder users are "
                       "throwaway accounts, so they get no persistent volume")


@_rule("auth.type", "hub.cull.enabled")
def _cull_without_login(a, given):
    if a["auth"]["type"] == "none" and not a["hub"]["cull"]["enabled"]:
        yield _warning(a, "hub.cull.enabled", "is off without login: every anonymous launch makes a user and a pod "
                       "that nothing stops, until the node is full; turn it on")


@_rule("hub.resources.cpu_limit", "hub.resources.cpu_guarantee")
def _cpu_guarantee_within_limit(a, given):
    res = a["hub"]["resources"]
    if res["cpu_guarantee"] > res["cpu_limit"]:
        yield _problem(a, "hub.resources.cpu_guarantee", "is more than cpu_limit", "at most hub.resources.cpu_limit")


@_rule("hub.resources.memory_limit", "hub.resources.memory_guarantee")
def _memory_guarantee_within_limit(a, given):
    res = a["hub"]["resources"]
    if v.size_in_bytes(res["memory_guarantee"]) > v.size_in_bytes(res["memory_limit"]):
        yield _problem(a, "hub.resources.memory_guarantee", "is more than memory_limit",
                       "at most hub.resources.memory_limit")


@_rule("storage.provisioner", "storage.storage_class")
def _openebs_class(a, given):
    if a["storage"]["provisioner"] == "openebs" and a["storage"]["storage_class"] != "openebs-hostpath":
        yield _problem(a, "storage.storage_class", "must be openebs-hostpath when OpenEBS is installed by the wizard",
                       "openebs-hostpath, or provisioner: existing to use another class")


@_rule("network.binder_host", "network.hub_host", "registry.type", "registry.host")
def _registry_host_of_its_own(a, given):
    if a["registry"]["type"] == "in-cluster" and a["registry"]["host"] in (
            a["network"]["binder_host"], a["network"]["hub_host"]):
        yield _problem(a, "registry.host", "is the same as the binder or hub host", "a host name of its own")


@_rule("registry.type", "registry.host")
def _registry_host_without_port(a, given):
    if a["registry"]["type"] == "in-cluster" and ":" in a["registry"]["host"]:
        yield _problem(a, "registry.host", "has a port, but the in-cluster registry is served by the Ingress on 443",
                       "a host name without a port, such as registry.example.org")


@_rule("registry.type", "registry.username")
def _htpasswd_user_name(a, given):
    if a["registry"]["type"] == "in-cluster" and ":" in a["registry"]["username"]:
        # The in-cluster registry reads user names from an htpasswd file: USER:HASH per line.
        yield _problem(a, "registry.username", "contains ':', which the in-cluster registry's htpasswd file "
                       "cannot hold", "a user name without ':'")


def _cross_checks(a: dict, result: LoadResult, given: frozenset[str]) -> None:
    """Every rule whose fields are all valid, even where other fields failed: all problems at once."""
    for rule in RULES:
        if any(value_at(a, path, _MISSING) is _MISSING for path in rule.reads):
            continue  # a field it reads failed, or is required and missing: that problem is listed already
        for found in rule.check(a, given):
            found = replace(found, involves=rule.reads)
            (result.warnings if found.warning else result.problems).append(found)


class Settings:
    """Validated, complete answers. Attribute access by section: `settings.network.public_ip`."""

    def __init__(self, answers: dict, given: frozenset[str] = frozenset()):
        self.answers = answers
        self.given = given  # paths the user answered (kept on write-back even where they do not apply)
        for section, value in answers.items():
            setattr(self, section, _namespace(value) if isinstance(value, dict) else value)

    def get(self, path: str) -> Any:
        return value_at(self.answers, path)

    @property
    def production(self) -> bool:
        return self.answers["profile"] == "production"

    @property
    def secrets(self) -> dict[str, str]:
        return {path: value_at(self.answers, path) for path in SECRET_PATHS if value_at(self.answers, path) is not None}

    def public_answers(self) -> dict:
        """The answers without secrets, in field order, ready to be written back."""
        out: dict = {}
        for spec in FIELDS:
            if spec.secret or value_at(self.answers, spec.path, _MISSING) is _MISSING:
                continue
            if spec.applies(self.answers) or spec.path in self.given:
                set_value_at(out, spec.path, value_at(self.answers, spec.path))
        for section in MAP_SECTIONS:
            if self.answers.get(section):
                out[section] = dict(self.answers[section])
        return out


def _namespace(mapping: dict) -> SimpleNamespace:
    return SimpleNamespace(**{k: _namespace(val) if isinstance(val, dict) else val for k, val in mapping.items()})
