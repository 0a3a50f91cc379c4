"""`registry.yaml`: the in-cluster registry (CNCF Distribution) for `registry.type: in-cluster`.

Built images must reach the kubelet through a registry on containerd nodes (dind builds land in
their own image store), so the wizard can deploy one: Distribution in namespace `registry`, its data
on a PersistentVolumeClaim, basic authentication from an htpasswd Secret, and an Ingress with a
Let's Encrypt certificate so the nodes' containerd trusts it with no node configuration.

Everything is dumped from data. The plain password never appears here: only its bcrypt hash.
"""

from __future__ import annotations

import base64
import functools
import hashlib

import bcrypt

from ..settings import Settings
from .values import ingress_class, issuer_name

NAMESPACE = "registry"
NAME = "registry"
# Pinned like the charts: Distribution 3.x, the library image's current tag (3.1.2, docker-library
# official-images library/registry).
IMAGE = "docker.io/library/registry:3.1.2"
PORT = 5000
TLS_SECRET = "registry-tls"
HTPASSWD_SECRET = "registry-htpasswd"
DATA_CLAIM = "registry-data"
REALM = "BinderHub registry"
# Go's bcrypt.DefaultCost. Distribution checks the hash on every request of a push or pull (no
# cache), and the password is a generated 256-bit token that no cost factor needs to protect.
BCRYPT_COST = 10
BCRYPT_MAX_BYTES = 72

# ingress-nginx buffers and limits request bodies (1m by default) and times out after 60 s: a layer
# push is one large, slow PUT/PATCH.
NGINX_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/proxy-body-size": "0",
    "nginx.ingress.kubernetes.io/proxy-read-timeout": "600",
    "nginx.ingress.kubernetes.io/proxy-send-timeout": "600",
    # Stream the body to the registry instead of spooling each layer to the controller's disk first.
    "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
}

_BCRYPT_ALPHABET = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_STD_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "binderhub-wizard"}


def _salt(host: str, username: str) -> bytes:
    """A bcrypt salt derived from public facts of this install (registry host, user name).

    Stable across re-exports, so registry.yaml changes only when the password, user or host does;
    unique per install, so no table computed for one install serves another; and free of any secret,
    so the salt (which the hash shows) gives no shortcut to test password guesses.
    """
    digest = hashlib.sha256(b"binderhub-wizard registry htpasswd\0" + host.encode() + b"\0"
                            + username.encode()).digest()[:16]
    # bcrypt's base64: the standard bit layout with its own alphabet, 22 characters for 16 bytes.
    encoded = base64.b64encode(digest).rstrip(b"=").translate(bytes.maketrans(_STD_ALPHABET, _BCRYPT_ALPHABET))
    return b"$2b$%02d$" % BCRYPT_COST + encoded


@functools.lru_cache(maxsize=16)
def htpasswd_line(username: str, password: str, host: str) -> str:
    """`USER:BCRYPT-HASH`, the one line of the registry's htpasswd file. Deterministic."""
    secret = password.encode("utf-8")
    if len(secret) > BCRYPT_MAX_BYTES:
        # bcrypt reads at most 72 bytes; Go's bcrypt (Distribution) refuses longer passwords outright.
        raise ValueError(f"registry.password is longer than {BCRYPT_MAX_BYTES} bytes, which bcrypt cannot "
                         "check; remove it from secret.yaml to have a new one generated")
    hashed = bcrypt.hashpw(secret, _salt(host, username)).decode("ascii")
    return f"{username}:{hashed}"


def registry_manifests(s: Settings, password: str) -> list[dict]:
    """The documents of registry.yaml, in apply order."""
    host = s.registry.host
    labels = _labels()
    meta = lambda name: {"name": name, "namespace": NAMESPACE, "labels": dict(labels)}  # noqa: E731
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(labels)}}
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(DATA_CLAIM),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": s.storage.storage_class,
            "resources": {"requests": {"storage": s.registry.storage_size}},
        },
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(HTPASSWD_SECRET),
        "type": "Opaque",
        "stringData": {"htpasswd": htpasswd_line(s.registry.username, password, host) + "\n"},
    }
    env = {
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": REALM,
        "REGISTRY_AUTH_HTPASSWD_PATH": "/auth/htpasswd",
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/var/lib/registry",
        # Upload URLs the registry hands out point at its public name, not the pod behind the Ingress.
        "REGISTRY_HTTP_HOST": f"https://{host}",
        # Distribution 3 exports traces to localhost:4318 by default and logs each failed export.
        "OTEL_TRACES_EXPORTER": "none",
    }
    # /v2/ answers 401 without credentials, which an httpGet probe counts as a failure: probe the port.
    def probe(**timing: int) -> dict:  # a new dict each time: shared ones would dump as YAML anchors
        return {"tcpSocket": {"port": "http"}, "periodSeconds": 10, **timing}

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(NAME),
        "spec": {
            "replicas": 1,
            # One ReadWriteOnce volume: the old pod must let go of it before the new one starts.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [{
                        "name": NAME,
                        "image": IMAGE,
                        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                        "env": [{"name": key, "value": value} for key, value in env.items()],
                        "readinessProbe": probe(initialDelaySeconds=2),
                        "livenessProbe": probe(initialDelaySeconds=15, failureThreshold=6),
                        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False},
                        "volumeMounts": [
                            {"name": "data", "mountPath": "/var/lib/registry"},
                            {"name": "auth", "mountPath": "/auth", "readOnly": True},
                        ],
                    }],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": DATA_CLAIM}},
                        {"name": "auth", "secret": {"secretName": HTPASSWD_SECRET}},
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(NAME),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": NAME},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    annotations = {"cert-manager.io/cluster-issuer": issuer_name(s)}
    if s.ingress.controller == "ingress-nginx":
        annotations.update(NGINX_ANNOTATIONS)
    # Traefik: no body limit unless a buffering middleware adds one (none is); its read timeout is
    # lifted on the websecure entry point in the chart values (infra.ingress_values).
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": dict(meta(NAME), annotations=annotations),
        "spec": {
            "ingressClassName": ingress_class(s),
            "tls": [{"hosts": [host], "secretName": TLS_SECRET}],
            "rules": [{
                "host": host,
                "http": {"paths": [{
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": NAME, "port": {"number": PORT}}},
                }]},
            }],
        },
    }
    return [namespace, claim, secret, deployment, service, ingress]
