"""Step screens are made once (and the next one ahead, while the current one is read), then shown
again for Next: these prove a screen shown again says what the answers say now, not what they
said when it was made, and that a screen made from an older cluster read is made anew. They
cannot prove every screen-specific default that follows another answer (each screen's own tests
do), only the sync the App does for all of them."""

from __future__ import annotations

import asyncio

from tests.test_tui_support import aio, field, make_app, prefilled, settle, wait_for


def shown(app, path: str) -> str:
    from textual.widgets import Input

    return field(app, path).query_one(Input).value


@aio
async def test_a_screen_made_ahead_shows_an_answer_changed_after_it_was_made(tmp_path):
    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        app.start_steps("login")
        await settle(pilot)
        # The hub screen is made in the background while the login screen is on show.
        await wait_for(pilot, lambda: app.is_screen_installed("HubScreen") and app.get_screen("HubScreen").is_mounted)
        made = app.get_screen("HubScreen")
        assert field(made, "hub.cull.timeout").query_one("Input").value != "7200"
        app.answers.set("hub.cull.timeout", 7200)  # as another screen would
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HubScreen")
        await settle(pilot)
        assert app.screen is made  # shown, not made again
        assert shown(app, "hub.cull.timeout") == "7200"


async def to_ingress_and_back(pilot):
    """Network, Next to Ingress and storage, Back: the screen it left (installed, not on show)."""
    app = pilot.app
    await pilot.pause()
    app.start_steps("network")
    await settle(pilot)
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "IngressStorageScreen")
    left = app.screen
    await pilot.press("escape")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "NetworkScreen")
    return left


@aio
async def test_back_then_next_shows_the_same_screen_with_its_values(tmp_path):
    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        first = await to_ingress_and_back(pilot)
        app.answers.set("network.domain", "changed.example.org")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "IngressStorageScreen")
        assert app.screen is first


@aio
async def test_a_new_cluster_read_makes_the_storage_screen_anew(tmp_path):
    from tests.test_tui_support import fake_cluster

    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        old = await to_ingress_and_back(pilot)
        info = fake_cluster(None)
        info.storage_classes = ["fast-ssd"]
        app.cluster_info = info
        await asyncio.sleep(0.5)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "IngressStorageScreen")
        await settle(pilot)
        assert app.screen is not old
        from textual.widgets import Select

        offered = [value for _label, value in app.screen.query_one("#classes", Select)._options]
        assert "fast-ssd" in offered, offered


@aio
async def test_a_screen_made_before_a_theme_change_is_shown_in_the_new_theme(tmp_path):
    app = make_app(tmp_path / "setup", answers=prefilled(tmp_path / "setup"))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        app.start_steps("network")
        await settle(pilot)
        # Made ahead from the cluster read: a read that lands later makes it again (its storage
        # classes), so wait for the one made from the read the app holds (under load the read can
        # come after the first one was made).
        await wait_for(pilot, lambda: app.cluster_info is not None and app.is_screen_installed("IngressStorageScreen")
                       and app.get_screen("IngressStorageScreen").is_mounted
                       and app._made_with.get("IngressStorageScreen", (None, None))[1] == id(app.cluster_info))
        made = app.get_screen("IngressStorageScreen")
        before = made.query_one(".title").styles.background
        await pilot.press("ctrl+t")  # the theme changes while that screen is not on show
        await settle(pilot)
        now = app.screen.query_one(".title").styles.background
        assert now != before
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.screen is made)
        await settle(pilot)
        assert made.query_one(".title").styles.background == now
