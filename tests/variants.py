"""Answer variants that between them reach every branch of the renderer."""

from __future__ import annotations

import copy

from tests.helm_merge import merge

BASE = {
    "network": {"public_ip": "203.0.113.10", "domain": "example.org"},
    "tls": {"acme_email": "ops@example.org"},
    "registry": {"type": "external", "url": "https://registry.example.org", "username": "robot",
                 "password": "registry-pass", "image_prefix": "registry.example.org/binder/r2d-"},
    "auth": {"type": "keycloak", "keycloak_url": "https://sso.example.org", "realm": "binder",
             "client_secret": "client-secret-value", "admin_users": ["adminuser1"], "allow_all": True},
}

VARIANTS: dict[str, dict] = {
    "production-keycloak-traefik": {},
    "ingress-nginx-staging": {"ingress": {"controller": "ingress-nginx"}, "tls": {"acme_server": "staging"}},
    "custom-acme-groups": {"tls": {"acme_server": "https://acme.internal.example.org/directory"},
                           "auth": {"allow_all": False, "allowed_groups": ["binder-users"],
                                    "allowed_users": ["alice"]}},
    "in-cluster-registry": {"registry": {"type": "in-cluster", "url": None, "username": None, "password": None,
                                         "image_prefix": None}},
    "no-registry-docker": {"cluster": {"runtime": "docker"},
                           "registry": {"type": "none", "url": None, "username": None, "password": None,
                                        "image_prefix": None}},
    "postgres-existing-storage": {"storage": {"provisioner": "existing", "storage_class": "local-path"},
                                  "hub": {"database": {"type": "postgres", "url": "postgresql://hub@db.example.org:5432/hub",
                                                       "password": "db-pass"},
                                          "cull": {"enabled": True, "timeout": 7200}}},
    "anonymous": {"auth": {"type": "none", "keycloak_url": None, "realm": None, "client_secret": None,
                           "admin_users": None, "allow_all": None}},
    "no-tokens-no-storage": {"auth": {"pass_tokens": False}, "hub": {"user_storage": {"enabled": False},
                                                                     "named_servers": False}},
    "local-profile": {"profile": "local", "network": {"domain": None}, "tls": {"acme_email": None}},
    "context-and-names": {"cluster": {"context": "prod-admin@cluster", "namespace": "binderhub",
                                      "release": "mybinder"},
                          "network": {"binder_host": "mybinder.example.org", "hub_host": "jupyter.example.org"}},
}


def variant(name: str) -> dict:
    return merge(copy.deepcopy(BASE), VARIANTS[name])
