"""Load a hub configuration the way z2jh 4.2.0's jupyterhub_config.py does, and report
every warning the hub would log about it, without starting the hub or touching the
network.

What z2jh's jupyterhub/files/hub/jupyterhub_config.py does that matters here (read at
tag 4.2.0): `hub.loadRoles` (a dict) becomes the list `c.JupyterHub.load_roles` with
`name` defaulting to the key; `hub.config` is applied section by section with
`c[section].update(values)` after dropping the seeded secrets; then every
`hub.extraConfig` snippet is `exec`-ed in sorted key order, all in the module's one
namespace, where `c` and z2jh's `get_config(dotted.key, default)` exist. Everything about
KubeSpawner (pods, storage, images) is left out here; tests/z2jh_hub.py runs z2jh's own
configuration file with KubeSpawner for that.

Not a test module: a helper imported by tests (`from hubconfig import load_hub_config`).
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass, field

from traitlets.config import Config, Configurable

# The binderhub chart's own snippets; 00-binder imports kubespawner.
BINDER_CHART_SNIPPETS = {"0-binderspawnermixin", "00-binder"}
# Sections of classes that live in packages not installed here: reported, not checked.
UNCHECKABLE_SECTIONS = {"KubeSpawner", "BinderSpawner", "BinderSpawnerMixin"}
# z2jh loads these from its Secret, not from hub.config (jupyterhub_config.py pops them)
_SEEDED = {
    "JupyterHub": ("proxy_auth_token", "cookie_secret", "services"),
    "ConfigurableHTTPProxy": ("auth_token",),
    "CryptKeeper": ("keys",),
}


@dataclass
class HubConfigReport:
    config: Config
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped_snippets: list[str] = field(default_factory=list)
    unchecked_sections: list[str] = field(default_factory=list)
    authenticator_class: type | None = None
    authenticator: object | None = None

    @property
    def problems(self) -> list[str]:
        return self.errors + self.warnings

    @property
    def ok(self) -> bool:
        return not self.problems


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(f"{record.levelname}: {record.getMessage()}")


def _make_get_config(values):
    def get_config(key, default=None):
        # z2jh semantics: dotted path into the chart values, default if any level is missing
        value = values
        for level in key.split("."):
            if not isinstance(value, dict) or level not in value:
                return default
            value = value[level]
        return value

    return get_config


def _get_secret_value(key, default="never-explicitly-set"):
    if default != "never-explicitly-set":
        return default
    raise KeyError(f"{key}: secrets are not available to the config check")


def _configurable_classes():
    by_name: dict[str, list[type]] = {}
    todo = [Configurable]
    while todo:
        cls = todo.pop()
        by_name.setdefault(cls.__name__, []).append(cls)
        todo.extend(cls.__subclasses__())
    return by_name


def _check_roles(load_roles, report):
    """Unknown scopes, and server-role scopes that JUPYTERHUB_API_TOKEN will not get."""
    from jupyterhub import orm, roles, scopes

    for role in load_roles:
        try:
            scopes._check_scopes_exist(role.get("scopes", []), who_for=f"role {role.get('name')}")
        except scopes.ScopeNotFound as e:
            report.warnings.append(f"unknown scope: {e.args[0]}")
    if any(w.startswith("unknown scope") for w in report.warnings):
        return
    by_name = {r["name"]: r for r in roles.get_default_roles()}
    for r in load_roles:  # the hub merges an overridden default role key by key
        by_name[r.get("name")] = {**by_name.get(r.get("name"), {}), **r}
    owner = orm.User(name="config-check-user")
    have = scopes.expand_scopes(set(by_name["user"].get("scopes", [])), owner=owner)
    for raw in by_name["server"].get("scopes", []):
        # as User.spawn: !server names this server; the token gets only what the owner has
        requested = raw + "=config-check-user/" if raw.endswith("!server") else raw
        expanded = scopes.expand_scopes({requested}, owner=owner)
        kept = scopes._intersect_expanded_scopes(expanded, have, db=None)
        if expanded - kept:
            report.warnings.append(
                f"server role scope {raw!r} is not held by the 'user' role: "
                "JupyterHub drops it from every server's JUPYTERHUB_API_TOKEN"
            )


def _check_sections(c, instantiated, report):
    """Sections no loaded class reads, and options of classes the check did not create
    (instantiated classes warn through traitlets themselves)."""
    known = _configurable_classes()
    covered = {klass.__name__ for obj in instantiated for klass in type(obj).__mro__}
    for section in sorted(c):
        if not section[:1].isupper():
            continue
        if section in UNCHECKABLE_SECTIONS:
            report.unchecked_sections.append(section)
            continue
        classes = known.get(section)
        if not classes:
            report.warnings.append(f"Config section `{section}` matches no configurable class")
            continue
        if section in covered:
            continue
        traits = set().union(*(k.class_trait_names(config=True) for k in classes))
        for name, value in c[section].items():
            if isinstance(value, Config) or name[:1].isupper() or name in traits:
                continue
            report.warnings.append(f"Config option `{name}` not recognized by `{section}`.")


def load_hub_config(jupyterhub_values: dict) -> HubConfigReport:
    """`jupyterhub_values`: the values of the jupyterhub (sub)chart, i.e. what z2jh's
    get_config sees (`hub.config`, `hub.extraConfig`, `hub.loadRoles`, ...)."""
    values = copy.deepcopy(jupyterhub_values or {})
    get_config = _make_get_config(values)
    c = Config()
    report = HubConfigReport(config=c)

    c.JupyterHub.load_roles = []
    for key, role in (get_config("hub.loadRoles", {}) or {}).items():
        role.setdefault("name", key)
        c.JupyterHub.load_roles.append(role)

    for section, cfg in (get_config("hub.config", {}) or {}).items():
        for secret in _SEEDED.get(section, ()):
            cfg.pop(secret, None)
        c[section].update(cfg)

    logger = logging.getLogger("hubconfig-check")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    capture = _Capture()
    logger.addHandler(capture)
    root = logging.getLogger()
    root.addHandler(capture)  # tornado's app_log, traitlets' fallback logger, ...
    _import_quietly("kubespawner")  # it warns about its own traits when imported: not about this config
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _run(values, get_config, c, logger, report)
    finally:
        logger.removeHandler(capture)
        root.removeHandler(capture)
    report.warnings[:0] = capture.messages
    for w in caught:
        if issubclass(w.category, (UserWarning, DeprecationWarning, FutureWarning)):
            report.warnings.append(f"{w.category.__name__}: {w.message}")
    return report


def _import_quietly(module: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            __import__(module)
    except ImportError:
        pass


def _run(values, get_config, c, logger, report):
    namespace = {
        "__name__": "jupyterhub_config",
        "c": c,
        "get_config": get_config,
        "get_secret_value": _get_secret_value,
    }
    for key, code in sorted((get_config("hub.extraConfig", {}) or {}).items()):
        try:
            exec(compile(code, f"<hub.extraConfig.{key}>", "exec"), namespace)
        except ModuleNotFoundError as e:
            if key in BINDER_CHART_SNIPPETS and e.name == "kubespawner":
                report.skipped_snippets.append(key)
            else:
                report.errors.append(f"extraConfig {key}: {type(e).__name__}: {e}")
        except Exception as e:
            report.errors.append(f"extraConfig {key}: {type(e).__name__}: {e}")

    from jupyterhub.app import JupyterHub

    instantiated = []
    try:
        # log= is applied before config is loaded, so "not recognized" warnings land here
        app = JupyterHub(config=c, log=logger)
        instantiated.append(app)
        report.authenticator_class = app.authenticator_class
        authenticator = report.authenticator_class(parent=app, log=logger)
        instantiated.append(authenticator)
        report.authenticator = authenticator
        authenticator.check_allow_config()  # what the hub does at startup
    except Exception as e:
        report.errors.append(f"instantiating the hub/authenticator: {type(e).__name__}: {e}")
    _check_roles(list(c.JupyterHub.load_roles), report)
    _check_sections(c, instantiated, report)
