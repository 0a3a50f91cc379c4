"""The real chart archives of shared/upstream/charts, for tests: where each pinned chart's archive
is, what is inside it, and `helm template` of many (chart, values) pairs at once.

Not a test module: a helper imported by tests.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path


from tests.conftest import REPO, upstream
from wizard.charts import CHARTS
from wizard.yamlio import loads_all

# The Kubernetes minor the wizard targets; kubernetes-validate 1.37.0 has its schemas.
KUBE_VERSION = "1.37.0"
# What a real 1.37 API server reports and `helm template` cannot know: without it, z2jh renders
# its PodDisruptionBudgets as policy/v1beta1, which no current cluster serves.
API_VERSIONS = ("policy/v1/PodDisruptionBudget",)


def helm_binary() -> str:
    return shutil.which("helm") or str(REPO / ".tools" / "bin" / "helm")


def archive(key: str) -> Path:
    """The archive of the chart pinned under `key` (skips the test where shared/ is missing)."""
    chart = CHARTS[key]
    return upstream(f"charts/{chart.chart}-{chart.version}.tgz")


@cache
def chart_files(key: str) -> dict[str, str]:
    """Every text file of the pinned chart's archive, by its path inside the chart (the archive's
    top folder dropped): `values.yaml`, `templates/...`, `charts/jupyterhub/values.yaml`, ..."""
    files: dict[str, str] = {}
    with tarfile.open(archive(key)) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            try:
                files[member.name.split("/", 1)[1]] = handle.read().decode("utf-8")
            except UnicodeDecodeError:
                continue  # an icon or another binary file
    return files


@dataclass(frozen=True)
class Template:
    """One `helm template` call: a pinned chart, its release and namespace, and values files (texts)."""

    key: str
    release: str
    namespace: str
    values: tuple[str, ...]


def helm_template_many(jobs: list[Template], workers: int = 2) -> dict[Template, list[dict]]:
    """Render each distinct job once, `workers` helm processes at a time. Raises AssertionError with
    helm's message when a chart refuses its values (its schema, a `fail` in a template)."""
    distinct = list(dict.fromkeys(jobs))
    with tempfile.TemporaryDirectory(prefix="helm-template-") as scratch:
        def run(index_job: tuple[int, Template]) -> tuple[Template, list[dict]]:
            index, job = index_job
            args = [helm_binary(), "template", job.release, str(archive(job.key)), "--namespace", job.namespace,
                    "--kube-version", KUBE_VERSION, "--include-crds"]
            for api in API_VERSIONS:
                args += ["--api-versions", api]
            for number, text in enumerate(job.values):
                path = Path(scratch) / f"{index}-{number}.yaml"
                path.write_text(text)
                args += ["-f", str(path)]
            done = subprocess.run(args, capture_output=True, text=True)
            assert done.returncode == 0, f"helm template {job.key} failed: {done.stderr}"
            return job, loads_all(done.stdout)  # libyaml's loader: the CRDs are large

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(pool.map(run, enumerate(distinct)))


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} rendered"
    return matches[0]
