"""The BinderHub chart values (`config.yaml`): modern keys only, no secrets.

Key choices follow shared/docs/domain.md and the chart schemas in shared/upstream: ClusterIP
services behind an Ingress per host, cert-manager annotations, GenericOAuthenticator for Keycloak,
BinderHub authentication, and the ConfigMaps of the original notes mounted into user pods.
"""

from __future__ import annotations

from ..settings import Settings
from . import userpods

# Where the hub lives in profile local: the binder page takes "/", the hub a path of its own, both
# on the public IP through the ingress controller.
LOCAL_HUB_PATH = "/jupyter/"
PULL_SECRET = "image-pull-secret"  # the Secret z2jh makes from jupyterhub.imagePullSecret
BINDER_SERVICE_CLIENT = "service-binderhub"  # hub service OAuth client ids must start with service-


def issuer_name(settings: Settings) -> str:
    server = settings.tls.acme_server
    return {"production": "letsencrypt-prod", "staging": "letsencrypt-staging"}.get(server, "acme-custom")


def ingress_class(settings: Settings) -> str:
    return "nginx" if settings.ingress.controller == "ingress-nginx" else "traefik"


def urls(settings: Settings) -> dict[str, str]:
    """Public and in-cluster URLs of BinderHub and the hub, each ending in '/'."""
    if settings.production:
        binder = f"https://{settings.network.binder_host}/"
        hub = f"https://{settings.network.hub_host}/"
        hub_local = "http://proxy-public/"
    else:
        host = settings.network.public_ip
        host = f"[{host}]" if ":" in host else host
        binder = f"http://{host}/"
        hub = f"http://{host}{LOCAL_HUB_PATH}"
        hub_local = f"http://proxy-public{LOCAL_HUB_PATH}"
    return {"binder": binder, "hub": hub, "hub_local": hub_local}


def keycloak_endpoints(settings: Settings) -> dict[str, str]:
    """Keycloak >= 17 paths under the base URL the user gave (which carries /auth for older ones)."""
    base = f"{settings.auth.keycloak_url}/realms/{_quote_realm(settings.auth.realm)}/protocol/openid-connect"
    return {"authorize_url": f"{base}/auth", "token_url": f"{base}/token", "userdata_url": f"{base}/userinfo"}


def _quote_realm(realm: str) -> str:
    from urllib.parse import quote

    return quote(realm, safe="")


def _ingress(settings: Settings, host: str, tls_secret: str) -> dict:
    spec: dict = {"enabled": True, "ingressClassName": ingress_class(settings)}
    if settings.production:
        spec["hosts"] = [host]
        spec["annotations"] = {"cert-manager.io/cluster-issuer": issuer_name(settings)}
        spec["tls"] = [{"secretName": tls_secret, "hosts": [host]}]
    return spec


def binderhub_values(settings: Settings, builder: str) -> dict:
    """config.yaml. `builder` is the image builder the node runtime calls for (dind, pink, host)."""
    s = settings
    keycloak = s.auth.type == "keycloak"
    address = urls(s)
    binder_config: dict = {
        "hub_url": address["hub"],
        "hub_url_local": address["hub_local"],
        "use_registry": s.registry.type != "none",
        "image_prefix": s.registry.image_prefix,
        "auth_enabled": keycloak,
    }
    values: dict = {
        "service": {"type": "ClusterIP"},
        "config": {"BinderHub": binder_config},
        "imageBuilderType": builder,
        # Cordoning the only node while it cleans images would block every new pod.
        "imageCleaner": {"cordon": s.cluster.nodes > 1},
        "ingress": _ingress(s, s.network.binder_host, "binderhub-tls"),
    }
    if s.registry.type != "none":
        values["registry"] = {"url": s.registry.url, "username": s.registry.username}
    values["jupyterhub"] = _jupyterhub_values(s, address)
    return values


def _jupyterhub_values(s: Settings, address: dict[str, str]) -> dict:
    keycloak = s.auth.type == "keycloak"
    hub: dict = {
        "redirectToServer": False,
        "allowNamedServers": s.hub.named_servers,
        "namedServerLimitPerUser": s.hub.named_server_limit,
        "db": _database(s),
    }
    if not s.production:
        hub["baseUrl"] = LOCAL_HUB_PATH
    jupyterhub: dict = {
        "hub": hub,
        "proxy": {"service": {"type": "ClusterIP"}},
        "ingress": _ingress(s, s.network.hub_host, "jupyterhub-tls"),
        "cull": cull_values(s),
        "singleuser": userpods.singleuser_values(s),
    }
    if keycloak:
        hub["config"] = _auth_config(s, address)
        hub["services"] = {"binder": {
            "oauth_client_id": BINDER_SERVICE_CLIENT,
            "oauth_no_confirm": True,
            "oauth_redirect_uri": f"{address['binder']}oauth_callback",
        }}
        hub["loadRoles"] = {
            "user": {"scopes": userpods.user_scopes(s)},
            **userpods.extra_roles(s),
        }
        extra = userpods.hub_extra_config(s)
        if extra:
            hub["extraConfig"] = extra
    else:
        # Anonymous Binder: BinderHub makes a throwaway user per launch through the hub's API. Say
        # that everyone is allowed, so the hub does not warn that nobody could log in.
        hub["config"] = {"Authenticator": {"allow_all": True}}
    # The launch check's own service (its token in secret.yaml), with a role for exactly its job.
    hub.setdefault("services", {})[LAUNCH_SERVICE] = {"display": False}
    hub.setdefault("loadRoles", {})[LAUNCH_SERVICE] = {
        "description": "binderhub-wizard's launch check: the throwaway user and server of one test launch",
        "scopes": launch_check_scopes(s), "services": [LAUNCH_SERVICE]}
    return jupyterhub


