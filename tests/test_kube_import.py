"""What `wizard install` pays at start-up for the kubernetes client (wizard/kube.py).

Proves, in fresh interpreters with this project's test environment (where kubernetes-validate, and
through it jsonschema, are installed): importing the install path does not import
kubernetes_validate or jsonschema (2-3 s of CPU at every start, for a dynamic client the wizard never
uses), kubernetes_validate can still be imported afterwards, and the client's API classes are made
only when first used; `preload` imports them all and then freezes the collector's view of them
(gc.freeze). What it cannot: how long any of this takes on another machine (the benchmark,
bench/install_speed.py, measures that).
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_install_path_leaves_kubernetes_validate_and_jsonschema_unimported():
    """And the runner has ctypes and libc loaded before any fork: its forked child calls prctl
    before it execs, and a child that had to import or dlopen while another thread (preload) held
    that lock would hang (seen when ctypes was imported in the child)."""
    out = run("import sys, importlib.util\n"
              "assert importlib.util.find_spec('kubernetes_validate'), 'the test environment should have it'\n"
              "import wizard.install, wizard.stages, wizard.runner\n"
              "assert wizard.runner._LIBC is not None\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'kubernetes', 'ctypes', 'kubernetes_validate', "
              "'jsonschema'}))\n"
              "import kubernetes_validate\n"
              "print(kubernetes_validate.validate.__name__)\n")
    assert out.splitlines() == ["['ctypes', 'kubernetes']", "validate"]


def test_api_classes_are_made_when_first_used(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                          "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                          "users: [{name: u, user: {token: t}}]\n"
                          "contexts: [{name: c, context: {cluster: c, user: u}}]\n")
    out = run("import sys\n"
              "from wizard.kube import Cluster\n"
              f"cluster = Cluster({str(kubeconfig)!r})\n"
              "print('kubernetes.client.api.apps_v1_api' in sys.modules)\n"
              "apps = cluster.apps\n"
              "print(type(apps).__name__, cluster.apps is apps, 'kubernetes.client.api.apps_v1_api' in sys.modules)\n"
              "try:\n    cluster.nothing\nexcept AttributeError as err:\n    print('AttributeError', err)\n")
    assert out.splitlines() == ["False", "AppsV1Api True True", "AttributeError nothing"]


def test_preload_imports_the_api_classes_and_freezes_them():
    out = run("import gc, sys\n"
              "from wizard.kube import API_CLASSES, preload\n"
              "print(gc.get_freeze_count())\n"
              "preload().join(60)\n"
              "from kubernetes import client\n"
              "print(all(getattr(client, name).__module__ in sys.modules for name in API_CLASSES.values()))\n"
              "print(gc.get_freeze_count() > 100000)\n")
    assert out.splitlines() == ["0", "True", "True"]

