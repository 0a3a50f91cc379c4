"""The install plan: named stages, what each needs, which rendered files feed it, how it applies
them (helm upgrade --install with a pinned version, kubectl apply: both idempotent), and its checks.

preflight -> storage, ingress, cert-manager (at the same time) -> issuer -> registry -> namespace ->
binderhub -> endpoints -> launch. Profile local has no cert-manager and no issuer; registry.type none no registry.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from . import checks
from .charts import CHARTS, chart_ref
from .context import CheckFailed, Context
from .installdir import SECRET_FILE
from .ledger import Recorder, default_flag
from .render import expose
from .render.infra import DEFAULT_CLASS_ANNOTATION, STORAGE_CHART, STORAGE_VALUES_FILE
from .render.userpods import CONFIGMAPS
from .settings import Settings
from .stage import CLUSTER_STAGES, Stage

__all__ = ["Stage", "CLUSTER_STAGES", "plan", "launch_stage"]


def _recover_interrupted_release(ctx: Context, stage: str, release: str, namespace: str) -> None:
    """A helm killed mid-operation leaves its release "pending-*", and every later upgrade then
    fails with "another operation is in progress". Roll back to the last good revision, or, for a
    first install that never finished, remove it so that it installs afresh."""
    # Helm keeps one Secret per revision, labelled with its status: one API call, no helm process.
    records = ctx.cluster.items(ctx.cluster.core.list_namespaced_secret, namespace,
                                label_selector=f"owner=helm,name={release}")
    history = sorted(((int(r["metadata"]["labels"].get("version", 0)), r["metadata"]["labels"].get("status", ""))
                      for r in records), key=lambda item: item[0])
    if not history or not history[-1][1].startswith("pending"):
        return
    good = [revision for revision, status in history if status in ("deployed", "superseded")]
    ctx.notify(stage, f"release {release} was left {history[-1][1]} by an interrupted run: "
                      + (f"rolling back to revision {good[-1]}" if good else "removing the unfinished install"))
    if good:
        ctx.runner.run(stage, ctx.helm("rollback", release, str(good[-1]), "--namespace", namespace))
    else:
        ctx.runner.run(stage, ctx.helm("uninstall", release, "--namespace", namespace))


def _helm_install(ctx: Context, stage: str, key: str, release: str, namespace: str, values: list[str]) -> None:
    s = ctx.settings
    if not ctx.runner.dry_run:
        _recover_interrupted_release(ctx, stage, release, namespace)
    ref = chart_ref(key, s.answers.get("versions", {}), s.answers.get("charts", {}))
    args = ref.helm_args()
    if ref.kind == "local":
        args = [str(Path(args[0]).expanduser().resolve())]
    from .upgrade import record_release  # the revision to roll back to if the checks fail after it

    record_release(ctx, stage, key, release, namespace, values, args)
    record = Recorder(ctx, stage)  # the ledger (wizard/ledger.py): the release, and a namespace helm made
    record.before_helm(namespace)
    # No --wait: the wizard's own checks wait, with watches and an announced deadline.
    ctx.runner.run(stage, ctx.helm("upgrade", "--install", release, *args, "--namespace", namespace,
                                   "--create-namespace", *[a for v in values for a in ("-f", ctx.file(v))]))
    record.helm(release, namespace, key, ref.version or "")


def _kubectl_apply(ctx: Context, stage: str, *files: str, namespace: str | None = None) -> None:
    args = ["apply", *(["-n", namespace] if namespace else [])]
    for name in files:
        args += ["-f", ctx.file(name)]
    record = Recorder(ctx, stage)  # the ledger: the objects this apply created, by uid
    record.before_apply(args[1:])
    ctx.runner.run(stage, ctx.kubectl(*args))
    record.applied(args[1:])


# --- apply steps -------------------------------------------------------------------------------

def apply_storage(ctx: Context) -> None:
    s = ctx.settings
    if s.storage.provisioner == "openebs":
        chart = CHARTS[STORAGE_CHART]
        _helm_install(ctx, "storage", chart.key, chart.release, chart.namespace, [STORAGE_VALUES_FILE])
    else:
        previous = default_flag(ctx, s.storage.storage_class)
        ctx.runner.run("storage", ctx.kubectl("annotate", "--overwrite", "storageclass", s.storage.storage_class,
                                              f"{DEFAULT_CLASS_ANNOTATION}=true"))
        Recorder(ctx, "storage").default_class(s.storage.storage_class, previous, "true")
    if ctx.runner.dry_run:
        return
    for other in checks.other_defaults(ctx):
        ctx.notify("storage", f"StorageClass {other} was a default too: un-defaulting it, so that volumes land "
                   f"on {s.storage.storage_class}")
        ctx.runner.run("storage", ctx.kubectl("annotate", "--overwrite", "storageclass", other,
                                              f"{DEFAULT_CLASS_ANNOTATION}=false"))
        Recorder(ctx, "storage").default_class(other, "true", "false")


def apply_ingress(ctx: Context) -> None:
    s = ctx.settings
    controller = s.ingress.controller
    if s.network.expose == "metallb":
        _kubectl_apply(ctx, "ingress", expose.METALLB_FILE)  # the pool first: MetalLB assigns on creation
    _helm_install(ctx, "ingress", controller, controller, controller, [f"{controller}-values.yaml"])
    if s.network.expose == "load-balancer":
        write_load_balancer_status(ctx)


def write_load_balancer_status(ctx: Context) -> None:
    """Mode load-balancer: no controller serves the Service's class, so the stage writes the public
    IP into its status, as a load-balancer controller would; kube-proxy then routes it. Written on
    every run of the stage: a re-created Service has lost it (the check then fails, and the engine
    applies the stage again)."""
    ctx.runner.run("ingress", ctx.kubectl(*expose.status_patch(ctx.settings)))


def apply_cert_manager(ctx: Context) -> None:
    _helm_install(ctx, "cert-manager", "cert-manager", "cert-manager", "cert-manager", ["cert-manager-values.yaml"])


def apply_issuer(ctx: Context) -> None:
    _kubectl_apply(ctx, "issuer", "binderhub-issuer.yaml")


def apply_registry(ctx: Context) -> None:
    if ctx.settings.registry.type == "in-cluster":
        _kubectl_apply(ctx, "registry", "registry.yaml")


def apply_namespace(ctx: Context) -> None:
    ns = ctx.settings.cluster.namespace
    manifest = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    record = Recorder(ctx, "namespace")
    record.before_apply(["-f", "-"], stdin=manifest)
    ctx.runner.run("namespace", ctx.kubectl("apply", "-f", "-"), stdin=manifest)
    record.applied(["-f", "-"], stdin=manifest)
    _kubectl_apply(ctx, "namespace", *[filename for _n, filename, _m, _k in CONFIGMAPS], namespace=ns)


def apply_binderhub(ctx: Context) -> None:
    s = ctx.settings
    _helm_install(ctx, "binderhub", "binderhub", s.cluster.release, s.cluster.namespace, ["config.yaml", SECRET_FILE])


def verify_endpoints(ctx: Context) -> None:
    from . import probe
    from .render.values import keycloak_endpoints, urls

    checks.certificates(ctx)
    s, address = ctx.settings, urls(ctx.settings)
    prober = probe.Prober(ctx.options.resolve, ctx.options.ca_bundle)
    try:
        for url in (f"{address['binder']}health", f"{address['hub']}hub/health"):
            warning = probe.expect_health(prober, url)
            if warning:
                ctx.notify("endpoints", f"warning: {warning}")
        if s.auth.type == "keycloak":
            probe.expect_sign_in_chain(prober, address["binder"], address["hub"], s.auth.client_id,
                                       keycloak_endpoints(s)["authorize_url"], f"{address['hub']}hub/oauth_callback")
    except probe.ProbeError as err:
        raise CheckFailed.of(err.finding("endpoints")) from None


def _nothing(ctx: Context) -> None:
    return None


def verify_launch(ctx: Context) -> None:
    from . import launch

    launch.stage_check(ctx)


def launch_stage(s: Settings) -> Stage:
    """The launch check (wizard/launch.py): BinderHub builds and launches launch.repository, the
    server's API answers, then the server and its throwaway user are removed."""
    return Stage("launch", ("endpoints",), (), _nothing, verify_launch, lambda st: st.launch.enabled,
                 describe=f"build and launch {s.launch.repository}, open its server, remove it",
                 checks_only=True, skippable="it only launches a test repository; the install does not depend on it",
                 answers=("launch.repository", "launch.ref"))


