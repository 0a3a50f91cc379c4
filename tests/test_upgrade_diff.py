"""What an upgrade shows before it applies (wizard/upgrade.py, wizard/breaking.py), without a
cluster: the object diff of two manifests (Secret data masked, a changed value marked), the diff of
rendered files (secret.yaml by key, never a value), and the known breaking changes between the
previous pins and the current ones. The real helm and control plane are in test_upgrade_realkube.py.
"""

from __future__ import annotations

import base64

import pytest

from tests.real_charts import archive, helm_binary
from tests.test_tui_support import aio
from wizard import breaking
from wizard.charts import CHARTS
from wizard.redact import Redactor
from wizard.upgrade import Changes, ReleaseDiff, file_diffs, format_changes, object_diff
from wizard.yamlio import dumps_all

PREVIOUS = {"traefik": ("traefik", "37.4.0"), "ingress-nginx": ("ingress-nginx", "4.14.1"),
            "localpv-provisioner": ("openebs", "4.3.3"),
            "binderhub": ("binderhub", "1.0.0-0.dev.git.3959.hb9fad995"), "cert-manager": ("cert-manager", "v1.21.1")}


def _secret(value: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hub", "namespace": "binder"},
            "data": {"token": base64.b64encode(value.encode()).decode(), "same": "c2FtZQ=="}}


