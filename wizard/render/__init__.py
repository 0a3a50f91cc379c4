"""Rendering settings into every file of an install directory.

`render_all` is pure: settings and secrets in, a list of files out. Every YAML file is dumped from
data; shell and Markdown quote every answer they carry.
"""

from __future__ import annotations

from ..charts import CHARTS
from ..installdir import ANSWERS_FILE, RenderedFile  # noqa: F401 - ANSWERS_FILE: named in installdir
from ..secretstore import SECRET_FILE, values as secret_values
from ..settings import Settings
from ..yamlio import dumps, dumps_all
from . import expose, infra, registry, userpods
from .script import install_script, directory_readme
from .values import binderhub_values, image_pull_secret

CONFIG_FILE = "config.yaml"
ISSUER_FILE = "binderhub-issuer.yaml"
CERT_MANAGER_FILE = "cert-manager-values.yaml"
BOOTSTRAP_FILE = "bootstrap-node.sh"
REGISTRY_FILE = "registry.yaml"

_HEADER = "# Written by binderhub-wizard {version}. {what}\n"


def builder_reason(runtime: str) -> str:
    if runtime == "docker":
        return "the nodes run Docker: builds use the host's Docker socket, and land where the kubelet runs from"
    return ("the nodes run containerd: there is no Docker socket, so builds run in Docker-in-Docker (dind) "
            "and reach the kubelet through the registry")


def builder_for(runtime: str) -> str:
    """The image builder a node runtime calls for: the host's Docker socket exists only on Docker
    nodes; on containerd build pods would hang without one (binderhub#1228), so Docker-in-Docker."""
    return "host" if runtime == "docker" else "dind"


def _secret_values(s: Settings, secrets: dict[str, str]) -> dict:
    """secret.yaml: the secrets at their chart keys, and the user pods' pull credentials."""
    tree = secret_values(secrets)
    pull = image_pull_secret(s, secrets.get("registry.password", ""))
    if pull:
        tree.setdefault("jupyterhub", {})["imagePullSecret"] = pull
    return tree


def render_all(settings: Settings, secrets: dict[str, str], version: str) -> list[RenderedFile]:
    s = settings
    namespace = s.cluster.namespace

    def header(what: str) -> str:
        return _HEADER.format(version=version, what=what)

    files: list[RenderedFile] = []

    def add_yaml(name: str, what: str, data, *, many: bool = False, secret: bool = False) -> None:
        body = dumps_all(data) if many else dumps(data)
        files.append(RenderedFile(name, header(what) + body, 0o600 if secret else 0o644, secret))

    answers = {"profile": s.profile, **{k: v for k, v in s.public_answers().items() if k != "profile"}}
    add_yaml(ANSWERS_FILE, "Your answers, without secrets (those are in secret.yaml). Edit and "
             "run `wizard export` or `wizard install` again.", answers)
    add_yaml(SECRET_FILE, "Secrets: keep this file private (mode 0600). Reused on every re-run.",
             _secret_values(s, secrets), secret=True)
    add_yaml(CONFIG_FILE, "BinderHub chart values; apply with `-f config.yaml -f secret.yaml`.",
             binderhub_values(s, builder_for(s.cluster.runtime)))
    if s.production:
        add_yaml(ISSUER_FILE, "Let's Encrypt ClusterIssuers for cert-manager.", infra.cluster_issuers(s), many=True)
        add_yaml(CERT_MANAGER_FILE, "cert-manager chart values.", infra.cert_manager_values())
    if s.storage.provisioner == "openebs":
        add_yaml(infra.STORAGE_VALUES_FILE, "OpenEBS Local PV hostpath chart values (localpv-provisioner).",
                 infra.localpv_values())
    if s.registry.type == "in-cluster":
        add_yaml(REGISTRY_FILE, "The in-cluster registry (CNCF Distribution) in namespace registry; "
                 "its password is in secret.yaml, only its bcrypt hash is here.",
                 registry.registry_manifests(s, secrets["registry.password"]), many=True)
    ingress_file, ingress_values = infra.ingress_values(s)
    add_yaml(ingress_file, f"{s.ingress.controller} chart values.", ingress_values)
    if s.network.expose == "metallb":
        add_yaml(expose.METALLB_FILE, f"MetalLB: the public IP {s.network.public_ip} alone, announced on the "
                 "node's network, for the ingress controller's Service.", expose.metallb_manifests(s), many=True)
    for filename, manifest in userpods.configmaps(s, namespace).items():
        add_yaml(filename, "A ConfigMap mounted into user pods.", manifest)
    files.append(RenderedFile("install.sh", install_script(s, ingress_file, version), 0o755))
    from .bootstrap import render_bootstrap_script

    files.append(RenderedFile(BOOTSTRAP_FILE, render_bootstrap_script(s.network.public_ip, version), 0o755))
    files.append(RenderedFile("README.md", directory_readme(s, [f.name for f in files], version)))
    return files


__all__ = ["render_all", "builder_for", "CHARTS", "ANSWERS_FILE", "CONFIG_FILE", "ISSUER_FILE",
           "REGISTRY_FILE"]