def _production(s: Settings) -> bool:
    return s.production


def _ingress_inputs(s: Settings) -> tuple[str, ...]:
    return (f"{s.ingress.controller}-values.yaml", *((expose.METALLB_FILE,) if s.network.expose == "metallb" else ()))


# What the namespace-wide stages use without a file of their own (a change re-runs them).
_PLACEMENT = ("storage.storage_class", "network.public_ip", "cluster.namespace", "cluster.release", "cluster.context")


def plan(settings: Settings, bootstrap: bool = False) -> list[Stage]:
    """The stages for these settings, in the order of CLUSTER_STAGES; with `bootstrap`, the
    bare-machine stages come first."""
    s = settings
    production = s.production
    openebs = s.storage.provisioner == "openebs"
    stages = {
        # Read-only: it "applies" nothing and checks every time, so a resume re-checks the cluster.
        "preflight": Stage("preflight", (), (), _nothing, checks.preflight, describe="tools, API, permissions, nodes, DNS",
                           checks_only=True),
        "storage": Stage("storage", ("preflight",), (STORAGE_VALUES_FILE,) if openebs else (), apply_storage,
                         checks.storage, describe=f"{s.storage.provisioner}: {s.storage.storage_class} the only "
                                                  "default StorageClass",
                         chart=STORAGE_CHART if openebs else None, answers=_PLACEMENT),
        "ingress": Stage("ingress", ("preflight",), _ingress_inputs(s), apply_ingress, checks.ingress,
                         describe=f"{s.ingress.controller} on {s.network.public_ip} ({s.network.expose})",
                         chart=s.ingress.controller, answers=_PLACEMENT),
        "cert-manager": Stage("cert-manager", ("preflight",), ("cert-manager-values.yaml",), apply_cert_manager,
                              checks.cert_manager_api, _production, describe="cert-manager and its webhook",
                              chart="cert-manager"),
        "issuer": Stage("issuer", ("cert-manager", "ingress"), ("binderhub-issuer.yaml",), apply_issuer, checks.issuer,
                        _production, describe="Let's Encrypt ClusterIssuer Ready"),
        # An external registry is only checked; the in-cluster one is deployed, then checked.
        "registry": Stage("registry", ("storage", "ingress", *(("issuer",) if production else ())),
                          ("registry.yaml",) if s.registry.type == "in-cluster" else (), apply_registry,
                          checks.registry, lambda st: st.registry.type != "none",
                          describe=f"{s.registry.type} registry answers with our credentials",
                          checks_only=s.registry.type != "in-cluster",
                          skippable="an external registry is only checked, not changed"
                          if s.registry.type == "external" else None,
                          answers=("registry.url", "registry.username"), secrets=("registry.password",)),
        "namespace": Stage("namespace", ("preflight",), tuple(f for _n, f, _m, _k in CONFIGMAPS), apply_namespace,
                           checks.namespace, describe=f"namespace {s.cluster.namespace} and its ConfigMaps",
                           answers=_PLACEMENT),
        "binderhub": Stage("binderhub", ("storage", "ingress", "namespace", *(("issuer",) if production else ()),
                                         *(("registry",) if s.registry.type != "none" else ())),
                           ("config.yaml", SECRET_FILE), apply_binderhub, checks.binderhub,
                           describe=f"release {s.cluster.release}: hub, proxy, binder", chart="binderhub",
                           answers=_PLACEMENT),
        "endpoints": Stage("endpoints", ("binderhub",), (), _nothing, verify_endpoints,
                           describe="certificates, HTTPS health, sign-in chain", checks_only=True,
                           skippable="it only checks the public URLs (DNS or certificates may need more time)"),
        "launch": launch_stage(s),
    }
    planned = [stages[name] for name in CLUSTER_STAGES if stages[name].applies(s)]
    if bootstrap:
        from .nodestages import node_stages

        node = node_stages(s)
        planned[0] = replace(planned[0], needs=(node[-1].name,))  # preflight waits for the node
        planned = node + planned
    return planned
