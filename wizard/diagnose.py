"""`wizard diagnose`: read what a failed (or working) install looks like and pack it into
DIR/diagnostics-TIMESTAMP.tar.gz (0600), every secret masked.

    collect(ctx) -> Snapshot          read-only: kubectl and helm through the context's runner
    write_archive(DIR, snapshot) -> the archive's path

A Snapshot is plain data (the API objects as the server's JSON), so wizard/analyzer.py can read a
fixture file as well as a live cluster. Collection never stops at the first failure: what could
not be read (the API unreachable, a CRD absent, a pod's log) is recorded in `problems`.

Masking: every string the install knows as a secret (secret.yaml, whole; the process's redactor),
environment values whose name says secret, token or password, and by pattern `key: value` pairs
named like a password or token, bearer/basic credentials, JWTs, long hex tokens and passwords in
URLs. It is applied when collecting and again on every member when writing the archive.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from . import redact, yamlio
from .installdir import (DIAGNOSTICS_PREFIX, LEDGER_FILE, LOG_FILE, SECRET_FILE, STATE_FILE, InstallDirError, explain,
                         read_private)

REQUEST_TIMEOUT = "10s"        # each kubectl call; an API server that does not answer is given up on fast
LOG_LINES = 300                # tail of each container log
MAX_LOGGED_PODS = 40
MAX_FILE = 4 * 1024 * 1024     # a file of DIR bigger than this goes in as its tail

# Per namespace of ours: the kinds read with one `kubectl get` (events separately).
NAMESPACED_KINDS = ("pods", "services", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs",
                    "persistentvolumeclaims", "ingresses")
CLUSTER_KINDS = ("nodes", "storageclasses", "ingressclasses")
CERT_MANAGER_KINDS = {"clusterissuers": "clusterissuers.cert-manager.io",
                      "certificates": "certificates.cert-manager.io",
                      "certificaterequests": "certificaterequests.cert-manager.io",
                      "orders": "orders.acme.cert-manager.io",
                      "challenges": "challenges.acme.cert-manager.io"}


@dataclass
class Snapshot:
    """What diagnose read, as plain data. `namespaces`: namespace -> kind (plural, lower case) ->
    objects, events included; `cluster`: nodes, storageclasses, ingressclasses; `cert_manager`:
    clusterissuers, certificates, certificaterequests, orders, challenges; `logs`:
    "NS/POD/CONTAINER" (or ".../CONTAINER (previous)") -> masked tail; `helm`: {"releases": [...],
    "history": {"NS/RELEASE": [...]}}; `state`: DIR/state.json; `log_tail`: the end of
    install.log (masked); `settings`: what the analyzer needs of the answers (no secrets);
    `probes`: what the sign-in chain answered ("keycloak": url, status, the lines of its page that
    say an error); `problems`: what could not be read, one line each."""

    taken: str = ""
    reachable: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    namespaces: dict[str, dict[str, list[dict]]] = field(default_factory=dict)
    cluster: dict[str, list[dict]] = field(default_factory=dict)
    cert_manager: dict[str, list[dict]] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    helm: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    log_tail: str = ""
    probes: dict[str, dict] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Snapshot":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def load(cls, path: Path) -> "Snapshot":
        return cls.from_dict(json.loads(Path(path).read_text()))


# --- masking ---------------------------------------------------------------------------------------

_SECRET_WORD = r"(?:password|passwd|pwd|secret|token|api[_-]?key|credentials?|private[_-]?key|auth)"
# A key named like a secret (ending in the word: `secretName`, `tokenRef` are names, not secrets),
# then `:` or `=`, then the value (quoted or not). Objects and lists as values are left alone.
_KEY_VALUE = re.compile(r"""(?ix)
    (?P<key>["']?[\w.-]*""" + _SECRET_WORD + r"""["']?[ \t]*[:=][ \t]*)
    (?P<quote>\\?["']?)
    (?P<value>(?!\*\*\*\*|(?:true|false|null|none|\d+)\b)[^\s"'\\,;&{}\[\]()]{4,})(?![\w.(\[])""")  # not `x = call(` or `x = y[...]`: code
_AUTH_HEADER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{16,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_HEX = re.compile(r"(?<![:\w])[0-9a-f]{32,}(?![\w])")  # `openssl rand -hex 32`; not sha256:... digests
# A field or environment variable whose name ends in one of these holds a secret (`secretName`,
# `tokenRef`, `AUTH_ENABLED` do not).
_SECRET_NAME = re.compile(r"(?i)(?:password|passwd|secret|token|(?:api|crypt|private|access|secret)[_-]?key|"
                          r"credentials?|^auth)$")
_NOISE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


class Masker:
    """The process's redactor, the given secrets, and the patterns."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.known = redact.Redactor(secrets)

    def text(self, text: str) -> str:
        if "\n" in text:  # line by line: a URL's password never spans lines in what is read here
            return "\n".join(self.text(line) for line in text.split("\n"))
        text = redact.redact(self.known(text))
        text = _KEY_VALUE.sub(lambda m: m.group("key") + m.group("quote") + redact.MASK, text)
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + " " + redact.MASK, text)
        text = _JWT.sub(redact.MASK, text)
        return _HEX.sub(redact.MASK, text)

    def data(self, node: Any) -> Any:
        """A copy of JSON data with secret-named env values and fields masked, noise dropped,
        and every string masked."""
        if isinstance(node, dict):
            out = {}
            secret_env = isinstance(node.get("name"), str) and _is_secret_key(node["name"])
            for key, value in node.items():
                if key == "managedFields" or key in _NOISE_ANNOTATIONS:
                    continue
                if isinstance(value, str) and value and ((key == "value" and secret_env) or _is_secret_key(key)):
                    out[key] = redact.MASK
                else:
                    out[key] = self.data(value)
            return out
        if isinstance(node, list):
            return [self.data(item) for item in node]
        if isinstance(node, str):
            return self.text(node)
        return node


def install_secrets(directory: Path) -> list[str]:
    """Every value of DIR/secret.yaml under a key named like a secret (password, secretToken,
    apiToken, client_secret, ...; not the registry's user name or host beside them)."""
    try:
        values = yamlio.loads(read_private(Path(directory) / SECRET_FILE).decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 - missing or unreadable: the process's redactor still knows what it read
        return []
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", values)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, dict):
            stack.extend((str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((key, item) for item in node)
        elif isinstance(node, str) and len(node) >= redact.MIN_LENGTH and _is_secret_key(key):
            found.append(node)
    return found


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_NAME.search(key))


# --- collecting ------------------------------------------------------------------------------------

def _json_of(output: str) -> Any:
    """The JSON document in kubectl's output (a warning line on stderr may come first)."""
    start = output.find("{")
    if start < 0:
        raise ValueError("no JSON in the output")
    return json.JSONDecoder().raw_decode(output[start:])[0]


def _first_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


_UNREACHABLE = re.compile(r"(?i)unable to connect|connection refused|no such host|i/o timeout|"
                          r"context deadline exceeded|couldn't get current server|was refused|"
                          r"dial tcp|timeout|TLS handshake|certificate")


class _Reader:
    def __init__(self, ctx, masker: Masker):
        self.ctx = ctx
        self.masker = masker
        self.problems: list[str] = []

    def run(self, argv: list[str]):
        from .runner import CommandResult

        try:
            return self.ctx.runner.run("diagnose", argv, mutating=False, check=False, hide_output=True)
        except Exception as err:  # noqa: BLE001 - a cancelled runner, a missing tool: recorded, not fatal
            return CommandResult(tuple(argv), 1, f"{argv[0]} could not run: {err.__class__.__name__}")

    def kubectl_json(self, what: str, *args: str) -> dict | None:
        result = self.run(self.ctx.kubectl(*args, "-o", "json", f"--request-timeout={REQUEST_TIMEOUT}"))
        if result.exit_code != 0:
            self.problems.append(f"{what}: could not be read: {self.masker.text(_first_line(result.output))}")
            return None
        try:
            return self.masker.data(_json_of(result.output))
        except ValueError:
            self.problems.append(f"{what}: kubectl's answer was not JSON")
            return None

    def items(self, what: str, *args: str) -> list[dict]:
        listing = self.kubectl_json(what, *args)
        return list((listing or {}).get("items") or [])


def _summary(settings) -> dict[str, Any]:
    """What the analyzer needs of the answers; never a secret."""
    if settings is None:
        return {}
    from .render.values import urls

    def get(path: str, default: Any = None) -> Any:
        node = settings
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                return default
        return node

    try:
        address = urls(settings)
    except Exception:  # noqa: BLE001 - a partial summary is still useful
        address = {}
    return {"namespace": get("cluster.namespace", "binder"), "release": get("cluster.release", ""),
            "public_ip": get("network.public_ip", ""), "ingress_controller": get("ingress.controller", ""),
            "registry": get("registry.type", ""), "production": bool(getattr(settings, "production", False)),
            "binder_url": address.get("binder", ""), "hub_url": address.get("hub", "")}


def our_namespaces(summary: dict) -> list[str]:
    from .charts import CHARTS

    names = [summary.get("namespace") or "binder", CHARTS["localpv-provisioner"].namespace]
    controller = summary.get("ingress_controller")
    names += [CHARTS[controller].namespace] if controller in CHARTS else ["ingress-nginx", "traefik"]
    if summary.get("production", True):
        names.append(CHARTS["cert-manager"].namespace)
    if summary.get("registry") in ("in-cluster", ""):
        names.append("registry")
    return list(dict.fromkeys(names))


def _needs_log(pod: dict) -> list[tuple[str, bool]]:
    """(container, previous) whose log to read: containers of a pod not ready, or restarted."""
    status = pod.get("status") or {}
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    wanted: list[tuple[str, bool]] = []
    ready_pod = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    for container in statuses:
        name = container.get("name", "")
        if container.get("restartCount"):
            wanted += [(name, False), (name, True)]
        elif not ready_pod and status.get("phase") != "Succeeded":
            wanted.append((name, False))
    return wanted


def collect(ctx, *, directory: Path | None = None) -> Snapshot:
    """Everything diagnose reads, from the context's cluster (kubectl and helm through its runner)
    and DIR (`directory`, default ctx.directory). Read-only; never raises for what the cluster
    cannot answer."""
    directory = Path(directory or ctx.directory)
    settings = getattr(ctx, "settings", None)
    masker = Masker(install_secrets(directory) + list(_stored(ctx)))
    snapshot = Snapshot(taken=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), settings=_summary(settings))
    snapshot.state = _read_state(directory, masker, snapshot.problems)
    snapshot.log_tail = _tail(directory / LOG_FILE, masker, 200_000)
    reader = _Reader(ctx, masker)

    ready = reader.run(ctx.kubectl("get", "--raw", "/readyz", f"--request-timeout={REQUEST_TIMEOUT}"))
    if ready.exit_code != 0 and _UNREACHABLE.search(ready.output or ""):
        snapshot.reachable = False
        snapshot.problems.append("the cluster's API server does not answer: "
                                 f"{masker.text(_first_line(ready.output))}; nothing was read from the cluster")
        return snapshot

    present = {item.get("metadata", {}).get("name") for item in reader.items("namespaces", "get", "namespaces")}
    wanted = our_namespaces(snapshot.settings)
    releases = _helm_releases(reader)
    wanted += [r.get("namespace") for r in releases if r.get("namespace")]
    namespaces = [ns for ns in dict.fromkeys(wanted) if ns in present]

    def per_namespace(ns: str) -> tuple[str, dict[str, list[dict]]]:
        kinds: dict[str, list[dict]] = {kind: [] for kind in NAMESPACED_KINDS}
        for item in reader.items(f"objects in namespace {ns}", "get", ",".join(NAMESPACED_KINDS), "-n", ns):
            kinds.setdefault(_plural(item.get("kind", "")), []).append(item)
        kinds["events"] = reader.items(f"events in namespace {ns}", "get", "events", "-n", ns)
        return ns, kinds

    def cluster_kind(kind: str) -> tuple[str, list[dict]]:
        return kind, reader.items(kind, "get", kind)

    def cert_kind(pair: tuple[str, str]) -> tuple[str, list[dict]]:
        key, resource = pair
        args = ("get", resource) if key == "clusterissuers" else ("get", resource, "--all-namespaces")
        return key, reader.items(f"cert-manager {key}", *args)

    def history(release: dict) -> tuple[str, list]:
        name, ns = release.get("name", ""), release.get("namespace", "")
        result = reader.run(ctx.helm("history", name, "--namespace", ns, "--max", "10", "-o", "json"))
        if result.exit_code != 0:
            reader.problems.append(f"helm history {ns}/{name}: {masker.text(_first_line(result.output))}")
            return f"{ns}/{name}", []
        try:
            return f"{ns}/{name}", masker.data(json.JSONDecoder().raw_decode(result.output[result.output.find('['):])[0])
        except ValueError:
            return f"{ns}/{name}", []

    with ThreadPoolExecutor(max_workers=4) as pool:
        snapshot.namespaces = dict(pool.map(per_namespace, namespaces))
        snapshot.cluster = dict(pool.map(cluster_kind, CLUSTER_KINDS))
        snapshot.cert_manager = dict(pool.map(cert_kind, CERT_MANAGER_KINDS.items()))
        snapshot.helm = {"releases": releases, "history": dict(pool.map(history, releases))}
        snapshot.logs = _logs(reader, snapshot.namespaces, pool)
    missing = [ns for ns in dict.fromkeys(wanted) if ns not in present]
    if missing:
        snapshot.problems.append(f"namespaces not found (not installed yet, or removed): {', '.join(missing)}")
    snapshot.problems.extend(reader.problems)
    if settings is not None and getattr(getattr(settings, "auth", None), "type", "") == "keycloak":
        snapshot.probes["keycloak"] = _probe_keycloak(ctx, snapshot.settings.get("hub_url", ""), masker,
                                                      snapshot.problems)
    return snapshot


def _probe_keycloak(ctx, hub_url: str, masker: Masker, problems: list[str]) -> dict:
    """Where the hub's login sends the browser, and what Keycloak answers there: a refused
    redirect URI shows only on Keycloak's page ("Invalid parameter: redirect_uri"), never in a log
    of ours. Two read-only GETs; `--resolve` and `--ca-bundle` apply to the hub's host."""
    import ssl
    import urllib.error
    import urllib.request
    from urllib.parse import urljoin

    from .probe import ProbeError, Prober

    options = ctx.options
    try:
        login = Prober(options.resolve, options.ca_bundle, timeout=5).get(urljoin(hub_url, "hub/oauth_login"))
    except ProbeError as err:
        problems.append(f"the hub's login could not be asked: {masker.text(err.problem)}")
        return {}
    if not login.location:
        return {"url": masker.text(login.url), "status": login.status, "text": ""}
    context = ssl.create_default_context(cafile=options.ca_bundle) if options.ca_bundle else None
    try:
        with urllib.request.urlopen(login.location, timeout=5, context=context) as reply:  # noqa: S310 - https from the hub
            status, body = reply.status, reply.read(65536)
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read(65536)
    except (OSError, ValueError) as err:
        problems.append(f"Keycloak's login page could not be read: {masker.text(str(err))}")
        return {"url": masker.text(login.location.split("?")[0]), "status": 0, "text": ""}
    lines = [line.strip() for line in re.sub(r"<[^>]+>", "\n", body.decode("utf-8", "replace")).splitlines()
             if re.search(r"(?i)invalid|error|not found", line)]
    return {"url": masker.text(login.location.split("?")[0]), "status": status,
            "text": masker.text("\n".join(lines[:5]))}


def _stored(ctx) -> Iterable[str]:
    try:
        return ctx.stored_secrets.values()
    except Exception:  # noqa: BLE001 - a bad secret.yaml: install_secrets has read what it could
        return ()


def _plural(kind: str) -> str:
    lower = kind.lower()
    return lower + ("es" if lower.endswith(("s", "ss")) else "s") if lower else "other"


def _helm_releases(reader: _Reader) -> list[dict]:
    result = reader.run(reader.ctx.helm("list", "--all-namespaces", "--all", "-o", "json"))
    if result.exit_code != 0:
        reader.problems.append(f"helm list: {reader.masker.text(_first_line(result.output))}")
        return []
    try:
        start = result.output.find("[")
        return reader.masker.data(json.JSONDecoder().raw_decode(result.output[start:])[0]) if start >= 0 else []
    except ValueError:
        reader.problems.append("helm list: its answer was not JSON")
        return []


def _logs(reader: _Reader, namespaces: dict, pool: ThreadPoolExecutor) -> dict[str, str]:
    wanted = [(ns, pod["metadata"]["name"], container, previous)
              for ns, kinds in namespaces.items() for pod in kinds.get("pods", [])
              for container, previous in _needs_log(pod)]
    if len(wanted) > MAX_LOGGED_PODS:
        reader.problems.append(f"logs of {len(wanted) - MAX_LOGGED_PODS} more containers not read (limit)")
        wanted = wanted[:MAX_LOGGED_PODS]

    def one(item: tuple[str, str, str, bool]) -> tuple[str, str | None]:
        ns, pod, container, previous = item
        key = f"{ns}/{pod}/{container}" + (" (previous)" if previous else "")
        result = reader.run(reader.ctx.kubectl("logs", "-n", ns, pod, "-c", container, f"--tail={LOG_LINES}",
                                               *(["--previous"] if previous else []),
                                               f"--request-timeout={REQUEST_TIMEOUT}"))
        if result.exit_code != 0:
            reader.problems.append(f"log of {key}: {reader.masker.text(_first_line(result.output))}")
            return key, None
        return key, reader.masker.text(result.output)

    return {key: text for key, text in pool.map(one, wanted) if text is not None}


def _read_state(directory: Path, masker: Masker, problems: list[str]) -> dict:
    try:
        return masker.data(json.loads(read_private(directory / STATE_FILE).decode("utf-8")))
    except FileNotFoundError:
        return {}
    except (OSError, InstallDirError, ValueError) as err:
        problems.append(f"{STATE_FILE}: could not be read: {masker.text(str(err))}")
        return {}


def _tail(path: Path, masker: Masker, limit: int) -> str:
    try:
        data = read_private(path)
    except (FileNotFoundError, OSError, InstallDirError):
        return ""
    return masker.text(data[-limit:].decode("utf-8", "replace"))


# --- the archive -----------------------------------------------------------------------------------

def _dir_files(directory: Path) -> list[Path]:
    """The files of DIR that go into the archive: everything but secret.yaml, hidden files,
    archives and subdirectories (backups)."""
    files = []
    for path in sorted(directory.iterdir()):
        name = path.name
        if name == SECRET_FILE or name.startswith(".") or name.startswith(DIAGNOSTICS_PREFIX) or name.endswith(
                (".tar.gz", ".tgz")) or path.is_symlink() or not path.is_file():
            continue
        files.append(path)
    return files


def members(snapshot: Snapshot, report: str) -> dict[str, Any]:
    """Archive member name -> content (JSON data or text), before masking."""
    out: dict[str, Any] = {"report.txt": report, "snapshot.json": snapshot.to_dict(),
                           "problems.txt": "\n".join(snapshot.problems) + "\n"}
    for ns, kinds in snapshot.namespaces.items():
        out[f"namespaces/{ns}/events.json"] = kinds.get("events", [])
        out[f"namespaces/{ns}/objects.json"] = {k: v for k, v in kinds.items() if k != "events"}
    for kind, items in snapshot.cluster.items():
        out[f"cluster/{kind}.json"] = items
    for kind, items in snapshot.cert_manager.items():
        out[f"cert-manager/{kind}.json"] = items
    for key, text in snapshot.logs.items():
        out[f"logs/{key.replace(' (previous)', '.previous')}.log"] = text
    if snapshot.helm:
        out["helm/list.json"] = snapshot.helm.get("releases", [])
        for key, revisions in (snapshot.helm.get("history") or {}).items():
            out[f"helm/history/{key}.json"] = revisions
    return out


def archive_name(now: float | None = None) -> str:
    return f"{DIAGNOSTICS_PREFIX}{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}.tar.gz"


def write_archive(directory: Path, snapshot: Snapshot, *, report: str | None = None,
                  secrets: Iterable[str] = ()) -> Path:
    """DIR/diagnostics-TIMESTAMP.tar.gz (0600, written whole or not at all): the snapshot, the
    report, DIR's files without secret.yaml; every member masked once more."""
    directory = Path(directory)
    if report is None:
        from .analyzer import analyze, format_report

        report = format_report(snapshot, analyze(snapshot))
    masker = Masker([*install_secrets(directory), *secrets])
    root = archive_name().removesuffix(".tar.gz")
    contents = members(snapshot, report)
    for path in _dir_files(directory):
        try:
            data = read_private(path)
        except (OSError, InstallDirError) as err:
            contents[f"install/{path.name}.unreadable.txt"] = str(err)
            continue
        contents[f"install/{path.name}"] = data[-MAX_FILE:].decode("utf-8", "replace")
    target = directory / f"{root}.tar.gz"
    counter = 1
    while target.exists():
        target = directory / f"{root}-{counter}.tar.gz"
        counter += 1
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w:gz") as tar:
                for name, content in contents.items():
                    text = content if isinstance(content, str) else json.dumps(masker.data(content), indent=1,
                                                                               sort_keys=True)
                    data = masker.text(text).encode("utf-8")
                    info = tarfile.TarInfo(f"{root}/{name}")
                    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
                    tar.addfile(info, io.BytesIO(data))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise explain(err, "write", target) from None
    return target


# --- the command -----------------------------------------------------------------------------------

EXIT_OK, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 0, 2, 3


@dataclass(frozen=True)
class Diagnosis:
    archive: Path
    report: str
    reachable: bool


class DiagnoseRefused(Exception):
    """Bad input: DIR missing, or its answers do not render."""


def run_diagnosis(directory: Path, options) -> Diagnosis:
    """Collect, analyze and write the archive for DIR (the CLI's and the TUI's one path): a fresh
    read-only context from DIR's answers, never the context of a run (it may be cancelled)."""
    from .analyzer import analyze, format_report
    from .session import REFUSED, InstallSession

    directory = Path(directory)
    if not directory.is_dir():
        raise DiagnoseRefused(f"--dir {directory} is not an install directory (it does not exist)")
    session = InstallSession(directory, options=options)
    try:
        rendered = session.render(scratch=True)
    except REFUSED as err:
        raise DiagnoseRefused(str(err)) from None
    try:
        ctx = session.context(rendered, dry_run=True, look_only=True, rerender=False)
        snapshot = collect(ctx, directory=directory)  # DIR's state and log, not the scratch copy's
    finally:
        rendered.cleanup()
    report = format_report(snapshot, analyze(snapshot))
    return Diagnosis(write_archive(directory, snapshot, report=report), report, snapshot.reachable)


def diagnose(directory: Path, options, out=None) -> int:
    """`wizard diagnose`: collect, analyze, print the report, write the archive."""
    import sys

    out = out or sys.stdout
    try:
        result = run_diagnosis(directory, options)
    except DiagnoseRefused as err:
        print(f"diagnose: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(result.report, file=out)
    print(f"wrote {result.archive} (0600): send it along with a question; secrets in it are masked", file=out)
    return EXIT_OK if result.reachable else EXIT_UNREACHABLE
