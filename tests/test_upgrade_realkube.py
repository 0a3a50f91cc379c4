"""Upgrade, a failed upgrade rolled back, and `wizard rollback --to`, end to end on the real control
plane (tests/realkube) with real helm and kubectl and real chart archives.

From the previous pins to the current ones, as far as archives exist: traefik goes from 37.4.0
(tests/data/charts, built from the upstream tag v37.4.0) to 41.3.0 (shared/upstream/charts), with
an answers change (hub.named_server_limit) that changes the hub's config. The other charts stay on
their current archives: binderhub's previous pin was never published (same tree as the current),
the openebs umbrella 4.3.3 and ingress-nginx 4.14.1 are not here, so their version changes (the
openebs -> localpv-provisioner switch above all) are shown as data only (test_upgrade_diff.py).

The hub pod is a kwok pod: no process runs in it, so `kubectl exec` cannot work. The kubectl the
wizard runs is the STAND-IN of tests/test_backup.py (`standin_kubectl`): `kubectl exec ... -- CMD`
runs CMD on this machine with the pod's /srv/jupyterhub mapped to a local folder holding a real
SQLite database; every other kubectl command goes to the real kubectl and the real API server. So
the backup and restore scripts and the hub pod lookup and restart are real; a real container's
python and kubectl's exec stream are not. Other stand-ins as in tests/install_harness.py.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from tests.conftest import REPO
from tests.install_harness import (WORKLOADS, chart_sources, install_cluster, make_real_install,  # noqa: F401
                                   write_answers)
from tests.test_backup import make_hub_db, standin_kubectl

pytestmark = pytest.mark.slow

TRAEFIK = {"ingress": {"controller": "traefik"}}
OLD_TRAEFIK = REPO / "tests" / "data" / "charts" / "traefik-37.4.0.tgz"


def helm_json(run, *args) -> list | dict:
    done = subprocess.run(["helm", *args, "-o", "json"], env=run.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def rows(path) -> list[str]:
    import sqlite3

    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("select name from users")]


def secrets_of(run) -> list[str]:
    """Every secret value of DIR/secret.yaml (none may appear in what the wizard prints)."""
    from wizard.secretstore import read_stored

    return [value for value in read_stored(run.directory).values() if len(value) >= 8]


@pytest.fixture(scope="module")
def installed(install_cluster, tmp_path_factory):
    """One install on the previous traefik (37.4.0), the hub's database a real SQLite file behind
    the stand-in hub pod."""
    tmp = tmp_path_factory.mktemp("upgrade")
    run = make_real_install(tmp, install_cluster)
    charts = chart_sources()
    run.current_charts = dict(charts)
    run.answers = write_answers(tmp, {**charts, "traefik": str(OLD_TRAEFIK)}, TRAEFIK, name="answers-old.yaml")
    run.hub_root = tmp / "hub-root"
    real_kubectl = shutil.which("kubectl", path=run.env["PATH"])
    run.env = standin_kubectl(tmp / "standin-bin", run.hub_root, run.env, real_kubectl)
    run.database = run.hub_root / "jupyterhub.sqlite"
    make_hub_db(run.database, ["alice", "bob"])
    try:
        first = run.install()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert helm_json(run, "history", "traefik", "-n", "traefik")[-1]["chart"] == "traefik-37.4.0"
        yield run
    finally:
        run.stop()


def test_upgrade_shows_the_diff_backs_up_then_applies(installed):
    """`wizard upgrade` to traefik 41.3.0 plus a changed answer: it prints the rendered files' diff,
    each release's object diff (the chart version, the hub's Secret masked and marked changed), the
    known breaking changes (traefik's service.spec move); backs up the hub database (the stand-in
    pod's file, byte for byte), secret.yaml and answers into DIR/backups/NAME (0700, 0600); then
    applies; `wizard status` lists the backup. No secret value is printed."""
    run = installed
    run.answers = write_answers(run.answers.parent, run.current_charts, {**TRAEFIK, "hub": {"named_server_limit": 7}},
                                name="answers-new.yaml")
    done = run.run("upgrade", "--answers", str(run.answers), "--yes", *run.cluster_options())
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-5000:]
    assert "What will change (secrets masked):" in out
    assert any(line.split() == ["+", "namedServerLimitPerUser:", "7"] or line.split() == ["+namedServerLimitPerUser:", "7"]
               for line in out.splitlines()), out[:5000]
    assert "chart traefik 37.4.0 -> traefik 41.3.0" in out, out[:6000]
    assert "! traefik 40.0.0:" in out and "service.spec" in out
    assert "~ Secret binder/hub" in out and "values.yaml: '**** (changed)'" in out
    # z2jh keeps its generated secrets through `lookup`: rendered against the cluster, not anew.
    assert "cookie_secret: '**** (changed)'" not in out, out[:8000]
    for secret in secrets_of(run):
        assert secret not in out
    backups = sorted((run.directory / "backups").iterdir())
    assert len(backups) == 1 and stat.S_IMODE(backups[0].stat().st_mode) == 0o700
    # sqlite3's backup API makes a consistent copy, the same pages and rows, not the same header bytes.
    assert rows(backups[0] / "jupyterhub.sqlite") == rows(run.database) == ["alice", "bob"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in backups[0].iterdir())
    assert f"backed up to {backups[0]}" in out
    # The live chart versions, from `helm list`, for `rollback` to re-apply (pin_recorded_charts).
    from wizard.charts import CHARTS

    recorded = json.loads((backups[0] / "backup.json").read_text())["charts"]
    assert recorded["traefik"] == "37.4.0" and recorded["binderhub"] == CHARTS["binderhub"].version, recorded
    # The backup keeps the answers the hub ran (DIR/applied/), the run's new ones are kept after it.
    import yaml

    assert yaml.safe_load((backups[0] / "answers.yaml").read_text()).get("hub", {}).get("named_server_limit") != 7
    assert yaml.safe_load((run.directory / "applied" / "answers.yaml").read_text())["hub"]["named_server_limit"] == 7
    assert helm_json(run, "history", "traefik", "-n", "traefik")[-1]["chart"] == "traefik-41.3.0"
    status = run.run("status")
    assert backups[0].name in status.stdout and "database jupyterhub.sqlite" in status.stdout, status.stdout
    run.first_backup = backups[0].name


def test_a_failing_check_after_an_upgrade_rolls_the_release_back(installed, install_cluster):
    """A changed answer re-runs binderhub through `wizard install` (which shows the diff first);
    the new hub pod crash-loops (kwok's fault), so the binderhub check fails: the stage rolls the
    release back to the revision recorded before the upgrade, says so, and helm history shows it."""
    run = installed
    from tests.realkube.pods import CRASH_LOOP

    revision = helm_json(run, "history", "binder", "-n", "binder")[-1]["revision"]
    run.answers = write_answers(run.answers.parent, run.current_charts, {**TRAEFIK, "hub": {"named_server_limit": 9}},
                                name="answers-failing.yaml")
    install_cluster.behaviours.set(WORKLOADS["hub"], namespace="binder", fault=CRASH_LOOP)
    try:
        done = run.install(wait=6)
    finally:
        install_cluster.behaviours.clear()
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-4000:]
    assert "What will change (secrets masked):" in out
    assert f"was rolled back to revision {revision}" in out, out[-4000:]
    history = helm_json(run, "history", "binder", "-n", "binder")
    assert history[-1]["description"] == f"Rollback to {revision}", history[-2:]
    assert history[-1]["status"] == "deployed"


def test_rollback_to_restores_the_database_byte_for_byte(installed):
    """`wizard rollback --to NAME` (the backup made before the first upgrade): secret.yaml and the
    answers come back into DIR, they are applied again (traefik back to 37.4.0), and the hub's
    database file (behind the stand-in pod) is the backed-up one, byte for byte."""
    run = installed
    name = run.first_backup
    kept = (run.directory / "backups" / name / "jupyterhub.sqlite").read_bytes()
    make_hub_db(run.database, ["mallory"] * 200)  # the hub's database moved on since
    assert run.database.read_bytes() != kept
    # The crash-looping hub pod from the test before goes; its replacement is ready.
    for _attempt in range(3):  # the pod behaviour just cleared may still reach a pod made at once
        subprocess.run(["kubectl", "-n", "binder", "delete", "pod", "-l", "component=hub", "--wait=false"],
                       env=run.env, capture_output=True, check=True)
        ready = subprocess.run(["kubectl", "-n", "binder", "rollout", "status", "deployment/hub", "--timeout=20s"],
                               env=run.env, capture_output=True)
        if ready.returncode == 0:
            break
    done = run.run("rollback", "--to", name, "--yes", *run.cluster_options())
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-5000:]
    assert run.database.read_bytes() == kept
    assert (run.directory / "answers.yaml").read_bytes() == \
        (run.directory / "backups" / name / "answers.yaml").read_bytes()
    assert f"rolled back to {name}" in out
    assert helm_json(run, "history", "traefik", "-n", "traefik")[-1]["chart"] == "traefik-37.4.0"
    calls = open(run.env["STANDIN_RECORD"]).read()
    assert '"delete", "pod"' in calls, "the hub pod was restarted on the restored database"
    assert not os.path.exists(str(run.database) + ".restoring")
