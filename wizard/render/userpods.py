"""What goes into user pods: resources, storage, the four ConfigMaps of the original notes and
how they are mounted, and the hub snippet that passes Keycloak tokens into user servers.

The scripts themselves are static files in the `manifests` package; the ConfigMaps carry them.
No ConfigMap holds a secret: pods get fresh tokens from the hub with their own API token, never
the Keycloak client secret.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from ..settings import Settings

# One ConfigMap a concern, named and filed as in the original notes.
PERSISTENT = ("persistent-config", "persistent_config_configmap.yaml", "/etc/binderhub-wizard/persistent",
              ("persistent-home.sh",))
SCHEDULER = ("token-refresh-scheduler", "scheduler_configmap.yaml", "/etc/binderhub-wizard/scheduler",
             ("token_refresher.py",))
SUPERVISORD = ("supervisord-config", "supervisord_configmap.yaml", "/etc/binderhub-wizard/supervisord",
               ("supervisord.conf", "start-background.sh"))
# /usr/local/etc/jupyter is on Jupyter's system config path and, unlike /etc/jupyter, rarely
# holds a file of the image's own that the mount would hide.
JUPYTER = ("jupyter-config", "jupyter_config_configmap.yaml", "/usr/local/etc/jupyter/jupyter_server_config.py",
           ("jupyter_server_config.py",))
CONFIGMAPS = (PERSISTENT, SCHEDULER, SUPERVISORD, JUPYTER)

HOME = "/home/jovyan"
PERSISTENT_MOUNT = f"{HOME}/persistent"
PASS_TOKENS_SNIPPET = "hub_pass_tokens.py"


@cache
def manifest_text(name: str) -> str:
    return resources.files("manifests").joinpath(name).read_text(encoding="utf-8")


def user_storage_on(s: Settings) -> bool:
    # Anonymous Binder users are throwaway accounts: a volume each would only pile up.
    return s.hub.user_storage.enabled and s.auth.type == "keycloak"


def tokens_on(s: Settings) -> bool:
    return s.auth.type == "keycloak" and s.auth.pass_tokens


def configmaps(s: Settings, namespace: str) -> dict[str, dict]:
    """File name -> ConfigMap manifest."""
    out = {}
    for name, filename, _mount, keys in CONFIGMAPS:
        out[filename] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "binderhub-wizard"}},
            "data": {key: manifest_text(key) for key in keys},
        }
    return out


def _volumes() -> tuple[list[dict], list[dict]]:
    volumes, mounts = [], []
    for name, _filename, mount, keys in CONFIGMAPS:
        volumes.append({"name": name, "configMap": {"name": name, "defaultMode": 0o755}})
        if mount.endswith(".py"):
            # A single file into a folder the image may already fill.
            mounts.append({"name": name, "mountPath": mount, "subPath": keys[0], "readOnly": True})
        else:
            mounts.append({"name": name, "mountPath": mount, "readOnly": True})
    return volumes, mounts


def _post_start(s: Settings) -> list[str]:
    steps = []
    if user_storage_on(s):
        steps.append(f"sh {PERSISTENT[2]}/persistent-home.sh")
    if tokens_on(s):
        steps.append(f"sh {SUPERVISORD[2]}/start-background.sh")
    # A failing postStart hook kills the container: these helpers must never stop a launch.
    return ["sh", "-c", "; ".join(f"{step} || true" for step in steps)] if steps else []


def singleuser_values(s: Settings) -> dict:
    volumes, mounts = _volumes()
    storage: dict = {"extraVolumes": volumes, "extraVolumeMounts": mounts}
    if user_storage_on(s):
        storage.update({
            "type": "dynamic",
            "capacity": s.hub.user_storage.capacity,
            # A volume at the home folder would hide what the repository image put there.
            "homeMountPath": PERSISTENT_MOUNT,
            # One claim per user, not per server, so files survive from one Binder launch to the next.
            "dynamic": {"storageClass": s.storage.storage_class, "pvcNameTemplate": "claim-{username}"},
        })
    else:
        storage["type"] = "none"
    res = s.hub.resources
    values: dict = {
        "storage": storage,
        "cpu": {"limit": res.cpu_limit, "guarantee": res.cpu_guarantee},
        "memory": {"limit": res.memory_limit, "guarantee": res.memory_guarantee},
    }
    command = _post_start(s)
    if command:
        values["lifecycleHooks"] = {"postStart": {"exec": {"command": command}}}
    if s.auth.type == "keycloak":
        # Authenticated launches talk to the hub: the image must run jupyterhub-singleuser (binderhub#1854).
        values["cmd"] = "jupyterhub-singleuser"
    if tokens_on(s):
        # The refresher lives in another ConfigMap than start-background.sh: say where.
        values["extraEnv"] = {"KC_TOKEN_DIR": f"{HOME}/.keycloak",
                              "KC_REFRESHER": f"{SCHEDULER[2]}/token_refresher.py"}
    return values


AUTH_STATE_SCOPE = "admin:auth_state!user"


def user_scopes(s: Settings) -> list[str]:
    scopes = ["self", "access:services!service=binder"]
    # A server token gets only the scopes its owner holds too, so the user role needs it as well.
    return scopes + [AUTH_STATE_SCOPE] if tokens_on(s) else scopes


def extra_roles(s: Settings) -> dict:
    if not tokens_on(s):
        return {}
    # A server's own API token may read its owner's auth_state at /hub/api/users/NAME (the hub
    # refreshes it first), so the refresher in the pod needs no Keycloak client secret. Setting
    # `scopes` replaces the default server role, so its defaults are restated.
    return {"server": {"scopes": ["users:activity!user", "access:servers!server", AUTH_STATE_SCOPE]}}


def hub_extra_config(s: Settings) -> dict[str, str]:
    if not tokens_on(s):
        return {}
    return {"10-pass-keycloak-tokens": manifest_text(PASS_TOKENS_SNIPPET)}
