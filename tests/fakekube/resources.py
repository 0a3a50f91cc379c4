"""The kinds the fake API server serves: built-in ones, plus those that CRDs register at run time.

A `Kind` carries what discovery, routing and the store need to know about one resource type.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    # Subresources served under <plural>/<name>/; the fake serves only "status".
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    # Kinds that are created and answered but never stored (SelfSubjectAccessReview).
    virtual: bool = False
    # Name of the CustomResourceDefinition that registered this kind; empty for built-ins.
    from_crd: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_resource(self) -> str:
        """`deployments.apps`, as the API server names a resource in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def tracks_generation(self) -> bool:
        # The API server sets metadata.generation where a strategy separates spec from status
        # (apps, batch, networking, CRDs and custom resources); core/v1 kinds do not use it.
        return (self.has_status and self.group != "") or bool(self.from_crd)


def _core(kind, plural, namespaced, short=(), sub=(), **kw):
    return Kind("", "v1", kind, plural, namespaced, tuple(short), tuple(sub), **kw)


def _grp(group, version, kind, plural, namespaced, short=(), sub=(), **kw):
    return Kind(group, version, kind, plural, namespaced, tuple(short), tuple(sub), **kw)


BUILTIN_KINDS: tuple[Kind, ...] = (
    _core("Namespace", "namespaces", False, ["ns"], ["status"],
          verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _core("Node", "nodes", False, ["no"], ["status"]),
    _core("ConfigMap", "configmaps", True, ["cm"]),
    _core("Secret", "secrets", True),
    _core("Service", "services", True, ["svc"], ["status"], categories=("all",)),
    _core("ServiceAccount", "serviceaccounts", True, ["sa"]),
    _core("Pod", "pods", True, ["po"], ["status"], categories=("all",)),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", True, ["pvc"], ["status"]),
    _core("PersistentVolume", "persistentvolumes", False, ["pv"], ["status"]),
    _core("Event", "events", True, ["ev"]),
    _core("Endpoints", "endpoints", True, ["ep"]),
    _grp("apps", "v1", "Deployment", "deployments", True, ["deploy"], ["status"], categories=("all",)),
    _grp("apps", "v1", "DaemonSet", "daemonsets", True, ["ds"], ["status"], categories=("all",)),
    _grp("apps", "v1", "StatefulSet", "statefulsets", True, ["sts"], ["status"], categories=("all",)),
    _grp("apps", "v1", "ReplicaSet", "replicasets", True, ["rs"], ["status"], categories=("all",)),
    _grp("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ["sc"]),
    _grp("networking.k8s.io", "v1", "Ingress", "ingresses", True, ["ing"], ["status"]),
    _grp("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _grp("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _grp("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _grp("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _grp("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _grp("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
         False, ["crd", "crds"], ["status"]),
    _grp("batch", "v1", "Job", "jobs", True, (), ["status"], categories=("all",)),
    _grp("batch", "v1", "CronJob", "cronjobs", True, ["cj"], ["status"], categories=("all",)),
    _grp("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"], ["status"]),
    _grp("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
         "validatingwebhookconfigurations", False),
    _grp("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
         "mutatingwebhookconfigurations", False),
    _grp("coordination.k8s.io", "v1", "Lease", "leases", True),
    _grp("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
         False, verbs=("create",), virtual=True),
    _grp("apiregistration.k8s.io", "v1", "APIService", "apiservices", False, (), ["status"]),
)

# The preferred version of a group is listed first; groups appear in discovery in this order.
GROUP_ORDER = ("apps", "apiextensions.k8s.io", "apiregistration.k8s.io", "authorization.k8s.io",
               "admissionregistration.k8s.io", "batch", "coordination.k8s.io",
               "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "storage.k8s.io")


def kinds_from_crd(crd: dict) -> list[Kind]:
    """The kinds a CustomResourceDefinition serves: one per served version, storage version first."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    versions = sorted((v for v in spec.get("versions", []) if v.get("served", True)),
                      key=lambda v: not v.get("storage", False))
    return [
        Kind(
            group=spec["group"], version=v["name"], kind=names["kind"], plural=names["plural"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames", ())),
            subresources=("status",) if "status" in (v.get("subresources") or {}) else (),
            categories=tuple(names.get("categories", ())),
            from_crd=crd["metadata"]["name"],
        )
        for v in versions
    ]


class Registry:
    """Kinds by group/version/plural, thread-safe because CRD creation changes it mid-request."""

    def __init__(self):
        self._lock = threading.Lock()
        self._kinds: list[Kind] = list(BUILTIN_KINDS)

    def all(self) -> list[Kind]:
        with self._lock:
            return list(self._kinds)

    def add_crd(self, crd: dict) -> None:
        new = kinds_from_crd(crd)
        with self._lock:
            self._kinds = [k for k in self._kinds if k.from_crd != crd["metadata"]["name"]] + new

    def remove_crd(self, crd_name: str) -> None:
        with self._lock:
            self._kinds = [k for k in self._kinds if k.from_crd != crd_name]

    def lookup(self, group: str, version: str, plural: str) -> Kind | None:
        for k in self.all():
            if (k.group, k.version, k.plural) == (group, version, plural):
                return k
        return None

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first; the core group ("") is left out."""
        out: dict[str, list[str]] = {}
        for k in self.all():
            if k.group and k.version not in out.setdefault(k.group, []):
                out[k.group].append(k.version)
        known = [g for g in GROUP_ORDER if g in out]
        return {g: out[g] for g in known + sorted(set(out) - set(known))}

    def resolve(self, name: str) -> Kind:
        """Find a kind the way kubectl does: `Deployment`, `deploy`, `deployments.apps`,
        `clusterissuer.cert-manager.io`; the group suffix is optional."""
        base, _, group = name.partition(".")
        for k in self.all():
            if group and k.group != group:
                continue
            if base in (k.kind, k.plural, k.singular) or base.lower() in k.short_names:
                return k
            if base.lower() in (k.kind.lower(), k.plural):
                return k
        raise KeyError(f"no kind matches {name!r}")
