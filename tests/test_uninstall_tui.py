"""The Uninstall screen: reached from the Welcome screen of an existing install, it shows what the
ledger says will be removed and what is kept (the core's preview), and Remove runs the core's
removal once, without asking again, showing its lines and verdict. The removal itself is replaced
here by a stand-in that records its call: what it does to a cluster is proved in
tests/test_uninstall_e2e.py, not here."""

from __future__ import annotations

from tests.test_tui_support import aio, export_example, make_app, settle, wait_for
from wizard import uninstall
from wizard.ledger import HELM, Ledger


@aio
async def test_welcome_leads_to_the_plan_and_remove_runs_the_core_once(tmp_path, monkeypatch):
    directory = tmp_path / "setup"
    export_example(directory)
    Ledger(directory).record({"op": HELM, "stage": "binderhub", "name": "binder", "namespace": "binder",
                              "chart": "binderhub", "version": "1.0", "revision": 1})
    calls = []

    def removal(where, **kwargs):
        calls.append((where, kwargs))
        kwargs["say"]("[binderhub] removing")
        return 0

    monkeypatch.setattr(uninstall, "run", removal)
    app = make_app(directory)
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(pilot)
        await pilot.click("#uninstall")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "UninstallScreen")
        await settle(pilot)
        plan = str(app.screen.query_one("#plan").render())
        assert "helm release binder in binder" in plan and "Kept:" in plan and "database volume" in plan
        await pilot.click("#remove")
        await settle(pilot)
        await wait_for(pilot, lambda: "Removed" in "\n".join(app.screen.query_one("#output").lines))
        assert calls == [(directory, {"yes": True, "say": calls[0][1]["say"]})]
        assert "[binderhub] removing" in app.screen.query_one("#output").lines
        assert app.screen.query_one("#remove").disabled