LAUNCH_SERVICE = "launch-check"
LAUNCH_USER = "launch-check"


def launch_check_scopes(s: Settings) -> list[str]:
    """The launch-check service's scopes, the fewest that do its job (JupyterHub 5 scopes).

    With Keycloak login BinderHub builds only for a logged-in user: the check makes the user
    launch-check (admin:users, filtered to that one name: creating a user needs it, and it holds
    delete:users), a short-lived token for it (tokens), and stops its server (delete:servers), all
    `!user=launch-check`, so the service can touch no other account. Anonymous: BinderHub names the
    throwaway user itself, so no name filter is possible; the service may only stop servers and
    delete users, what the hub's culler does to every anonymous user anyway."""
    if s.auth.type == "keycloak":
        return [f"{scope}!user={LAUNCH_USER}" for scope in ("admin:users", "tokens", "delete:servers")]
    return ["delete:servers", "delete:users"]


def cull_values(s: Settings) -> dict:
    """Stopping idle servers (jupyterhub-idle-culler, run by the hub)."""
    cull: dict = {"enabled": s.hub.cull.enabled, "timeout": s.hub.cull.timeout}
    if s.auth.type == "keycloak":
        # With login, users own their accounts: culling users would delete them (the chart's
        # authentication doc). A culled named server is removed, not only stopped: the hub counts
        # stopped named servers against hub.named_server_limit, so after that many launches a user
        # could start nothing more. Removing one keeps the user's volume (claim-{username} is shared).
        cull["users"] = False
        if s.hub.named_servers:
            cull["removeNamedServers"] = True
    else:
        # Anonymous Binder: each launch is a throwaway user; cull it with its server (the chart's default).
        cull["users"] = True
    return cull


def culling_why(auth_type: str, enabled: bool, timeout: int | None, named_servers: bool, limit: int,
                short: bool = False) -> str:
    """Why culling matters for these answers: one sentence for the directory's README, or with
    `short` one line of the hub screen (at most 62 characters). `timeout` None: not known yet."""
    idle = f"{timeout} s idle" if timeout else "idle"
    limit = limit if named_servers and auth_type == "keycloak" else 0
    if auth_type != "keycloak" and enabled:
        return ("Each anonymous launch is a pod: culling keeps the node free" if short else
                f"Every anonymous launch is a user with a pod: both are removed once {idle}, so the node "
                "does not fill up.")
    if auth_type != "keycloak":
        return ("Off: every anonymous launch keeps its pod; the node fills" if short else
                "Culling is off: every anonymous launch keeps its pod until the node is full.")
    if enabled and limit:
        return (f"Removes idle servers: the limit of {limit} counts those in use" if short else
                f"Each launch is a named server, {limit} per user: they are stopped and removed once {idle} "
                "(the user's volume stays), so the limit counts only servers in use.")
    if limit:
        return (f"Off: after {limit} launches a user must delete a server first" if short else
                f"Culling is off: each launch is a named server and stopped ones count too; a user with "
                f"{limit} can launch nothing more until they delete one on the hub's home page.")
    if enabled:
        return "Stops idle servers, so their pods free the node" if short else \
            f"Servers are stopped once {idle}, so their pods free the node."
    return "Off: servers run until their users stop them" if short else \
        "Culling is off: servers run until their users stop them."


def image_pull_secret(s: Settings, password: str) -> dict | None:
    """`jupyterhub.imagePullSecret` for secret.yaml: the kubelet's credentials to pull the images
    BinderHub built (z2jh creates the Secret and points KubeSpawner at it), or None when the
    registry needs none. BinderHub pushes with its own credentials; without these, every launch
    from a registry that checks pulls (the in-cluster one always) fails with ErrImagePull 401."""
    if s.registry.type == "none" or not s.registry.username:
        return None
    return {"create": True, "registry": pull_registry(s), "username": s.registry.username, "password": password}


def pull_registry(s: Settings) -> str:
    """The registry the kubelet pulls built images from: the host of the image prefix."""
    return s.registry.image_prefix.split("/", 1)[0]


def _database(s: Settings) -> dict:
    if s.hub.database.type == "postgres":
        return {"type": "postgres", "url": s.hub.database.url}
    return {"type": "sqlite-pvc", "pvc": {"storageClassName": s.storage.storage_class}}


def _auth_config(s: Settings, address: dict[str, str]) -> dict:
    auth = s.auth
    oauth: dict = {
        "client_id": auth.client_id,
        "oauth_callback_url": f"{address['hub']}hub/oauth_callback",
        **keycloak_endpoints(s),
        # Keycloak 20+ answers 403 on userinfo without the openid scope (keycloak#16168).
        "scope": ["openid", "profile", "email"],
        "username_claim": "preferred_username",
        "login_service": auth.login_service,
        "allow_all": auth.allow_all,
    }
    if auth.allowed_users:
        oauth["allowed_users"] = list(auth.allowed_users)
    if auth.allowed_groups:
        oauth["allowed_groups"] = list(auth.allowed_groups)
        # The groups claim must be mapped into userinfo by a Keycloak "Group Membership" mapper.
        oauth["auth_state_groups_key"] = "oauth_user.groups"
    authenticator: dict = {"admin_users": list(auth.admin_users)}
    if auth.allowed_groups:
        authenticator["manage_groups"] = True
    if auth.pass_tokens:
        authenticator["enable_auth_state"] = True
    return {
        "JupyterHub": {"authenticator_class": "generic-oauth"},
        "Authenticator": authenticator,
        "GenericOAuthenticator": oauth,
        "BinderSpawner": {"auth_enabled": True},
    }
