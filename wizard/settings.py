"""The answers model: every field, its default, its validator, and the checks across fields.

`load_answers` turns the raw answers (a mapping from YAML or the UI) into `Settings`, or returns
every problem at once. `check_field` checks one field alone, for validation as you type.
Secrets (fields marked `secret`) are never echoed in a problem message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

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


@dataclass(frozen=True)
class Field:
    path: str
    check: Callable[[Any], v.Checked]
    default: Any = None              # a value, REQUIRED, or a function of the settings so far
    help: str = ""
    secret: bool = False
    applies: Callable[[dict], bool] = lambda answers: True  # required only where it applies

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]


def _get(answers: dict, path: str, default: Any = None) -> Any:
    node: Any = answers
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _set(answers: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    node = answers
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _production(a: dict) -> bool:
    return _get(a, "profile") == "production"


def _is(path: str, *values: Any) -> Callable[[dict], bool]:
    return lambda a: _get(a, path) in values


def _both(*conditions: Callable[[dict], bool]) -> Callable[[dict], bool]:
    return lambda a: all(cond(a) for cond in conditions)


def _https_url(path_of_flag: str, what: str):
    def check(value: Any, answers: dict | None = None) -> v.Checked:
        return v.url(value, allow_http=bool(_get(answers or {}, path_of_flag, False)), what=what)
    check.needs_answers = True
    return check


def _host_default(prefix: str):
    return lambda a: f"{prefix}.{a['network']['domain']}" if _get(a, "network.domain") else ""


def _registry_url_default(a: dict) -> str:
    if _get(a, "registry.type") == "in-cluster" and _get(a, "network.domain"):
        return f"https://{_get(a, 'registry.host')}"
    return REQUIRED if _get(a, "registry.type") == "external" else ""


def _image_prefix_default(a: dict) -> Any:
    kind = _get(a, "registry.type")
    if kind == "in-cluster" and _get(a, "registry.host"):
        return f"{_get(a, 'registry.host')}/binder/r2d-"
    if kind == "none":
        return "local/r2d-"
    return REQUIRED


FIELDS: tuple[Field, ...] = (
    Field("profile", v.one_of("production", "local"), "production",
          "production: domain names and Let's Encrypt certificates; local: plain HTTP on the public IP, "
          "for trying things only"),
    Field("cluster.context", lambda x: v.Checked("") if x == "" else v.line(x, what="a kubeconfig context"),
          "", "kubeconfig context to use; empty for the current one"),
    Field("cluster.namespace", v.k8s_name, "binder", "namespace for BinderHub and JupyterHub"),
    Field("cluster.release", v.helm_release, "binder", "helm release name of BinderHub"),
    Field("cluster.runtime", v.one_of("containerd", "docker"), "containerd",
          "container runtime of the nodes (the install reads it from the cluster); chooses the image builder"),
    Field("cluster.nodes", lambda x: v.whole_number(x, minimum=1, maximum=5000), 1,
          "how many nodes the cluster has (the install reads it); with one, the image cleaner must not cordon it"),
    Field("network.public_ip", v.ip_address, REQUIRED,
          "the node address that receives ports 80 and 443 (the ingress controller's Service address)"),
    Field("network.expose", v.one_of(*EXPOSE_MODES), "load-balancer",
          "how the ingress controller's Service gets the public IP: load-balancer (a LoadBalancer Service of a "
          "class no controller serves, its address written by the wizard), external-ips (spec.externalIPs, the "
          "original way: deprecated in Kubernetes 1.36, denied where DenyServiceExternalIPs is on) or metallb "
          "(MetalLB, installed already, announces it from a pool of the public IP alone)"),
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
          "traefik (maintained) or ingress-nginx (retired upstream since March 2026)"),
    Field("storage.provisioner", v.one_of("openebs", "existing"), "openebs",
          "openebs: install OpenEBS Local PV hostpath; existing: use a StorageClass the cluster has"),
    Field("storage.storage_class", v.k8s_subdomain,
          lambda a: "openebs-hostpath" if _get(a, "storage.provisioner") == "openebs" else REQUIRED,
          "StorageClass for the hub database and user storage (made the only default)"),
    Field("registry.type", v.one_of("external", "in-cluster", "none"), "external",
          "where built images go: an external registry, one deployed in the cluster, or none "
          "(only where the node runtime is Docker)"),
    Field("registry.allow_http", v.boolean, False, "allow a plain-http registry URL (needs node configuration)"),
    Field("registry.host", v.registry_host, _host_default("registry"),
          "host of the in-cluster registry's Ingress", applies=_is("registry.type", "in-cluster")),
    Field("registry.storage_size", v.size, "50Gi",
          "size of the in-cluster registry's volume (on storage.storage_class); built images pile up there",
          applies=_is("registry.type", "in-cluster")),
    Field("registry.url", _https_url("registry.allow_http", "registry URL"), _registry_url_default,
          "registry URL, e.g. https://registry.example.org", applies=_is("registry.type", "external")),
    Field("registry.username", lambda x: v.line(x, what="a registry user name"),
          lambda a: "binder" if _get(a, "registry.type") == "in-cluster" else REQUIRED,
          "registry user (a robot account)", applies=_is("registry.type", "external", "in-cluster")),
    Field("registry.password", v.secret_text, REQUIRED, "registry password or token", secret=True,
          applies=_is("registry.type", "external")),
    Field("registry.image_prefix", v.image_prefix, _image_prefix_default,
          "HOST/PROJECT/PREFIX- for built images", applies=_is("registry.type", "external", "in-cluster")),
    Field("auth.type", v.one_of("keycloak", "none"), "keycloak", "keycloak: log in through Keycloak; none: anonymous"),
    Field("auth.allow_http", v.boolean, False, "allow a plain-http Keycloak URL"),
    Field("auth.keycloak_url", _https_url("auth.allow_http", "Keycloak URL"), REQUIRED,
          "Keycloak base URL (with /auth for Keycloak older than 17)", applies=_is("auth.type", "keycloak")),
    Field("auth.realm", v.keycloak_realm, REQUIRED, "Keycloak realm", applies=_is("auth.type", "keycloak")),
    Field("auth.client_id", lambda x: v.line(x, what="a client id"), "binderhub", "Keycloak client id",
          applies=_is("auth.type", "keycloak")),
    Field("auth.client_secret", v.secret_text, REQUIRED, "Keycloak client secret (confidential client)",
          secret=True, applies=_is("auth.type", "keycloak")),
    Field("auth.login_service", lambda x: v.line(x, what="a button label", max_length=64), "Keycloak",
          "label of the login button"),
    Field("auth.admin_users", lambda x: v.name_list(x, what="user names"), [], "hub admins (Keycloak user names)"),
    Field("auth.allow_all", v.boolean, False, "let every user of the realm log in"),
    Field("auth.allowed_users", lambda x: v.name_list(x, what="user names"), [], "users allowed to log in"),
    Field("auth.allowed_groups", lambda x: v.name_list(x, what="group names"), [],
          "Keycloak groups allowed to log in (needs a groups claim in the token)"),
    Field("auth.pass_tokens", v.boolean, True,
          "put the user's Keycloak access token into their servers, kept fresh by the hub"),
    Field("hub.named_servers", v.boolean, True, "allow several servers per user (one per Binder launch)"),
    Field("hub.named_server_limit", lambda x: v.whole_number(x, maximum=1000), 5,
          "servers per user; 0 for no limit"),
    Field("hub.cull.enabled", v.boolean, True,
          "stop servers idle for hub.cull.timeout: otherwise every launch keeps its pod, and the node fills up"),
    Field("hub.cull.timeout", lambda x: v.whole_number(x, minimum=60, maximum=31_536_000, unit=" seconds"), 3600,
          "idle seconds before a server is stopped"),
    Field("hub.database.type", v.one_of("sqlite-pvc", "postgres"), "sqlite-pvc", "hub database"),
    Field("hub.database.url", v.postgres_url, REQUIRED, "postgresql://USER@HOST:5432/DB",
          applies=_is("hub.database.type", "postgres")),
    Field("hub.database.password", v.secret_text, REQUIRED, "database password", secret=True,
          applies=_is("hub.database.type", "postgres")),
    Field("hub.user_storage.enabled", v.boolean, True, "a persistent volume per user"),
    Field("hub.user_storage.capacity", v.size, "10Gi", "size of each user's volume"),
    Field("hub.resources.cpu_limit", v.cpu, 2, "CPUs a user server may use"),
    Field("hub.resources.memory_limit", v.size, "4G", "memory a user server may use"),
    Field("hub.resources.cpu_guarantee", v.cpu, 0.5, "CPUs reserved for each user server"),
    Field("hub.resources.memory_guarantee", v.size, "1G", "memory reserved for each user server"),
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
    """Validate and complete raw answers. `stored_secrets` (path -> value) fill secrets left out."""
    result = LoadResult(None)
    if raw is None:
        raw = {}
    # Known before any message is made: secrets as given, and passwords written into URLs.
    redact.remember_answers(raw)
    redact.remember(*[value for spec in FIELDS if spec.secret
                      for value in [_get(raw, spec.path)] if isinstance(value, str)])
    if not isinstance(raw, dict):
        result.problems.append(Problem("(answers)", "", "the answers file is not a mapping of sections",
                                       "sections such as network:, tls:, auth:"))
        return result
    _reject_unknown(raw, result)
    answers: dict = {}
    for spec in FIELDS:
        given = _get(raw, spec.path, _MISSING)
        if given is _MISSING and spec.secret and stored_secrets and spec.path in stored_secrets:
            given = stored_secrets[spec.path]
        if given is _MISSING or (given is None and spec.default is not REQUIRED):
            default = spec.default(answers) if callable(spec.default) else spec.default
            if default is REQUIRED:
                if spec.applies(answers):
                    result.problems.append(Problem(spec.path, "", "is required", spec.help))
                continue
            _set(answers, spec.path, list(default) if isinstance(default, list) else default)
            continue
        try:
            checked = check_field(spec.path, given, answers)
        except v.Invalid as err:
            result.problems.append(Problem(spec.path, shown(spec.path, given), err.why, err.allowed))
            continue
        if checked.note:
            result.warnings.append(Problem(spec.path, shown(spec.path, checked.value), checked.note, "", True))
        _set(answers, spec.path, checked.value)
    for section, check in MAP_SECTIONS.items():
        answers[section] = _load_chart_map(raw.get(section), section, check, result)
    given = _given_paths(raw)
    if not result.problems:
        _cross_checks(answers, result, given)
    if not result.problems:
        result.settings = Settings(answers, given=given)
    return result


def _given_paths(raw: dict) -> frozenset[str]:
    return frozenset(spec.path for spec in FIELDS if _get(raw, spec.path, _MISSING) is not _MISSING)


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


def _cross_checks(a: dict, result: LoadResult, given: frozenset[str]) -> None:
    def problem(path: str, why: str, allowed: str) -> None:
        result.problems.append(Problem(path, shown(path, _get(a, path)), why, allowed))

    def warn(path: str, why: str) -> None:
        result.warnings.append(Problem(path, shown(path, _get(a, path)), why, "", True))

    production = _production(a)
    if production and a["network"]["binder_host"] == a["network"]["hub_host"]:
        problem("network.hub_host", "is the same as network.binder_host",
                "two different host names: BinderHub and JupyterHub each need their own")
    if not production:
        for path in ("network.domain", "network.binder_host", "network.hub_host"):
            if _get(a, path):
                problem(path, "is set, but profile local serves plain HTTP on the public IP with no names",
                        "leave it out, or use profile: production")
        if a["registry"]["type"] == "in-cluster":
            problem("registry.type", "in-cluster needs a domain and certificates",
                    "external or none with profile: local, or profile: production")
        warn("profile", "local is for trying things: plain HTTP, no certificates, not for production")
    if a["registry"]["type"] == "none" and a["cluster"]["runtime"] != "docker":
        warn("registry.type", "none works only where the node runtime is Docker; on containerd "
             "(every kubeadm cluster since Kubernetes 1.24) built images never reach the kubelet, and the "
             "install refuses it there; use external or in-cluster")
    if a["ingress"]["controller"] == "ingress-nginx":
        warn("ingress.controller", INGRESS_NGINX_RETIRED)
    if a["registry"]["type"] == "external":
        host = a["registry"]["url"].split("://", 1)[1].split("/", 1)[0]
        prefix_host = a["registry"]["image_prefix"].split("/", 1)[0]
        if host != prefix_host:
            warn("registry.image_prefix", f"starts with {prefix_host}, not the registry host {host}: "
                 "images are pushed where the prefix says")
    if a["registry"]["type"] == "in-cluster" and production and _staging(a["tls"]["acme_server"]):
        problem("tls.acme_server", "staging certificates are not trusted by containerd or dind, so with "
                "registry.type in-cluster every push and pull of a built image would fail",
                "production (Let's Encrypt's trusted certificates), or registry.type external")
    auth = a["auth"]
    if auth["type"] == "keycloak":
        if not (auth["allow_all"] or auth["allowed_users"] or auth["allowed_groups"]):
            if auth["admin_users"]:
                warn("auth.allow_all", "no allow rule: only the admin users can log in "
                     "(set allow_all, allowed_users or allowed_groups to let others in)")
            else:
                problem("auth.allow_all", "no allow rule: nobody could log in (oauthenticator 16+)",
                        "allow_all: true, or a list in allowed_users or allowed_groups")
        if auth["keycloak_url"].startswith("http://"):
            warn("auth.keycloak_url", "plain http: passwords and tokens cross the network unencrypted")
    if auth["type"] == "none" and a["hub"]["user_storage"]["enabled"] and "hub.user_storage.enabled" in given:
        warn("hub.user_storage.enabled", "is ignored without login: anonymous Binder users are throwaway "
             "accounts, so they get no persistent volume")
    if auth["type"] == "none" and not a["hub"]["cull"]["enabled"]:
        warn("hub.cull.enabled", "is off without login: every anonymous launch makes a user and a pod that "
             "nothing stops, until the node is full; turn it on")
    res = a["hub"]["resources"]
    if res["cpu_guarantee"] > res["cpu_limit"]:
        problem("hub.resources.cpu_guarantee", "is more than cpu_limit", "at most hub.resources.cpu_limit")
    if v.size_in_bytes(res["memory_guarantee"]) > v.size_in_bytes(res["memory_limit"]):
        problem("hub.resources.memory_guarantee", "is more than memory_limit", "at most hub.resources.memory_limit")
    if a["storage"]["provisioner"] == "openebs" and a["storage"]["storage_class"] != "openebs-hostpath":
        problem("storage.storage_class", "must be openebs-hostpath when OpenEBS is installed by the wizard",
                "openebs-hostpath, or provisioner: existing to use another class")
    if a["registry"]["type"] == "in-cluster" and a["registry"]["host"] in (
            a["network"]["binder_host"], a["network"]["hub_host"]):
        problem("registry.host", "is the same as the binder or hub host", "a host name of its own")
    if a["registry"]["type"] == "in-cluster" and ":" in a["registry"]["host"]:
        problem("registry.host", "has a port, but the in-cluster registry is served by the Ingress on 443",
                "a host name without a port, such as registry.example.org")
    if a["registry"]["type"] == "in-cluster" and ":" in a["registry"]["username"]:
        # The in-cluster registry reads user names from an htpasswd file: USER:HASH per line.
        problem("registry.username", "contains ':', which the in-cluster registry's htpasswd file cannot hold",
                "a user name without ':'")


class Settings:
    """Validated, complete answers. Attribute access by section: `settings.network.public_ip`."""

    def __init__(self, answers: dict, given: frozenset[str] = frozenset()):
        self.answers = answers
        self.given = given  # paths the user answered (kept on write-back even where they do not apply)
        for section, value in answers.items():
            setattr(self, section, _namespace(value) if isinstance(value, dict) else value)

    def get(self, path: str) -> Any:
        return _get(self.answers, path)

    @property
    def production(self) -> bool:
        return self.answers["profile"] == "production"

    @property
    def secrets(self) -> dict[str, str]:
        return {path: _get(self.answers, path) for path in SECRET_PATHS if _get(self.answers, path) is not None}

    def public_answers(self) -> dict:
        """The answers without secrets, in field order, ready to be written back."""
        out: dict = {}
        for spec in FIELDS:
            if spec.secret or _get(self.answers, spec.path, _MISSING) is _MISSING:
                continue
            if spec.applies(self.answers) or spec.path in self.given:
                _set(out, spec.path, _get(self.answers, spec.path))
        for section in MAP_SECTIONS:
            if self.answers.get(section):
                out[section] = dict(self.answers[section])
        return out


def _namespace(mapping: dict) -> SimpleNamespace:
    return SimpleNamespace(**{k: _namespace(val) if isinstance(val, dict) else val for k, val in mapping.items()})
