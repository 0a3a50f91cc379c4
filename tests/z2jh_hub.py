"""Run the real z2jh hub configuration as the hub pod would, from what `helm template` renders, and
have the spawner it configures build a user pod's manifest.

The hub pod mounts the hub ConfigMap (jupyterhub_config.py, z2jh.py and the resource names) at
/usr/local/etc/jupyterhub/config and the hub Secret (the chart values) at .../secret, then runs
jupyterhub_config.py, which execs every hub.extraConfig snippet (BinderHub's BinderSpawner among
them). Here the same files run unchanged, except for what a test machine is not:

- the mounts are folders under a temporary directory: that path replaces /usr/local/etc/jupyterhub
  in the two files;
- the environment Kubernetes gives the pod (POD_NAMESPACE, the Services' *_SERVICE_PORT) is set;
- tornado's curl HTTP client is not installed (pycurl): choosing it is skipped while loading;
- the spawner is made with KubeSpawner's own test switch (`_mock=True`, a stand-in user and hub) and
  without an API client (its kubeconfig loading is skipped): building a manifest needs neither.

Not a test module: a helper imported by tests.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from tests.real_charts import find

MOUNT = "/usr/local/etc/jupyterhub"
SERVICE_ENV = {"HUB_SERVICE_PORT": "8081", "PROXY_API_SERVICE_PORT": "8001", "PROXY_PUBLIC_SERVICE_PORT": "80"}


def lay_out(objects: list[dict], folder: Path) -> Path:
    """Write the hub ConfigMap and Secret as the pod sees them; return jupyterhub_config.py."""
    config_map, secret = find(objects, "ConfigMap", "hub"), find(objects, "Secret", "hub")
    (folder / "config").mkdir(parents=True)
    (folder / "secret").mkdir()
    for key, text in config_map["data"].items():
        if key.endswith(".py"):
            text = text.replace(MOUNT, str(folder))
        (folder / "config" / key).write_text(text)
    for key, encoded in (secret.get("data") or {}).items():
        (folder / "secret" / key).write_bytes(base64.b64decode(encoded))
    return folder / "config" / "jupyterhub_config.py"


@contextmanager
def _as_in_the_pod(namespace: str):
    env = {**SERVICE_ENV, "POD_NAMESPACE": namespace}
    before = sys.modules.pop("z2jh", None)  # z2jh caches what it read: one module per load
    with mock.patch.dict(os.environ, env), \
            mock.patch("tornado.httpclient.AsyncHTTPClient.configure"):
        try:
            yield
        finally:
            sys.modules.pop("z2jh", None)
            if before is not None:
                sys.modules["z2jh"] = before


def load(objects: list[dict], namespace: str, folder: Path) -> Config:
    """The hub's configuration, as jupyterhub_config.py builds it from the rendered objects."""
    path = lay_out(objects, folder)
    saved_path = list(sys.path)
    with _as_in_the_pod(namespace):
        try:
            return PyFileConfigLoader(path.name, str(path.parent)).load_config()
        finally:
            sys.path[:] = saved_path


def pod_manifest(config: Config, image: str, username: str = "alice"):
    """The V1Pod the configured spawner class would create for `username`'s server running the
    image BinderHub built. What BinderHub's launcher hands the spawner for a launch (the image, a
    token for anonymous servers) and the hub's server record are set as the hub would."""
    from kubespawner import KubeSpawner

    spawner_class = config.JupyterHub.spawner_class
    if isinstance(spawner_class, str):
        assert spawner_class == "kubespawner.KubeSpawner", spawner_class
        spawner_class = KubeSpawner
    assert issubclass(spawner_class, KubeSpawner)
    with mock.patch("kubespawner.spawner.load_config"), mock.patch("kubespawner.spawner.shared_client"):
        spawner = spawner_class(config=config, _mock=True)
    spawner.user.name = username
    spawner.user_options = {"image": image, "token": "launch-token", "repo_url": "https://example.org/repo"}
    spawner.image = image  # what BinderSpawner.start does with user_options["image"]
    spawner.server = SimpleNamespace(base_url=f"/user/{username}/", orm_server=None)
    return asyncio.run(spawner.get_pod_manifest())
