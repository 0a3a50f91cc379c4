"""`install.sh` (the same install by hand, with plain helm and kubectl) and the directory's README.

Every answer that reaches the script is quoted with shlex.quote, though the validators already
limit names and addresses to safe characters. The objects it sends for dry runs are dumped from
data into quoted here-documents, so nothing in them is expanded by the shell.
"""

from __future__ import annotations

from pathlib import Path
from shlex import quote

from ..charts import CHARTS, chart_ref
from ..settings import Settings
from ..yamlio import dumps
from . import expose
from . import registry as in_cluster_registry
from . import userpods
from .infra import (DEFAULT_CLASS_ANNOTATION, INGRESS_DEPLOYMENTS, LOCALPV_DEPLOYMENT, STORAGE_CHART,
                    STORAGE_VALUES_FILE, admission_check_ingress, api_check_certificate)
from .values import PULL_SECRET, culling_why, image_pull_secret, issuer_name, urls

DEADLINE = "DEADLINE_SECONDS"
DEFAULT_DEADLINE = 600
TIMEOUT = f'--timeout="${{{DEADLINE}}}s"'

_PRELUDE = f"""\
{DEADLINE}=${{{DEADLINE}:-{DEFAULT_DEADLINE}}}
case ${DEADLINE} in
  '' | *[!0-9]*) echo "{DEADLINE} must be a whole number of seconds" >&2; exit 2 ;;
esac

step() {{ printf '\\n==> %s\\n' "$*"; }}
waiting() {{ printf '    waiting up to %ss for %s\\n' "${DEADLINE}" "$*"; }}
# retry WHAT COMMAND...: run COMMAND every 5 s until it succeeds, for {DEADLINE} at most.
retry() {{
  local what=$1 output deadline
  shift
  deadline=$((SECONDS + {DEADLINE}))
  waiting "$what"
  until output=$("$@" 2>&1); do
    if ((SECONDS >= deadline)); then
      printf 'gave up after %ss waiting for %s:\\n%s\\n' "${DEADLINE}" "$what" "$output" >&2
      return 1
    fi
    sleep 5
  done
}}
"""


def _helm(s: Settings, key: str, release: str, namespace: str, values: list[str]) -> str:
    ref = chart_ref(key, s.answers.get("versions", {}), s.answers.get("charts", {}))
    chart_args = ref.helm_args()
    if ref.kind == "local":
        # As the wizard does: a relative path is taken from where the wizard runs, not from DIR.
        chart_args = [str(Path(chart_args[0]).expanduser().resolve())]
    args = ["helm", "upgrade", "--install", release, *chart_args, "--namespace", namespace, "--create-namespace"]
    for name in values:
        args += ["-f", name]
    return " ".join(quote(a) for a in args)


def _step(message: str) -> str:
    return f"step {quote(message)}"


def _rollout(namespace: str, deployment: str) -> list[str]:
    return [f"waiting {quote(f'Deployment {namespace}/{deployment} to be available')}",
            f"kubectl -n {quote(namespace)} rollout status deployment/{quote(deployment)} {TIMEOUT}"]


def _dry_run_function(name: str, manifest: dict) -> list[str]:
    """A shell function that asks the API server to admit `manifest` without storing it: the
    webhooks on its way must answer, which is what the next step needs."""
    return [f"{name}() {{", "  kubectl create --dry-run=server -o name -f - <<'EOF'",
            *dumps(manifest).rstrip("\n").splitlines(), "EOF", "}"]


def _certificate_ready(namespace: str, name: str, why: str) -> str:
    # cert-manager creates the Certificate from an Ingress annotation a moment later: until then
    # `kubectl wait` finds nothing, so it is retried.
    return (f"retry {quote(f'Certificate {namespace}/{name} to be Ready ({why})')} "
            f"kubectl -n {quote(namespace)} wait --for=condition=Ready certificate/{quote(name)} --timeout=10s")


def _storage(s: Settings) -> list[str]:
    sc = s.storage.storage_class
    lines: list[str] = []
    if s.storage.provisioner == "openebs":
        chart = CHARTS[STORAGE_CHART]
        lines += [_step(f"storage: OpenEBS Local PV hostpath ({STORAGE_CHART}), {sc} the default StorageClass"),
                  _helm(s, STORAGE_CHART, chart.release, chart.namespace, [STORAGE_VALUES_FILE]),
                  *_rollout(chart.namespace, LOCALPV_DEPLOYMENT)]
    else:
        lines += [_step(f"storage: make {sc} the only default StorageClass"),
                  f"kubectl get storageclass {quote(sc)} >/dev/null",
                  f"kubectl annotate --overwrite storageclass {quote(sc)} {DEFAULT_CLASS_ANNOTATION}=true"]
    # Volumes without a class land on the default one: ours must be the only one.
    lines += [
        "for class in $(kubectl get storageclass -o name); do",
        f"  if [ \"$class\" != {quote(f'storageclass.storage.k8s.io/{sc}')} ]; then",
        f"    kubectl annotate --overwrite \"$class\" {DEFAULT_CLASS_ANNOTATION}=false",
        "  fi",
        "done",
    ]
    return lines


