"""`install.sh` (the same install by hand, with plain helm and kubectl) and the directory's README.

Every answer that reaches the script is quoted with shlex.quote, though the validators already
limit names and addresses to safe characters.
"""

from __future__ import annotations

from shlex import quote

from ..charts import chart_ref
from ..settings import Settings
from . import userpods
from .infra import DEFAULT_CLASS_ANNOTATION
from .values import issuer_name, urls

# Why each step is there, in order: printed by the script and listed in the README.
WAIT = "--timeout=10m"


def _helm(s: Settings, key: str, release: str, namespace: str, values: list[str]) -> str:
    ref = chart_ref(key, s.answers.get("versions", {}), s.answers.get("charts", {}))
    args = ["helm", "upgrade", "--install", release, *ref.helm_args(),
            "--namespace", namespace, "--create-namespace"]
    for name in values:
        args += ["-f", name]
    return " ".join(quote(a) for a in args)


def _step(message: str) -> str:
    return f"step {quote(message)}"


def install_script(s: Settings, ingress_file: str, version: str) -> str:
    ns = s.cluster.namespace
    lines = [
        "#!/usr/bin/env bash",
        f"# The install that `wizard install` performs, by hand. Written by binderhub-wizard {version}.",
        "# Idempotent: run it again after changing a file; helm upgrades, kubectl applies.",
        "# The wizard's own install also checks every step against the cluster; this script only waits.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        "",
    ]
    if s.cluster.context:
        lines += [f"kubectl config use-context {quote(s.cluster.context)}", ""]
    lines += ["step() { printf '\\n==> %s\\n' \"$*\"; }", ""]

    if s.storage.provisioner == "openebs":
        lines += [_step("storage: OpenEBS Local PV hostpath, the default StorageClass"),
                  _helm(s, "openebs", "openebs", "openebs", ["openebs-values.yaml"])]
    else:
        sc = quote(s.storage.storage_class)
        lines += [
            _step(f"storage: make {s.storage.storage_class} the only default StorageClass"),
            f"kubectl get storageclass {sc} >/dev/null",
            "for class in $(kubectl get storageclass -o name); do",
            f"  kubectl annotate --overwrite \"$class\" {DEFAULT_CLASS_ANNOTATION}=false",
            "done",
            f"kubectl annotate --overwrite storageclass {sc} {DEFAULT_CLASS_ANNOTATION}=true",
        ]
    controller = s.ingress.controller
    lines += ["", _step(f"ingress: {controller} on {s.network.public_ip}"),
              _helm(s, controller, controller, controller, [ingress_file])]
    if s.production:
        lines += [
            "", _step("certificates: cert-manager"),
            _helm(s, "cert-manager", "cert-manager", "cert-manager", ["cert-manager-values.yaml"]),
            f"kubectl -n cert-manager rollout status deployment/cert-manager-webhook {WAIT}",
            "", _step(f"certificates: Let's Encrypt issuers ({issuer_name(s)} is used)"),
            "kubectl apply -f binderhub-issuer.yaml",
            f"kubectl wait --for=condition=Ready clusterissuer/{issuer_name(s)} {WAIT}",
        ]
    lines += [
        "", _step(f"namespace {ns} and the ConfigMaps mounted into user pods"),
        f"kubectl create namespace {quote(ns)} --dry-run=client -o yaml | kubectl apply -f -",
    ]
    for _name, filename, _mount, _keys in userpods.CONFIGMAPS:
        lines.append(f"kubectl apply -n {quote(ns)} -f {filename}")
    if s.registry.type == "in-cluster":
        lines += [
            "", _step(f"registry: CNCF Distribution at https://{s.registry.host} (namespace registry)"),
            "kubectl apply -f registry.yaml",
            f"kubectl -n registry rollout status deployment/registry {WAIT}",
        ]
    release = s.cluster.release
    lines += [
        "", _step("BinderHub"),
        _helm(s, "binderhub", release, ns, ["config.yaml", "secret.yaml"]),
    ]
    for deployment in ("hub", "proxy", "binder"):
        lines.append(f"kubectl -n {quote(ns)} rollout status deployment/{deployment} {WAIT}")
    address = urls(s)
    lines += ["", _step(f"done: BinderHub at {address['binder']}, JupyterHub at {address['hub']}"), ""]
    return "\n".join(lines)


def directory_readme(s: Settings, files: list[str], version: str) -> str:
    address = urls(s)
    described = {
        "answers.yaml": "your answers without secrets; edit it and run `wizard export` again",
        "secret.yaml": "secrets (tokens, passwords), mode 0600: never commit or share it",
        "config.yaml": "BinderHub chart values (no secrets)",
        "binderhub-issuer.yaml": "Let's Encrypt ClusterIssuers (production and staging)",
        "cert-manager-values.yaml": "cert-manager chart values",
        "openebs-values.yaml": "OpenEBS chart values (hostpath only)",
        "registry.yaml": "the in-cluster registry: Distribution, its volume, htpasswd Secret (bcrypt hash "
                         "only), Service and Ingress with TLS",
        "ingress-nginx-values.yaml": "ingress-nginx chart values (public IP in externalIPs)",
        "traefik-values.yaml": "Traefik chart values (public IP in externalIPs)",
        "persistent_config_configmap.yaml": "ConfigMap: per-user persistent storage across launches",
        "scheduler_configmap.yaml": "ConfigMap: keeps Keycloak tokens in user servers fresh",
        "supervisord_configmap.yaml": "ConfigMap: runs that refresher in the background",
        "jupyter_config_configmap.yaml": "ConfigMap: Jupyter server and Voilà configuration",
        "install.sh": "the same install by hand with helm and kubectl, in order",
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
    return "\n".join(lines)
