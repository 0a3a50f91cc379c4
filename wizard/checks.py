"""Checks against the live cluster, one function per named check.

Each raises CheckFailed with what is wrong in plain words and the next thing to do; waits go
through Cluster.wait_for (a watch with an announced deadline), never a sleep loop.
"""

from __future__ import annotations

import re
import shutil
import socket
import time
from typing import Callable

from .context import CheckFailed, Context, PreflightRefused
from .kube import (Resource, WaitTimeout, api_error_text, condition, deadline_message, deployment_available,
                   is_true, preload)
from .render.infra import (DEFAULT_CLASS_ANNOTATION, INGRESS_DEPLOYMENTS, admission_check_ingress,
                           api_check_certificate)
from .render.expose import (LOAD_BALANCER_CLASS, METALLB_CRDS, METALLB_NAMESPACE, METALLB_POOL, METALLB_VERSION,
                            external_addresses, service_spec, status_patch_command)
from .render.values import PULL_SECRET, image_pull_secret, ingress_class, issuer_name, pull_registry
from .runner import Cancelled

MIN_KUBERNETES = (1, 28)
MIN_KUBECTL = (1, 28)
MIN_HELM = (3, 8)  # OCI chart references


def _version_tuple(text: str) -> tuple[int, int]:
    match = re.search(r"v?(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _wait(ctx: Context, stage: str, resource: Resource, name: str, predicate, *, explain, next_step: str) -> dict:
    try:
        return ctx.cluster.wait_for(resource, name, predicate, timeout=ctx.options.timeout,
                                    notify=lambda msg: ctx.notify(stage, msg))
    except WaitTimeout as err:
        raise CheckFailed(resource.describe, f"{err}; {explain(err.last)}", next_step) from None


def _until_accepted(ctx: Context, stage: str, what: str, attempt: Callable[[], object]) -> None:
    """Retry `attempt` (a server-side dry run) until it succeeds or the deadline passes, then raise
    its last error. A dry run has no object to watch, so this polls, backing off from 0.1 s to 5 s:
    a webhook usually answers within moments of its pod turning ready (the endpoint, the CA
    injected), and a first pause of 0.5 s was most of the wait."""
    deadline = time.monotonic() + ctx.options.timeout
    ctx.notify(stage, deadline_message(what, ctx.options.timeout))
    pause = 0.1
    while True:
        try:
            attempt()
            return
        except Exception:  # noqa: BLE001 - the caller maps the last error to a cause
            if time.monotonic() + pause > deadline:
                raise
        if ctx.cancel.wait(pause):
            raise Cancelled(what)
        pause = min(pause * 2, 5.0)


# --- preflight ---------------------------------------------------------------------------------

def tools_present(ctx: Context) -> None:
    for tool, minimum, argv in (("kubectl", MIN_KUBECTL, ["kubectl", "version", "--client", "-o", "json"]),
                                ("helm", MIN_HELM, ["helm", "version", "--short"])):
        if shutil.which(tool) is None:
            raise PreflightRefused(f"{tool}-present", f"{tool} is not on PATH",
                                   f"install {tool} {minimum[0]}.{minimum[1]} or newer and run again")
        result = ctx.runner.run("preflight", argv, mutating=False, check=False)
        found = _version_tuple(re.sub(r'"major":\s*"(\d+)",\s*"minor":\s*"(\d+)', r"v\1.\2", result.output))
        if not result.ok or found < minimum:
            raise PreflightRefused(f"{tool}-version", f"{tool} {found[0]}.{found[1]} is older than "
                                   f"{minimum[0]}.{minimum[1]}", f"upgrade {tool}")
    if ctx.settings.hub.database.type == "postgres":
        # Needed only later, by the backup before a change to the hub and by `wizard rollback`:
        # said now, not when an upgrade is refused for want of them.
        missing = [tool for tool in ("pg_dump", "psql") if shutil.which(tool) is None]
        if missing:
            ctx.notify("preflight", f"warning: {' and '.join(missing)} not on PATH: the backup of the PostgreSQL hub "
                                    "database before a change to the hub, and `wizard rollback`, need them "
                                    "(apt-get install postgresql-client), or pass --no-database-backup")


def api_answers(ctx: Context) -> None:
    try:
        info = ctx.cluster.plain(ctx.cluster.call(ctx.cluster.version_api.get_code))
    except Exception as err:  # noqa: BLE001 - any failure here means "no cluster reachable"
        raise PreflightRefused("api-reachable", f"the Kubernetes API does not answer ({api_error_text(err)})",
                               "check the kubeconfig and context (kubectl cluster-info) and run again") from None
    version = _version_tuple(info.get("gitVersion") or f"{info.get('major')}.{info.get('minor')}")
    ctx.facts["kubernetes"] = info.get("gitVersion")
    if version < MIN_KUBERNETES:
        raise PreflightRefused("kubernetes-version", f"Kubernetes {info.get('gitVersion')} is older than 1.28, "
                               "the oldest the BinderHub chart supports", "upgrade the cluster")


def may_create_cluster_objects(ctx: Context) -> None:
    from kubernetes import client

    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(verb="create", group="rbac.authorization.k8s.io",
                                                        resource="clusterroles")))
    answer = ctx.cluster.plain(ctx.cluster.call(ctx.cluster.authz.create_self_subject_access_review, review))
    if not (answer.get("status") or {}).get("allowed"):
        raise PreflightRefused("cluster-admin", "this kubeconfig may not create cluster-scoped objects "
                               "(ClusterRoles, StorageClasses, CRDs), which the charts need",
                               "use a cluster-admin context (cluster.context) and run again")


