"""Read what we write back the way the consumers read it: through real helm (Go's YAML), batched.

Not a test module. Two readers, each one `helm template` call for a whole batch:

- `go_read(texts)`: each YAML mapping as helm reads a `-f FILE` (sigs.k8s.io/yaml, which is Go's
  yaml.v2 underneath, the same reader kubectl uses), returned as the JSON that helm's `toJson` makes
  of it. A small chart of our own echoes `.Values`; it only shows how Go reads a file.
- `binderhub_renders(pairs)`: the REAL BinderHub chart archive rendered once for many
  (config.yaml, secret.yaml) pairs. Per pair: the hub's values as the hub loads them (z2jh's
  jupyterhub_config.py reads the `hub` Secret's values.yaml with PyYAML's safe_load), BinderHub's
  values as binderhub_config.py loads them (ruamel.yaml, round-trip), and the registry
  credentials from the build pods' docker config.json.

Batching: a file's text is indented under a key of one values file (indenting block YAML keeps
its meaning), and the real chart is a dependency of a throw-away umbrella chart under one alias
per pair, so one helm process reads and renders the whole batch.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import upstream

BINDERHUB_ARCHIVE = "charts/binderhub-1.0.0-0.dev.git.3958.haf9ca8b1.tgz"
BINDERHUB_VERSION = "1.0.0-0.dev.git.3958.haf9ca8b1"

_ECHO_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: echo
data:
  values: {{ toJson .Values | b64enc | quote }}
"""


def _helm(*args: str, cwd: Path) -> str:
    helm = shutil.which("helm")
    assert helm, "helm is not on PATH (./scripts/test.sh puts it there)"
    run = subprocess.run([helm, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def _pack(texts: list[str], prefix: str) -> str:
    """One values file holding every text under its own key (prefix0, prefix1, ...)."""
    out = io.StringIO()
    for index, text in enumerate(texts):
        out.write(f"{prefix}{index}:\n")
        out.write(textwrap.indent(text, "  "))
        if not text.endswith("\n"):
            out.write("\n")
    return out.getvalue()


def go_read(texts: list[str]) -> list:
    """How Go (helm, kubectl) reads each YAML mapping, as JSON data; one helm call for all."""
    with tempfile.TemporaryDirectory(prefix="go-read-") as tmp:
        chart = Path(tmp) / "echo"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text("apiVersion: v2\nname: echo\nversion: 0.0.1\n")
        (chart / "templates" / "echo.yaml").write_text(_ECHO_TEMPLATE)
        values = Path(tmp) / "packed.yaml"
        values.write_text(_pack(texts, "f"))
        rendered = yaml.safe_load(_helm("template", "echo", str(chart), "-f", str(values), cwd=Path(tmp)))
    echoed = json.loads(base64.b64decode(rendered["data"]["values"]))
    return [echoed.get(f"f{index}") for index in range(len(texts))]


@dataclass
class BinderhubRender:
    hub: dict | None     # the hub's values, as z2jh's hub loads them (None: its loader failed)
    binder: dict         # BinderHub's values, as binderhub_config.py loads them
    docker_config: dict  # the build pods' registry credentials
    hub_error: str = ""  # why the hub's loader failed


def binderhub_renders(pairs: list[tuple[str, str]]) -> list[BinderhubRender]:
    """Render the real BinderHub chart for each (config.yaml, secret.yaml) text; one helm call."""
    from ruamel.yaml import YAML

    archive = upstream(BINDERHUB_ARCHIVE)
    with tempfile.TemporaryDirectory(prefix="binderhub-batch-") as tmp:
        umbrella = Path(tmp) / "batch"
        (umbrella / "charts").mkdir(parents=True)
        shutil.copy(archive, umbrella / "charts")
        dependencies = "".join(f"- name: binderhub\n  version: {BINDERHUB_VERSION}\n  alias: b{i}\n"
                               for i in range(len(pairs)))
        (umbrella / "Chart.yaml").write_text(f"apiVersion: v2\nname: batch\nversion: 0.0.1\ndependencies:\n"
                                             f"{dependencies}")
        (Path(tmp) / "config.yaml").write_text(_pack([config for config, _ in pairs], "b"))
        (Path(tmp) / "secret.yaml").write_text(_pack([secret for _, secret in pairs], "b"))
        stream = _helm("template", "bh", str(umbrella), "-f", "config.yaml", "-f", "secret.yaml", cwd=Path(tmp))
    found: dict[int, dict] = {}
    for document in stream.split("\n---\n"):
        source = next((line for line in document.splitlines() if line.startswith("# Source: batch/charts/b")), None)
        if source is None:
            continue
        index = int(source.split("/")[2][1:])
        manifest = yaml.safe_load(document)
        if not manifest or manifest.get("kind") != "Secret":
            continue
        name, entry = manifest["metadata"]["name"], found.setdefault(index, {})
        if name == "hub":
            try:
                entry["hub"] = yaml.safe_load(base64.b64decode(manifest["data"]["values.yaml"]))
            except (yaml.YAMLError, ValueError) as err:  # what the hub would fail on at start-up
                entry["hub"], entry["hub_error"] = None, f"{err.__class__.__name__}: {err}"
        elif name == "binder-secret":
            entry["binder"] = YAML().load(manifest["stringData"]["values.yaml"])
        elif name == "binder-build-docker-config":
            entry["docker_config"] = json.loads(base64.b64decode(manifest["data"]["config.json"]))
    return [BinderhubRender(found[i]["hub"], found[i]["binder"], found[i].get("docker_config", {}),
                            found[i].get("hub_error", "")) for i in range(len(pairs))]


def registry_credentials(render: BinderhubRender, url: str) -> str:
    """`user:password` as the build pods' docker config.json carries them for `url`."""
    return base64.b64decode(render.docker_config["auths"][url]["auth"]).decode()
