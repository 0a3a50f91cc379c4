"""The causes of the failures BinderHub operators hit most, read from a diagnose Snapshot.

Pure: data in, causes out; no cluster, no files. Each rule looks for the evidence a real cluster
leaves (the kubelet's and controllers' event reasons and messages, pod and container statuses,
cert-manager's Challenge status, the log lines of the hub and the builds) and names the cause and
the next command to run. A clean install gives no cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator

from .diagnose import Snapshot


@dataclass(frozen=True)
class Cause:
    rule: str
    cause: str
    next_command: str
    evidence: str


Rule = Callable[[Snapshot], Iterator[Cause]]
RULES: list[tuple[str, Rule]] = []


def rule(name: str):
    def register(fn: Rule) -> Rule:
        RULES.append((name, fn))
        return fn
    return register


# --- reading the snapshot ----------------------------------------------------------------------------

def _ns(s: Snapshot) -> str:
    return s.settings.get("namespace") or "binder"


def _pods(s: Snapshot) -> Iterator[tuple[str, dict]]:
    for ns, kinds in s.namespaces.items():
        for pod in kinds.get("pods") or []:
            yield ns, pod


def _events(s: Snapshot) -> Iterator[tuple[str, dict]]:
    for ns, kinds in s.namespaces.items():
        for event in kinds.get("events") or []:
            yield ns, event


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def _labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


def _statuses(pod: dict) -> list[dict]:
    status = pod.get("status") or {}
    return (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])


def _condition(obj: dict, kind: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _involved(event: dict) -> str:
    obj = event.get("involvedObject") or event.get("regarding") or {}
    return f"{obj.get('kind', '?')} {obj.get('namespace', '')}/{obj.get('name', '?')}".replace(" /", " ")


def _state_errors(s: Snapshot) -> Iterator[tuple[str, str]]:
    for stage, record in ((s.state or {}).get("stages") or {}).items():
        if isinstance(record, dict) and record.get("error"):
            yield stage, str(record["error"])


def _texts(s: Snapshot) -> Iterator[tuple[str, str]]:
    """(where, text) of every message a failure may be told in: logs, stage errors, install.log."""
    for key, text in s.logs.items():
        yield f"log of {key}", text
    for stage, error in _state_errors(s):
        yield f"stage {stage}", error
    for name, probe in (s.probes or {}).items():
        if probe.get("text"):
            yield f"{name} page {probe.get('url', '')} (HTTP {probe.get('status')})", probe["text"]
    if s.log_tail:
        yield "install.log", s.log_tail


def _line_with(text: str, pattern: re.Pattern) -> str | None:
    for line in text.splitlines():
        if pattern.search(line):
            return line
    return None


# --- the rules ------------------------------------------------------------------------------------------

_NOT_SOCKET = re.compile(r"hostPath type check failed: (\S*dind\S*|\S*docker\.sock|\S*podman\S*) is not a socket file")


@rule("dind-socket-missing")
def dind_socket(s: Snapshot) -> Iterator[Cause]:
    seen: set[str] = set()
    nodes = {(ns, _name(pod)): (pod.get("spec") or {}).get("nodeName", "") for ns, pod in _pods(s)}
    for ns, event in _events(s):
        message = event.get("message") or ""
        match = _NOT_SOCKET.search(message)
        if event.get("reason") != "FailedMount" or not match:
            continue
        pod = (event.get("involvedObject") or {}).get("name", "")
        node = nodes.get((ns, pod), "") or "its node"
        if node in seen:
            continue
        seen.add(node)
        yield Cause("dind-socket-missing",
                    f"build pods cannot start on {node}: the image builder's socket {match.group(1)} is missing "
                    "there (the dind pod of that node is not running, or the path was created as a directory "
                    "before it started)",
                    f"kubectl -n {ns} get pods -l component=image-builder -o wide   # then delete the dind pod on "
                    f"{node}; if {match.group(1)} is a directory on the node, remove it first",
                    f"{_involved(event)}: {_short(message)}")


_UNAUTHORIZED = re.compile(r"401 Unauthorized|unauthorized|authorization failed|no basic auth credentials|"
                           r"pull access denied", re.I)


@rule("image-pull-unauthorized")
def image_pull_401(s: Snapshot) -> Iterator[Cause]:
    failing: dict[str, str] = {}
    for ns, pod in _pods(s):
        for status in _statuses(pod):
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff") and _UNAUTHORIZED.search(
                    waiting.get("message") or ""):
                failing.setdefault(status.get("image", ""), f"Pod {ns}/{_name(pod)}: {_short(waiting['message'])}")
    for ns, event in _events(s):
        message = event.get("message") or ""
        if event.get("reason") == "Failed" and message.startswith("Failed to pull image") and \
                _UNAUTHORIZED.search(message):
            image = message.split('"')[1] if message.count('"') >= 2 else ""
            failing.setdefault(image, f"{_involved(event)}: {_short(message)}")
    for image, evidence in failing.items():
        registry = image.split("/")[0] if "/" in image else "the registry"
        yield Cause("image-pull-unauthorized",
                    f"the kubelet is refused pulling {image or 'an image'} (401): the pod names no pull "
                    f"credentials for {registry}, or they are wrong (imagePullSecret of the user pods)",
                    f"kubectl -n {_ns(s)} get secret -o name | grep -i pull; wizard verify --dir DIR   # the "
                    "registry check logs in with the answers' credentials",
                    evidence)


_SELF_CHECK = re.compile(r"failed to perform self check GET request '(?P<url>[^']+)'")
_DIAL = re.compile(r"dial tcp (?P<addr>[\d.]+):(?P<port>\d+): (?P<error>.*)")


@rule("acme-challenge-pending")
def acme_pending(s: Snapshot) -> Iterator[Cause]:
    public_ip = s.settings.get("public_ip") or ""
    for challenge in s.cert_manager.get("challenges") or []:
        status = challenge.get("status") or {}
        reason = status.get("reason") or ""
        if status.get("state") not in ("pending", "processing", "", None) or not reason:
            continue
        host = (challenge.get("spec") or {}).get("dnsName", "")
        where = f"Challenge {(challenge.get('metadata') or {}).get('namespace', '')}/{_name(challenge)}"
        check = _SELF_CHECK.search(reason)
        said = f"self check of {check.group('url')} failed: {reason.rsplit(chr(34) + ': ', 1)[-1]}" if check else reason
        evidence = f"{where} ({host}): state {status.get('state') or 'unset'}: {_short(said, 400)}"
        dial = _DIAL.search(reason)
        if "no such host" in reason or (dial and public_ip and dial.group("addr") != public_ip):
            points = f"{dial.group('addr')}" if dial else "nowhere"
            yield Cause("acme-dns",
                        f"ACME challenge for {host} pending: its DNS name points {('at ' + points) if dial else points}, "
                        f"not at the public IP {public_ip or '(unknown)'}",
                        f"dig +short {host}   # must print {public_ip or 'the public IP'}; fix the A record", evidence)
        elif dial and "connection refused" in dial.group("error"):
            yield Cause("acme-port-80",
                        f"ACME challenge for {host} pending: nothing answers on port {dial.group('port')} of "
                        f"{dial.group('addr')} (port 80 closed by a firewall, or the ingress controller's Service "
                        "does not hold the public IP)",
                        f"curl -sv http://{host}/.well-known/acme-challenge/test   # from outside; open port 80 "
                        "to the node", evidence)
        elif _SELF_CHECK.search(reason) and re.search(r"i/o timeout|deadline exceeded|Client\.Timeout", reason):
            yield Cause("acme-hairpin-nat",
                        f"ACME challenge for {host} pending: cert-manager's self check inside the cluster cannot "
                        f"reach the public IP {dial.group('addr') if dial else public_ip} (hairpin NAT: the router "
                        "does not route "
                        "the node's own public address back to it)",
                        f"curl -sv http://{host}/.well-known/acme-challenge/test   # works from outside but not "
                        "from the node: add a CoreDNS rewrite of the host to the ingress controller's Service",
                        evidence)
        elif _SELF_CHECK.search(reason) and re.search(r"wrong status code '404'", reason):
            yield Cause("acme-challenge-pending",
                        f"ACME challenge for {host} pending: the ingress controller answers 404 for the "
                        "challenge path (the solver's Ingress is not served by it)",
                        "kubectl get ingress -A -l acme.cert-manager.io/http01-solver=true", evidence)
        else:
            yield Cause("acme-challenge-pending", f"ACME challenge for {host} pending",
                        f"kubectl describe challenge -n {(challenge.get('metadata') or {}).get('namespace', '')} "
                        f"{_name(challenge)}", evidence)


_WEBHOOK_CALL = re.compile(r'failed calling webhook "webhook\.cert-manager\.io"|'
                           r"cert-manager-webhook.*(no endpoints available|connection refused|x509)")


@rule("cert-manager-webhook-not-ready")
def cert_manager_webhook(s: Snapshot) -> Iterator[Cause]:
    cm = s.namespaces.get("cert-manager") or {}
    evidence = ""
    for deployment in cm.get("deployments") or []:
        if _name(deployment).endswith("webhook"):
            available = _condition(deployment, "Available")
            if not available or available.get("status") != "True":
                evidence = (f"Deployment cert-manager/{_name(deployment)}: Available="
                            f"{(available or {}).get('status', 'unknown')} {_short((available or {}).get('message', ''))}")
    for where, text in _texts(s):
        line = _line_with(text, _WEBHOOK_CALL)
        if line:
            evidence = (evidence + "; " if evidence else "") + f"{where}: {_short(line)}"
            break
    if evidence:
        yield Cause("cert-manager-webhook-not-ready",
                    "cert-manager's webhook does not answer yet (its pod not ready, or its CA bundle not yet "
                    "injected): the API server refuses cert-manager objects until it does",
                    "kubectl -n cert-manager get pods,endpoints cert-manager-webhook; then run the install again",
                    evidence)


@rule("hub-db-claim-pending")
def hub_claim(s: Snapshot) -> Iterator[Cause]:
    ns = _ns(s)
    kinds = s.namespaces.get(ns) or {}
    defaults = [_name(sc) for sc in s.cluster.get("storageclasses") or []
                if ((sc.get("metadata") or {}).get("annotations") or {}).get(
                    "storageclass.kubernetes.io/is-default-class") == "true"]
    for claim in kinds.get("persistentvolumeclaims") or []:
        if _name(claim) != "hub-db-dir" or (claim.get("status") or {}).get("phase") != "Pending":
            continue
        wanted = (claim.get("spec") or {}).get("storageClassName")
        said = [e.get("message", "") for _n, e in _events(s)
                if (e.get("involvedObject") or {}).get("name") == "hub-db-dir"
                and e.get("reason") in ("FailedBinding", "ProvisioningFailed")]
        if wanted:
            known = {_name(sc) for sc in s.cluster.get("storageclasses") or []}
            if wanted in known and not said:
                continue  # e.g. WaitForFirstConsumer: binds once the hub pod is scheduled
            cause = f"the hub's database claim is Pending: StorageClass {wanted} " + \
                    ("does not exist" if wanted not in known else "cannot provision it")
        elif defaults:
            continue
        else:
            cause = "the hub's database claim is Pending: it names no StorageClass and the cluster has no default one"
        yield Cause("hub-db-claim-pending", cause,
                    "kubectl get storageclass   # install the storage stage (wizard install --only storage) or "
                    "mark one default: kubectl annotate storageclass NAME storageclass.kubernetes.io/is-default-class=true",
                    f"PersistentVolumeClaim {ns}/hub-db-dir Pending" + (f"; event: {_short(said[-1])}" if said else "")
                    + f"; default StorageClasses: {', '.join(defaults) or 'none'}")


@rule("disk-pressure-evictions")
def disk_pressure(s: Snapshot) -> Iterator[Cause]:
    pressured = [_name(node) for node in s.cluster.get("nodes") or []
                 if (_condition(node, "DiskPressure") or {}).get("status") == "True"]
    evicted = []
    for ns, pod in _pods(s):
        status = pod.get("status") or {}
        if status.get("reason") == "Evicted" and re.search(r"low on resource: (ephemeral-storage|nodefs|imagefs)",
                                                           status.get("message") or ""):
            evicted.append(f"{ns}/{_name(pod)}: {_short(status.get('message', ''), 120)}")
    for _ns_, event in _events(s):
        if event.get("reason") == "Evicted" and "ephemeral-storage" in (event.get("message") or ""):
            evicted.append(f"{_involved(event)}: {_short(event.get('message', ''), 120)}")
    if evicted or pressured:
        node = pressured[0] if pressured else "the node"
        yield Cause("disk-pressure-evictions",
                    f"pods are evicted because {node} is short of disk (DiskPressure): images of past builds and "
                    "logs fill it",
                    f"kubectl describe node {node}   # then free space: crictl rmi --prune on the node, and check "
                    "BinderHub's imageCleaner",
                    "; ".join(([f"DiskPressure=True on {', '.join(pressured)}"] if pressured else []) + evicted[:3]))


# Keycloak's error page (its message invalidParameterMessage), and its event log's error code.
_REDIRECT = re.compile(r"Invalid parameter: redirect_uri|error=invalid_redirect_uri")


@rule("keycloak-redirect-uri")
def keycloak_redirect(s: Snapshot) -> Iterator[Cause]:
    for where, text in _texts(s):
        line = _line_with(text, _REDIRECT)
        if line:
            hub = s.settings.get("hub_url") or "https://HUB_HOST/"
            yield Cause("keycloak-redirect-uri",
                        f"Keycloak refuses the hub's login: the client's Valid redirect URIs do not include "
                        f"{hub}hub/oauth_callback",
                        f"add {hub}hub/oauth_callback to the client's Valid redirect URIs in Keycloak's admin "
                        "console, then: wizard verify --dir DIR",
                        f"{where}: {_short(line)}")
            return


_PUSH_REFUSED = re.compile(r"denied: requested access to the resource is denied|"
                           r"unauthorized: authentication required|unauthorized to access repository|"
                           r"(push|pushing).*(denied|unauthorized|forbidden|401|403|413 Request Entity Too Large)|"
                           r"server gave HTTP response to HTTPS client", re.I)


@rule("registry-push-refused")
def registry_push(s: Snapshot) -> Iterator[Cause]:
    for where, text in _texts(s):
        if where.startswith("install.log"):
            continue  # the wizard's own registry check reports its findings in the stage error
        line = _line_with(text, _PUSH_REFUSED)
        if line:
            yield Cause("registry-push-refused",
                        "the registry refuses BinderHub's push of a built image (wrong credentials, a user "
                        "without push rights on the project, or a body-size limit in front of it)",
                        "wizard verify --dir DIR   # its registry check logs in with the answers' credentials; "
                        f"then kubectl -n {_ns(s)} rollout restart deploy/binder",
                        f"{where}: {_short(line)}")
            return


@rule("service-without-public-ip")
def service_ip(s: Snapshot) -> Iterator[Cause]:
    public_ip = s.settings.get("public_ip") or ""
    if not public_ip:
        return
    for ns, kinds in s.namespaces.items():
        for service in kinds.get("services") or []:
            spec = service.get("spec") or {}
            if spec.get("type") not in ("LoadBalancer",) and not spec.get("externalIPs"):
                continue
            if not _is_ingress_controller(service):
                continue
            addresses = set(spec.get("externalIPs") or []) | {
                entry.get("ip") for entry in ((service.get("status") or {}).get("loadBalancer") or {}).get(
                    "ingress") or []}
            if public_ip not in addresses:
                yield Cause("service-without-public-ip",
                            f"the ingress controller's Service {ns}/{_name(service)} does not hold the public IP "
                            f"{public_ip}: nothing receives ports 80 and 443 there",
                            f"kubectl -n {ns} get service {_name(service)} -o wide; then: wizard install --dir DIR "
                            "--from ingress",
                            f"Service {ns}/{_name(service)} type {spec.get('type')}: addresses "
                            f"{', '.join(sorted(a for a in addresses if a)) or 'none'}")


def _is_ingress_controller(service: dict) -> bool:
    labels = _labels(service)
    return labels.get("app.kubernetes.io/name") in ("ingress-nginx", "traefik") and \
        labels.get("app.kubernetes.io/component", "controller") == "controller"


_CONFIG_ERROR = re.compile(r"TraitError|Traceback|Error|Exception|Invalid|Unrecognized|KeyError|SyntaxError")


@rule("hub-crash-loop")
def hub_crash(s: Snapshot) -> Iterator[Cause]:
    for ns, pod in _pods(s):
        if _labels(pod).get("component") != "hub":
            continue
        for status in _statuses(pod):
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") != "CrashLoopBackOff":
                continue
            terminated = (status.get("lastState") or {}).get("terminated") or {}
            logs = [text for key, text in s.logs.items() if key.startswith(f"{ns}/{_name(pod)}/")]
            lines = [line for text in logs for line in text.splitlines() if _CONFIG_ERROR.search(line)]
            said = lines[-1] if lines else f"exit code {terminated.get('exitCode', '?')}"
            yield Cause("hub-crash-loop",
                        "the hub restarts again and again (CrashLoopBackOff): it stops on its configuration "
                        "(a key of hub.config or extraConfig it does not accept)",
                        f"kubectl -n {ns} logs {_name(pod)} --previous   # the last lines name the setting",
                        f"Pod {ns}/{_name(pod)}: {status.get('restartCount', 0)} restarts, last: {_short(said)}")
            return


# --- running them ----------------------------------------------------------------------------------------

def analyze(snapshot: Snapshot) -> list[Cause]:
    """Every cause the rules find, in rule order; a rule that trips on odd data is skipped, never fatal."""
    causes: list[Cause] = []
    for _name_, fn in RULES:
        try:
            causes.extend(fn(snapshot))
        except Exception:  # noqa: BLE001 - a malformed object must not hide the other rules' findings
            continue
    return causes


def format_report(snapshot: Snapshot, causes: list[Cause]) -> str:
    lines = [f"binderhub-wizard diagnostics, {snapshot.taken or 'time unknown'}"]
    if not snapshot.reachable:
        lines.append("The cluster's API server did not answer: only the install directory was read.")
    if causes:
        lines.append(f"{len(causes)} likely cause{'s' if len(causes) != 1 else ''}:")
        for number, cause in enumerate(causes, 1):
            lines += [f"{number}. [{cause.rule}] {cause.cause}", f"   evidence: {cause.evidence}",
                      f"   next: {cause.next_command}"]
    else:
        lines.append("No known cause found" + (" in what could be read." if snapshot.reachable else "."))
    nodes = snapshot.cluster.get("nodes") or []
    for node in nodes:
        status = node.get("status") or {}
        pressure = [c.get("type") for c in status.get("conditions") or []
                    if c.get("type", "").endswith("Pressure") and c.get("status") == "True"]
        ready = (_condition(node, "Ready") or {}).get("status", "Unknown")
        capacity = status.get("capacity") or {}
        lines.append(f"node {_name(node)}: Ready={ready}, cpu {capacity.get('cpu', '?')}, memory "
                     f"{capacity.get('memory', '?')}, ephemeral-storage {capacity.get('ephemeral-storage', '?')}"
                     + (f", pressure: {', '.join(pressure)}" if pressure else ""))
    if snapshot.problems:
        lines.append(f"Not read ({len(snapshot.problems)}):")
        lines += [f"  - {problem}" for problem in snapshot.problems[:20]]
    return "\n".join(lines) + "\n"