def _ingress(s: Settings, ingress_file: str) -> list[str]:
    controller, mode, ip = s.ingress.controller, s.network.expose, s.network.public_ip
    namespace, deployment = INGRESS_DEPLOYMENTS[controller]
    lines = ["", _step(f"ingress: {controller} on {ip} (network.expose {mode})")]
    if mode == "metallb":
        lines.append(f"kubectl apply -f {expose.METALLB_FILE}")
    elif mode == "external-ips":
        lines.append("# spec.externalIPs: deprecated in Kubernetes 1.36, refused where DenyServiceExternalIPs is on")
    lines.append(_helm(s, controller, controller, controller, [ingress_file]))
    if mode == "load-balancer":
        # No controller serves the Service's class: write its address as one would. A re-created
        # Service loses it; run this line again (or the script).
        lines.append(expose.status_patch_command(s))
    lines += _rollout(namespace, deployment)
    if mode == "metallb":
        lines += [f"waiting {quote(f'MetalLB to give Service {namespace}/{deployment} the address {ip}')}",
                  f"kubectl -n {quote(namespace)} wait --for=jsonpath='{{.status.loadBalancer.ingress[0].ip}}'={quote(ip)} "
                  f"service/{quote(deployment)} {TIMEOUT}"]
    if controller == "ingress-nginx":
        # Its validating webhook (failurePolicy Fail) refuses every Ingress until it answers.
        lines.append(f"retry {quote('the ingress-nginx admission webhook to accept a dry-run Ingress')} "
                     "ingress_admitted")
    host = f"[{ip}]" if ":" in ip else ip
    # Any HTTP answer will do (the controller's 404): the address reaches the controller from here.
    lines.append(f"retry {quote(f'http://{host}/ to answer (else: a firewall, a wrong address, or kube-proxy)')} "
                 f"curl -sS -o /dev/null --max-time 5 {quote(f'http://{host}/')}")
    return lines


def _certificates(s: Settings) -> list[str]:
    lines = ["", _step("certificates: cert-manager"),
             _helm(s, "cert-manager", "cert-manager", "cert-manager", ["cert-manager-values.yaml"])]
    for deployment in ("cert-manager", "cert-manager-cainjector", "cert-manager-webhook"):
        lines += _rollout("cert-manager", deployment)
    issuer = issuer_name(s)
    # The webhook's pod may be ready before cainjector has put its CA into the webhook
    # configurations: until then the API server cannot call it (x509). Only a dry run shows it.
    lines += [f"retry {quote('the cert-manager webhook to accept a dry-run Certificate (its CA injected)')} "
              "certificate_admitted",
              "", _step(f"certificates: Let's Encrypt issuers ({issuer} is used)"),
              "kubectl apply -f binderhub-issuer.yaml",
              # Retried: a `kubectl wait` whose watch breaks before the issuer has conditions
              # fails at once instead of waiting (seen on a loaded API server).
              f"retry {quote(f'ClusterIssuer {issuer} to be Ready (its ACME account registered)')} "
              f"kubectl wait --for=condition=Ready clusterissuer/{quote(issuer)} --timeout=10s"]
    return lines


def _registry(s: Settings) -> list[str]:
    ns, name = in_cluster_registry.NAMESPACE, in_cluster_registry.NAME
    return ["", _step(f"registry: CNCF Distribution at https://{s.registry.host} (namespace {ns})"),
            "kubectl apply -f registry.yaml", *_rollout(ns, name),
            _certificate_ready(ns, in_cluster_registry.TLS_SECRET, "nodes pull from it over HTTPS")]


def _binderhub(s: Settings) -> list[str]:
    ns, release = s.cluster.namespace, s.cluster.release
    lines = ["", _step("BinderHub"), _helm(s, "binderhub", release, ns, ["config.yaml", "secret.yaml"])]
    for deployment in ("hub", "proxy", "binder"):
        lines += _rollout(ns, deployment)
    if s.hub.database.type == "sqlite-pvc":
        lines += [f"waiting {quote(f'PersistentVolumeClaim {ns}/hub-db-dir to be Bound')}",
                  f"kubectl -n {quote(ns)} wait --for=jsonpath='{{.status.phase}}'=Bound pvc/hub-db-dir {TIMEOUT}"]
    if image_pull_secret(s, "") is not None:
        missing = (f"Secret {ns}/{PULL_SECRET} is missing: user pods cannot pull the images BinderHub builds. "
                   "secret.yaml must carry jupyterhub.imagePullSecret: run wizard export again, then this script")
        lines.append(f"kubectl -n {quote(ns)} get secret {PULL_SECRET} -o name >/dev/null || "
                     f"{{ echo {quote(missing)} >&2; exit 1; }}")
    if s.production:
        for secret in ("binderhub-tls", "jupyterhub-tls"):
            lines.append(_certificate_ready(ns, secret, "its host must resolve to the public IP"))
    return lines


