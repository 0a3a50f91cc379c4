"""The progress screen's Diagnose button (a Pilot test of the real app with the tests' FakePlan).

Proven: on the failure view, Diagnose writes DIR/diagnostics-TIMESTAMP.tar.gz (0600) through the
same core path as `wizard diagnose` and shows its report; the answers' secrets are not in it. The
cluster is a kubeconfig whose API server does not answer (the FakePlan installs nothing), so the
report says so: what a real cluster gives is tests/test_diagnose_realkube.py's.
"""

from __future__ import annotations

import json
import tarfile

import pytest

from tests.test_diagnose import only_archive
from tests.test_tui_flow import install_until_failed
from tests.test_tui_support import FakePlan, aio, make_app, prefilled, wait_for


@pytest.mark.slow  # about 30 s on 2 busy cores: diagnose reads every kind from an API that is not there
@aio
async def test_diagnose_on_the_failure_view_writes_the_archive_and_shows_the_report(tmp_path, monkeypatch):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}], "users": [{"name": "u", "user": {}}]}))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    directory = tmp_path / "setup"
    plan = FakePlan()
    plan.fail["binderhub"] = 1
    app = make_app(directory, plan=plan, answers=prefilled(directory))
    async with app.run_test(size=(80, 24)) as pilot:
        await install_until_failed(pilot, plan)
        await pilot.click("#diagnose")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LogViewer", timeout=60)
        shown = "\n".join(app.screen.query_one("#log-text").lines)
        assert "binderhub-wizard diagnostics" in shown and "did not answer" in shown
        assert "diagnostics-" in shown and "0600" in shown
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ProgressScreen")
        assert not app.screen.query_one("#diagnose").disabled
    path = only_archive(directory)
    with tarfile.open(path) as tar:
        data = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert b"install/state.json" not in data  # names are not contents; the contents:
    assert b'"binderhub"' in data and b"example-client-secret" not in data