def test_object_diff_masks_secret_data_and_marks_a_change():
    old = dumps_all([_secret("old-distinctive-token"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                        "metadata": {"name": "a"}, "data": {"x": "1"}},
                     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gone"}}])
    new = dumps_all([_secret("new-distinctive-token"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                        "metadata": {"name": "a"}, "data": {"x": "2"}},
                     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fresh"}}])
    added, removed, changed = object_diff(old, new, "binder", Redactor())
    assert added == ["Service binder/fresh"] and removed == ["Service binder/gone"]
    secret = "\n".join(changed["Secret binder/hub"])
    assert "+  token: '**** (changed)'" in changed["Secret binder/hub"], secret
    assert "   same: '****'" in changed["Secret binder/hub"]  # unchanged: masked, only context
    for value in ("old-distinctive-token", "new-distinctive-token"):
        assert value not in secret and base64.b64encode(value.encode()).decode() not in secret
    assert "-  x: '1'" in "\n".join(changed["ConfigMap binder/a"])


def test_file_diff_shows_secret_yaml_by_key_only(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, token, limit in ((old, "first-distinctive-value", 5), (new, "second-distinctive-value", 7)):
        folder.mkdir()
        (folder / "secret.yaml").write_text(f"jupyterhub:\n  proxy:\n    secretToken: {token}\n")
        (folder / "secret.yaml").chmod(0o600)
        (folder / "config.yaml").write_text(f"limit: {limit}\n")
    diffs = file_diffs(old, new, ["secret.yaml", "config.yaml"], Redactor(["first-distinctive-value"]))
    assert diffs["secret.yaml"] == ["  generated.proxy_secret_token: changed (value not shown)"]
    assert "-limit: 5" in diffs["config.yaml"] and "+limit: 7" in diffs["config.yaml"]
    text = "\n".join(format_changes(Changes(files=diffs)))
    assert "distinctive" not in text


def test_breaking_changes_between_the_previous_pins_and_the_current_ones():
    """Each release from its previous pin to the current one: traefik crosses its five breaking
    majors (the service.spec move among them), openebs -> localpv-provisioner is a chart change,
    binderhub's renumbering is said, ingress-nginx 4.14.1 -> 4.14.5 and cert-manager cross none."""
    found = {key: breaking.applicable(*PREVIOUS[key], CHARTS[key].chart, CHARTS[key].version) for key in PREVIOUS}
    assert [b.since for b in found["traefik"]] == ["38.0.0", "39.0.0", "40.0.0", "40.2.0", "41.0.0"]
    assert any("service.spec" in b.what for b in found["traefik"])
    assert [b.from_chart for b in found["localpv-provisioner"]] == ["openebs"]
    assert len(found["binderhub"]) == 1 and "3959 -> 3958" in found["binderhub"][0].what
    assert found["ingress-nginx"] == [] and found["cert-manager"] == []
    # Not crossed again once on the current pins; nothing for a release never installed.
    assert breaking.applicable("traefik", "41.3.0", "traefik", "41.3.0") == []
    assert breaking.applicable("", "", "traefik", "41.3.0") == []
    assert breaking.applicable("traefik", "39.0.1", "traefik", "41.3.0")[0].since == "40.0.0"


def test_format_changes_says_each_release_and_the_breaking_changes():
    diff = ReleaseDiff("ingress", "traefik", "traefik", "traefik 37.4.0", "traefik 41.3.0",
                       changed={"Deployment traefik/traefik": ["-  image: a", "+  image: b"]},
                       breaking=breaking.applicable("traefik", "37.4.0", "traefik", "41.3.0"))
    fresh = ReleaseDiff("storage", "openebs", "openebs", new_chart="localpv-provisioner 4.0.0",
                        note="not installed yet: every object is new")
    lines = format_changes(Changes(releases=[diff, fresh]))
    text = "\n".join(lines)
    assert "chart traefik 37.4.0 -> traefik 41.3.0; 1 changed, 0 added, 0 removed" in text
    assert "  ~ Deployment traefik/traefik" in lines
    assert "not installed yet" in text
    assert "! traefik 40.0.0:" in text and "The wizard:" in text


def test_the_previous_traefik_archive_is_the_upstream_tag():
    """tests/data/charts/traefik-37.4.0.tgz (the previous pin, built from the upstream tag; see
    tests/data/charts/README.md) is what its name says, and renders the values the wizard writes."""
    import subprocess

    from tests.conftest import REPO

    path = REPO / "tests" / "data" / "charts" / "traefik-37.4.0.tgz"
    shown = subprocess.run([helm_binary(), "show", "chart", str(path)], capture_output=True, text=True)
    assert shown.returncode == 0 and "version: 37.4.0" in shown.stdout and "appVersion: v3.6.2" in shown.stdout
    assert archive("traefik").name == "traefik-41.3.0.tgz"


@pytest.mark.parametrize("old,new", [("v1.21.1", "v1.22.0"), ("1.0.0-0.dev.git.3958.h1", "1.0.0-0.dev.git.3959.h2"),
                                     ("4.0.0-rc.1", "4.0.0"), ("39.0.9", "40.0.0")])
def test_versions_sort_as_helm_releases_do(old, new):
    assert breaking._key(old) < breaking._key(new)


def test_the_review_screen_shows_the_diff_the_cli_prints(tmp_path):
    """One core function, two faces: the TUI review's "What will change" lines (screens/session.py
    review_data) are wizard.upgrade.format_changes of the session's preview, which the CLI prints;
    a changed answer shows as its line of config.yaml, and no secret appears. Without a cluster
    (none here) there is no release to compare with; the object diff against a live release is
    proven in test_upgrade_realkube.py. It cannot show the Textual widget's rendering of the lines."""
    import copy

    from screens.session import Answers, review_data
    from tests.variants import BASE
    from wizard.export import export
    from wizard.session import InstallSession
    from wizard.settings import FIELDS
    from wizard.stages import plan
    from wizard.upgrade import format_changes

    def value_at(raw, path):
        node = raw
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    directory = tmp_path / "dir"
    raw = copy.deepcopy(BASE)
    assert export(copy.deepcopy(raw), directory).ok
    raw.setdefault("hub", {})["named_server_limit"] = 11
    secrets = {spec.path: value_at(raw, spec.path) for spec in FIELDS if spec.secret and value_at(raw, spec.path)}
    answers = Answers(directory, copy.deepcopy(raw), secrets)
    data = review_data(answers, plan)
    assert data.problems == []
    assert "  config.yaml" in data.what_changes
    assert any(line.split() == ["+", "namedServerLimitPerUser:", "11"] or line.split() == ["+namedServerLimitPerUser:", "11"]
               for line in data.what_changes), data.what_changes
    cli = format_changes(InstallSession(directory, raw=answers.combined(), plan=plan).preview().changes)
    assert data.what_changes == cli
    text = "\n".join(data.what_changes)
    for secret in secrets.values():
        assert secret not in text


def test_upgrade_and_rollback_refuse_what_they_cannot_do(tmp_path, capsys):
    """Exit 2 with one message naming what to do: `upgrade` where nothing was installed, `rollback`
    without a backup, `rollback --to` a name that is not one."""
    import copy

    from tests.variants import BASE
    from wizard import cli
    from wizard.export import export

    directory = tmp_path / "dir"
    assert export(copy.deepcopy(BASE), directory).ok
    assert cli.main(["upgrade", "--dir", str(directory), "--yes"]) == 2
    assert "nothing is installed from" in capsys.readouterr().err
    assert cli.main(["rollback", "--dir", str(directory), "--yes"]) == 2
    assert "no backup in" in capsys.readouterr().err
    (directory / "backups" / "20260101T000000Z").mkdir(parents=True)
    (directory / "backups" / "20260101T000000Z" / "backup.json").write_text('{"complete": true}')
    assert cli.main(["rollback", "--dir", str(directory), "--to", "nope", "--yes"]) == 2
    assert "--to nope: no such backup; the backups are: 20260101T000000Z" in capsys.readouterr().err


@aio
async def test_the_review_screen_renders_what_will_change(tmp_path):
    """The Review screen itself (Textual, Pilot) shows the "What will change" section with the
    changed line of config.yaml, over a directory exported before with other answers. Proves the
    widget shows the core's lines; the lines themselves are checked against the CLI's above."""
    import copy

    from tests.test_tui_snapshots import at
    from tests.test_tui_support import example_raw, make_app, prefilled
    from wizard.export import export

    directory = tmp_path / "dir"
    earlier = copy.deepcopy(example_raw())
    earlier["hub"]["named_server_limit"] = 3
    assert export(earlier, directory).ok
    app = make_app(directory, answers=prefilled(directory))
    async with app.run_test(size=(120, 60)) as pilot:
        await at("review")(pilot)
        shown = str(app.screen.query_one("#plan").render())
    assert "What will change" in shown, shown
    assert "-    namedServerLimitPerUser: 3" in shown and "+    namedServerLimitPerUser: 5" in shown, shown