def install_script(s: Settings, ingress_file: str, version: str) -> str:
    ns = s.cluster.namespace
    lines = [
        "#!/usr/bin/env bash",
        f"# The install that `wizard install` performs, by hand. Written by binderhub-wizard {version}.",
        "# Idempotent: run it again after changing a file; helm upgrades, kubectl applies.",
        "# Each step waits for what the next one needs, as the wizard's stages do; the wizard also checks",
        "# the result of every stage against the cluster. kubectl and helm read KUBECONFIG as usual;",
        f"# {DEADLINE} (default {DEFAULT_DEADLINE}) bounds each wait.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        "",
        *_PRELUDE.rstrip("\n").splitlines(),
    ]
    if s.cluster.context:
        # Flags on every call rather than `kubectl config use-context`, which would change the
        # kubeconfig's current context for everything else run afterwards.
        context = quote(s.cluster.context)
        lines += [f'kubectl() {{ command kubectl --context {context} "$@"; }}',
                  f'helm() {{ command helm --kube-context {context} "$@"; }}']
    if s.ingress.controller == "ingress-nginx":
        lines += _dry_run_function("ingress_admitted", admission_check_ingress())
    if s.production:
        lines += _dry_run_function("certificate_admitted", api_check_certificate())
    lines += ["", *_storage(s), *_ingress(s, ingress_file)]
    if s.production:
        lines += _certificates(s)
    lines += [
        "", _step(f"namespace {ns} and the ConfigMaps mounted into user pods"),
        f"kubectl create namespace {quote(ns)} --dry-run=client -o yaml | kubectl apply -f -",
    ]
    for _name, filename, _mount, _keys in userpods.CONFIGMAPS:
        lines.append(f"kubectl apply -n {quote(ns)} -f {filename}")
    if s.registry.type == "in-cluster":
        lines += _registry(s)
    lines += _binderhub(s)
    address = urls(s)
    lines += ["", _step(f"done: BinderHub at {address['binder']}, JupyterHub at {address['hub']}"), ""]
    return "\n".join(lines)


def directory_readme(s: Settings, files: list[str], version: str) -> str:
    address = urls(s)
    described = {
        "answers.yaml": "your answers without secrets; edit it and run `wizard export` again",
        "secret.yaml": "secrets (tokens, passwords, the user pods' registry pull credentials), mode 0600: "
                       "never commit or share it",
        "config.yaml": "BinderHub chart values (no secrets)",
        "binderhub-issuer.yaml": "Let's Encrypt ClusterIssuers (production and staging)",
        "cert-manager-values.yaml": "cert-manager chart values",
        STORAGE_VALUES_FILE: "OpenEBS Local PV hostpath chart values (its StorageClass made the default)",
        "registry.yaml": "the in-cluster registry: Distribution, its volume, htpasswd Secret (bcrypt hash "
                         "only), Service and Ingress with TLS",
        "ingress-nginx-values.yaml": f"ingress-nginx chart values (the Service for network.expose {s.network.expose})",
        "traefik-values.yaml": f"Traefik chart values (the Service for network.expose {s.network.expose})",
        expose.METALLB_FILE: "MetalLB IPAddressPool (the public IP alone) and L2Advertisement",
        "persistent_config_configmap.yaml": "ConfigMap: per-user persistent storage across launches",
        "scheduler_configmap.yaml": "ConfigMap: keeps Keycloak tokens in user servers fresh",
        "supervisord_configmap.yaml": "ConfigMap: runs that refresher in the background",
        "jupyter_config_configmap.yaml": "ConfigMap: Jupyter server and Voilà configuration",
        "install.sh": f"the same install by hand with helm and kubectl, in order, each step waiting for what "
                      f"the next needs ({DEADLINE}, default {DEFAULT_DEADLINE}, bounds each wait)",
        "bootstrap-node.sh": "from a bare Debian/Ubuntu machine to a one-node kubeadm cluster (run it first, as root)",
        "README.md": "this file",
    }
    lines = ["# BinderHub install directory", "",
             f"Written by binderhub-wizard {version}. BinderHub: {address['binder']} — "
             f"JupyterHub: {address['hub']}", ""]
    if not s.production:
        lines += ["**Profile local: for trying things, not for production.** Plain HTTP on the public IP, "
                  "no certificates: passwords and tokens cross the network unencrypted.", ""]
    lines += ["## Files", "", "| file | what |", "| --- | --- |"]
    lines += [f"| `{name}` | {described.get(name, '')} |" for name in files + ["README.md"]]
    lines += ["", "## Order", "",
              "`wizard install --dir .` applies and verifies these files stage by stage. By hand, "
              "`./install.sh` runs the same steps in this order: storage, ingress controller, "
              + ("cert-manager, the ClusterIssuer, " if s.production else "")
              + "the namespace and its ConfigMaps, "
              + ("the in-cluster registry (`registry.yaml`), " if s.registry.type == "in-cluster" else "")
              + "then BinderHub with `-f config.yaml -f secret.yaml`.", ""]
    note = culling_why(s.auth.type, s.hub.cull.enabled, s.hub.cull.timeout, s.hub.named_servers,
                       s.hub.named_server_limit)
    if note:
        lines += ["## Culling", "", note, ""]
    return "\n".join(lines)