def nodes_ready(ctx: Context) -> None:
    nodes = ctx.cluster.items(ctx.cluster.core.list_node)
    ready = [n for n in nodes if is_true(n, "Ready")]
    if not ready:
        raise PreflightRefused("node-ready", f"no node is Ready ({len(nodes)} node(s) found)",
                               "check `kubectl get nodes` and the kubelet on each node")
    runtimes = {((n.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", "") for n in ready}
    runtime = "docker" if runtimes and all(r.startswith("docker://") for r in runtimes) else "containerd"
    ctx.facts.update(nodes=len(nodes), runtime=runtime, runtimes=sorted(runtimes))
    found = {"runtime": runtime, "nodes": len(nodes)}
    answered = {"runtime": ctx.settings.cluster.runtime, "nodes": ctx.settings.cluster.nodes}
    if found != answered and ctx.rerender is not None:
        builder = "the host's Docker socket" if runtime == "docker" else "dind"
        ctx.notify("preflight", f"the cluster has {len(nodes)} node(s) running {runtime} (answered: "
                   f"{answered['nodes']}, {answered['runtime']}): answers updated, so BinderHub builds with "
                   f"{builder} and the image cleaner {'may' if len(nodes) > 1 else 'must not'} cordon a node")
        ctx.settings = ctx.rerender({"cluster": found})
    if ctx.settings.registry.type == "none" and runtime != "docker":
        raise PreflightRefused(
            "registry-needed", f"registry.type is none, but the nodes run {', '.join(sorted(runtimes))}: "
            "images built by BinderHub's dind builder never reach the kubelet without a registry",
            "set registry.type to external (your registry) or in-cluster (the wizard deploys one)")


def hosts_resolve(ctx: Context) -> None:
    s = ctx.settings
    if not s.production:
        return
    for host in (s.network.binder_host, s.network.hub_host):
        if host in ctx.options.resolve:
            continue
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)}
        except OSError:
            addresses = set()
        if s.network.public_ip not in addresses:
            ctx.notify("preflight", f"warning: {host} resolves to {', '.join(sorted(addresses)) or 'nothing'}, "
                       f"not {s.network.public_ip}: Let's Encrypt cannot issue its certificate until DNS points "
                       "there")


def public_ip_free(ctx: Context) -> None:
    ip = ctx.settings.network.public_ip
    controller_ns = INGRESS_DEPLOYMENTS[ctx.settings.ingress.controller][0]
    for svc in ctx.cluster.items(ctx.cluster.core.list_service_for_all_namespaces):
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        if meta.get("namespace") == controller_ns:
            continue
        ports = {p.get("port") for p in spec.get("ports") or []}
        holds = ip in (spec.get("externalIPs") or []) or ip in [
            i.get("ip") for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
        if holds and ports & {80, 443}:
            ctx.notify("preflight", f"warning: Service {meta.get('namespace')}/{meta.get('name')} already "
                       f"holds {ip} on port 80 or 443; two ingress paths on one address will fight")


def expose_check_service(s) -> dict:
    """A Service shaped as network.expose shapes the controller's (for a server-side dry run)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "binderhub-wizard-expose-check", "namespace": "default"},
            "spec": {**service_spec(s), "ports": [{"port": 80}]}}


def _dry_run_service(ctx: Context, check: str, what: str, next_step: str) -> None:
    try:
        ctx.cluster.call(ctx.cluster.core.create_namespaced_service, "default", expose_check_service(ctx.settings),
                         dry_run="All")
    except Exception as err:  # noqa: BLE001 - any refusal: the ingress stage's Service would meet it too
        raise PreflightRefused(check, f"the API server refuses {what} ({api_error_text(err)}); nothing was installed",
                               next_step) from None


def expose_possible(ctx: Context) -> None:
    """network.expose must work on this cluster before anything is installed. external-ips and
    load-balancer: the API server must accept a Service of the shape the mode gives the
    controller's (a server-side dry run: the DenyServiceExternalIPs admission plugin, or a policy,
    refuses it whatever the version says); from Kubernetes 1.36 on externalIPs are deprecated,
    which is a warning. metallb: MetalLB's CRDs (metallb.io/v1beta1) and its namespace must be there."""
    s = ctx.settings
    mode, ip = s.network.expose, s.network.public_ip
    if mode == "external-ips":
        version = ctx.facts.get("kubernetes") or ""
        if _version_tuple(version) >= (1, 36):
            ctx.notify("preflight", f"warning: Kubernetes {version} deprecates spec.externalIPs (1.36, KEP-5707, "
                       "CVE-2020-8554); network.expose load-balancer gives the same address without it")
        _dry_run_service(ctx, "external-ips-denied", f"a Service with {ip} in spec.externalIPs",
                         "set network.expose to load-balancer (the default) and run again")
    elif mode == "load-balancer":
        _dry_run_service(ctx, "load-balancer-denied", "a Service of type LoadBalancer (loadBalancerClass "
                         f"{LOAD_BALANCER_CLASS})", "allow LoadBalancer Services in the cluster's policy, or set "
                         "network.expose to external-ips (where externalIPs are allowed) and run again")
    elif mode == "metallb":
        for crd in METALLB_CRDS:
            found = ctx.cluster.get(ctx.cluster.extensions.read_custom_resource_definition, crd)
            served = [v.get("name") for v in ((found or {}).get("spec") or {}).get("versions") or [] if v.get("served")]
            if METALLB_VERSION not in served:
                raise PreflightRefused("metallb-missing", f"MetalLB is not installed: the CRD {crd} "
                                       + ("does not exist" if found is None else f"does not serve {METALLB_VERSION} "
                                          f"(it serves {', '.join(served) or 'nothing'})"),
                                       "install MetalLB 0.13 or newer (https://metallb.io/installation/), or set "
                                       "network.expose to load-balancer, and run again")
        if ctx.cluster.get(ctx.cluster.core.read_namespace, METALLB_NAMESPACE) is None:
            raise PreflightRefused("metallb-missing", f"MetalLB's CRDs exist but its namespace {METALLB_NAMESPACE} "
                                   "does not: the wizard puts its IPAddressPool there",
                                   "install MetalLB into metallb-system, or set network.expose to load-balancer")


PREFLIGHT = {"tools": tools_present, "api": api_answers, "permissions": may_create_cluster_objects,
             "nodes": nodes_ready, "dns": hosts_resolve, "public-ip-free": public_ip_free, "expose": expose_possible}


def preflight(ctx: Context) -> None:
    # The client's API classes take seconds of CPU to import: in a thread, while `tools` waits on
    # kubectl and helm, so that the checks after it and the first stages wait less for them.
    preload()
    for name, check in PREFLIGHT.items():
        if name in ctx.options.skip_checks:
            ctx.notify("preflight", f"skipped check {name} (--skip-check)")
            continue
        check(ctx)


# --- storage -----------------------------------------------------------------------------------

def _is_default(sc: dict) -> bool:
    return ((sc.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"


def other_defaults(ctx: Context) -> list[str]:
    wanted = ctx.settings.storage.storage_class
    return [sc["metadata"]["name"] for sc in ctx.cluster.items(ctx.cluster.storage.list_storage_class)
            if _is_default(sc) and sc["metadata"]["name"] != wanted]


def storage(ctx: Context) -> None:
    wanted = ctx.settings.storage.storage_class
    resource = Resource(f"StorageClass {wanted}", ctx.cluster.storage.list_storage_class)
    _wait(ctx, "storage", resource, wanted, lambda sc: True,
          explain=lambda last: "it does not exist",
          next_step="for provisioner existing, name a class from `kubectl get storageclass`")
    if not _is_default(ctx.cluster.get(ctx.cluster.storage.read_storage_class, wanted) or {}):
        raise CheckFailed("storage-default", f"StorageClass {wanted} is not marked default",
                          f"kubectl annotate storageclass {wanted} {DEFAULT_CLASS_ANNOTATION}=true --overwrite")
    others = other_defaults(ctx)
    if others:
        raise CheckFailed("storage-default", f"other default StorageClasses: {', '.join(others)}: PVCs without "
                          "a class would land on any of them", "run the storage stage again to un-default them")


# --- ingress -----------------------------------------------------------------------------------

def ingress(ctx: Context) -> None:
    s = ctx.settings
    namespace, name = INGRESS_DEPLOYMENTS[s.ingress.controller]
    apps = ctx.cluster.apps
    _wait(ctx, "ingress", Resource(f"Deployment {namespace}/{name} available", apps.list_namespaced_deployment,
                                   (namespace,)), name, deployment_available,
          explain=lambda last: "its pods are not ready" if last else "it does not exist",
          next_step=f"kubectl -n {namespace} describe deployment {name}")
    ingress_address(ctx)
    cls = ingress_class(s)
    if ctx.cluster.get(ctx.cluster.networking.read_ingress_class, cls) is None:
        raise CheckFailed("ingress-class", f"IngressClass {cls} does not exist", "run the ingress stage again")
    if s.ingress.controller == "ingress-nginx":
        ingress_admission(ctx)
    ingress_reachable(ctx)


def ingress_address(ctx: Context) -> None:
    """The controller's Service shows the public IP as its external address, as `kubectl get svc`
    does (status for a LoadBalancer, spec.externalIPs for any type). MetalLB assigns it a moment
    after the Service appears: waited for."""
    s = ctx.settings
    ip, mode = s.network.public_ip, s.network.expose
    namespace, name = INGRESS_DEPLOYMENTS[s.ingress.controller]
    where = f"Service {namespace}/{name}"
    if mode == "metallb":
        _wait(ctx, "ingress", Resource(f"{where} to get {ip} from MetalLB", ctx.cluster.core.list_namespaced_service,
                                       (namespace,)), name, lambda svc: ip in external_addresses(svc),
              explain=lambda last: f"it has {', '.join(external_addresses(last)) or 'no external address'}",
              next_step=f"kubectl -n {namespace} describe service {name} (MetalLB's events); kubectl -n "
                        f"{METALLB_NAMESPACE} get ipaddresspool {METALLB_POOL}; kubectl -n {METALLB_NAMESPACE} "
                        "logs deploy/controller")
        return
    svc = ctx.cluster.get(ctx.cluster.core.read_namespaced_service, name, namespace)
    found = external_addresses(svc)
    if ip in found:
        return
    has = ", ".join(found) or "none"
    if svc is None:
        raise CheckFailed("ingress-external-ip", f"{where} does not exist", "run the ingress stage again")
    if mode == "load-balancer":
        raise CheckFailed("ingress-external-ip", f"{where} does not show {ip} as its external address (it has {has}): "
                          "its status.loadBalancer was lost (a re-created Service starts without it)",
                          f"{status_patch_command(s)} (or: wizard install --only ingress)")
    raise CheckFailed("ingress-external-ip", f"{where} does not carry {ip} in spec.externalIPs (it has {has})",
                      "run the ingress stage again: the address comes from the chart values, not a patch")


def ingress_reachable(ctx: Context) -> None:
    """A request to http://PUBLIC_IP/ from this machine reaches the controller: any HTTP answer (a
    404 from the controller's default backend is fine). Retried until the deadline: kube-proxy
    programs the address a moment after the Service changes."""
    from . import probe

    ip = ctx.settings.network.public_ip
    host = f"[{ip}]" if ":" in ip else ip
    url = f"http://{host}/"
    prober = probe.Prober(ctx.options.resolve, ctx.options.ca_bundle, timeout=5)
    try:
        _until_accepted(ctx, "ingress", f"{url} to answer", lambda: prober.get(url))
    except Cancelled:
        raise
    except probe.ProbeError as err:
        raise CheckFailed("ingress-http", f"{url} does not answer from this machine ({err.problem})",
                          "likely causes: a firewall between here and the node (port 80 closed), a wrong "
                          "network.public_ip (not an address routed to the node), or kube-proxy not routing the "
                          "Service's external address (its mode; kubectl -n kube-system logs ds/kube-proxy)") from None


def ingress_admission(ctx: Context) -> None:
    """ingress-nginx's validating webhook (failurePolicy Fail) refuses every Ingress until it
    answers: BinderHub's Ingresses must wait for a dry-run Ingress to be accepted."""
    probe = admission_check_ingress()
    namespace = probe["metadata"]["namespace"]
    try:
        _until_accepted(ctx, "ingress", "the ingress-nginx admission webhook to accept a dry-run Ingress",
                        lambda: ctx.cluster.call(ctx.cluster.networking.create_namespaced_ingress, namespace,
                                                 probe, dry_run="All"))
    except Cancelled:
        raise
    except Exception as err:  # noqa: BLE001 - said in plain words below
        raise CheckFailed("ingress-admission", f"the ingress-nginx admission webhook refuses Ingresses "
                          f"({api_error_text(err)}): BinderHub's Ingresses would be refused too",
                          f"kubectl -n {namespace} get pods,endpoints; kubectl -n {namespace} logs "
                          "deploy/ingress-nginx-controller") from None


# --- certificates ------------------------------------------------------------------------------

_WEBHOOK_CAUSES = (
    (r"no matches for kind|the server could not find the requested resource|404",
     "the cert-manager CRDs are missing", "run the cert-manager stage again (crds.enabled)"),
    (r"x509|certificate signed by unknown authority|caBundle",
     "the webhook's CA is not injected yet", "wait for cert-manager-cainjector, then run again"),
    (r"connection refused|no endpoints available|context deadline exceeded|failed calling webhook|timeout",
     "the cert-manager webhook is not ready", "kubectl -n cert-manager get pods; then run again"),
)


def cert_manager_api(ctx: Context) -> None:
    """What `cmctl check api` does: a server-side dry-run create of a Certificate must succeed."""
    apps = ctx.cluster.apps
    _wait(ctx, "cert-manager", Resource("Deployment cert-manager/cert-manager-webhook available",
                                        apps.list_namespaced_deployment, ("cert-manager",)),
          "cert-manager-webhook", deployment_available, explain=lambda last: "its pod is not ready",
          next_step="kubectl -n cert-manager describe deployment cert-manager-webhook")
    probe = api_check_certificate()
    try:
        # Retried: the webhook's pod is ready before cainjector has put its CA in place (x509).
        _until_accepted(ctx, "cert-manager", "the cert-manager webhook to accept a dry-run Certificate",
                        lambda: ctx.cluster.call(ctx.cluster.custom.create_namespaced_custom_object,
                                                 "cert-manager.io", "v1", "cert-manager", "certificates", probe,
                                                 dry_run="All"))
    except Cancelled:
        raise
    except Exception as err:  # noqa: BLE001 - every failure is mapped to a cause below
        text = api_error_text(err)
        for pattern, cause, next_step in _WEBHOOK_CAUSES:
            if re.search(pattern, text, re.I):
                raise CheckFailed("cert-manager-api", f"{cause} ({text})", next_step) from None
        raise CheckFailed("cert-manager-api", f"a dry-run Certificate was refused ({text})",
                          "kubectl -n cert-manager logs deploy/cert-manager-webhook") from None


def issuer(ctx: Context) -> None:
    name = issuer_name(ctx.settings)
    resource = Resource(f"ClusterIssuer {name} Ready", ctx.cluster.custom.list_cluster_custom_object,
                        ("cert-manager.io", "v1", "clusterissuers"))

    def ready_or_failed(obj: dict) -> bool:
        cond = condition(obj, "Ready")
        if cond and cond.get("status") == "False" and cond.get("reason") not in (None, "", "Pending"):
            raise CheckFailed("issuer-ready", f"ClusterIssuer {name} is not Ready: {cond.get('message') or cond.get('reason')}",
                              "check tls.acme_email and tls.acme_server, then run the issuer stage again")
        return is_true(obj, "Ready")

    _wait(ctx, "issuer", resource, name, ready_or_failed,
          explain=lambda last: (condition(last, "Ready") or {}).get("message", "no Ready condition yet"),
          next_step=f"kubectl describe clusterissuer {name}")


# --- namespace and BinderHub -------------------------------------------------------------------

def namespace(ctx: Context) -> None:
    from .render.userpods import CONFIGMAPS

    ns = ctx.settings.cluster.namespace
    for name, *_rest in CONFIGMAPS:
        if ctx.cluster.get(ctx.cluster.core.read_namespaced_config_map, name, ns) is None:
            raise CheckFailed("configmaps", f"ConfigMap {ns}/{name} is missing", "run the namespace stage again")


def binderhub(ctx: Context) -> None:
    s, ns = ctx.settings, ctx.settings.cluster.namespace
    apps, core, net = ctx.cluster.apps, ctx.cluster.core, ctx.cluster.networking
    for name in ("hub", "proxy", "binder"):
        _wait(ctx, "binderhub", Resource(f"Deployment {ns}/{name} available", apps.list_namespaced_deployment, (ns,)),
              name, deployment_available, explain=lambda last: "its pods are not ready" if last else "it does not exist",
              next_step=f"kubectl -n {ns} describe deployment {name}; kubectl -n {ns} logs deploy/{name}")
    if s.hub.database.type == "sqlite-pvc":
        _wait(ctx, "binderhub", Resource(f"PersistentVolumeClaim {ns}/hub-db-dir Bound",
                                         core.list_namespaced_persistent_volume_claim, (ns,)),
              "hub-db-dir", lambda pvc: (pvc.get("status") or {}).get("phase") == "Bound",
              explain=lambda last: "no default StorageClass could provision it (binderhub#897)",
              next_step=f"kubectl -n {ns} describe pvc hub-db-dir")
    if image_pull_secret(s, "") is not None:
        pull_secret(ctx)
    for name in ("binderhub", "jupyterhub"):
        _wait(ctx, "binderhub", Resource(f"Ingress {ns}/{name} admitted", net.list_namespaced_ingress, (ns,)), name,
              lambda ing: bool(((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress")),
              explain=lambda last: "the ingress controller has not taken it",
              next_step=f"kubectl -n {ns} describe ingress {name}")


def pull_secret(ctx: Context) -> None:
    """The Secret z2jh makes from jupyterhub.imagePullSecret, with credentials for the registry the
    built images come from: without it every launch fails with ErrImagePull 401. Only the
    registry names are read from it; the credentials are never shown."""
    import base64
    import json

    s, ns = ctx.settings, ctx.settings.cluster.namespace
    wanted = pull_registry(s)
    secret = ctx.cluster.get(ctx.cluster.core.read_namespaced_secret, PULL_SECRET, ns)
    next_step = ("run `wizard export` and the binderhub stage again (`wizard install --from binderhub`): "
                 "secret.yaml must carry jupyterhub.imagePullSecret")
    if secret is None:
        raise CheckFailed("pull-secret", f"Secret {ns}/{PULL_SECRET} is missing: user pods cannot pull the images "
                          f"BinderHub builds into {wanted} (ErrImagePull 401)", next_step)
    try:
        config = json.loads(base64.b64decode((secret.get("data") or {}).get(".dockerconfigjson", "")))
        registries = sorted((config.get("auths") or {}))
    except (ValueError, TypeError, AttributeError):
        registries = []
    if wanted not in registries:
        raise CheckFailed("pull-secret", f"Secret {ns}/{PULL_SECRET} holds no credentials for {wanted} (it has "
                          f"{', '.join(registries) or 'none'}): user pods cannot pull the images BinderHub builds",
                          next_step)


def certificates(ctx: Context) -> None:
    if not ctx.settings.production:
        return
    ns = ctx.settings.cluster.namespace
    for secret in ("binderhub-tls", "jupyterhub-tls"):
        resource = Resource(f"Certificate {ns}/{secret} Ready", ctx.cluster.custom.list_namespaced_custom_object,
                            ("cert-manager.io", "v1", ns, "certificates"))
        _wait(ctx, "endpoints", resource, secret, lambda c: is_true(c, "Ready"),
              explain=lambda last: (condition(last, "Ready") or {}).get("message", "not issued yet"),
              next_step=f"kubectl -n {ns} describe certificate {secret}; the hosts must resolve to the public IP")


# --- registry ----------------------------------------------------------------------------------

def registry(ctx: Context) -> None:
    """The registry answers /v2/ and accepts our credentials, before BinderHub builds into it. The
    in-cluster one must also refuse anonymous requests, over a trusted certificate."""
    from . import secretstore
    from .registry import probe_registry
    from .render import registry as manifests

    s = ctx.settings
    password = secretstore.read_stored(ctx.directory).get("registry.password", "")
    url = s.registry.url
    if s.registry.type == "in-cluster":
        ns, name = manifests.NAMESPACE, manifests.NAME
        _wait(ctx, "registry", Resource(f"Deployment {ns}/{name} available", ctx.cluster.apps.list_namespaced_deployment,
                                        (ns,)), name, deployment_available,
              explain=lambda last: "its pod is not ready" if last else "it does not exist",
              next_step=f"kubectl -n {ns} describe deployment {name}")
        resource = Resource(f"Certificate {ns}/{manifests.TLS_SECRET} Ready",
                            ctx.cluster.custom.list_namespaced_custom_object, ("cert-manager.io", "v1", ns, "certificates"))
        _wait(ctx, "registry", resource, manifests.TLS_SECRET, lambda c: is_true(c, "Ready"),
              explain=lambda last: (condition(last, "Ready") or {}).get("message", "not issued yet"),
              next_step=f"kubectl -n {ns} describe certificate {manifests.TLS_SECRET}; "
                        f"{s.registry.host} must resolve to the public IP")
        anonymous = probe_registry(url, "", "", ca_bundle=ctx.options.ca_bundle, resolve=ctx.options.resolve)
        if anonymous.ok:
            raise CheckFailed("registry-auth", f"{url} lets anyone push and pull without credentials",
                              "check the registry-htpasswd Secret and REGISTRY_AUTH in registry.yaml")
    result = probe_registry(url, s.registry.username, password, ca_bundle=ctx.options.ca_bundle,
                            resolve=ctx.options.resolve, allow_http=s.registry.allow_http)
    if not result.ok:
        raise CheckFailed(f"registry-{result.kind}", result.message,
                          "fix registry.url, registry.username or the password, then run the registry stage again")
