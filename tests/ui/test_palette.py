"""Every command-palette command, run through the real palette (Ctrl+P, type, Enter)."""

from __future__ import annotations

import dataclasses

from textual.command import CommandPalette
from textual.widgets import Input

from jarvis_tui.trading.service import TradingService
from jarvis_tui.ui.app import PANES, JarvisApp
from jarvis_tui.ui.screens.confirm_screen import ConfirmScreen
from jarvis_tui.ui.screens.conversations_screen import ConversationsScreen
from jarvis_tui.ui.screens.help_screen import HelpScreen
from tests.ui.pilot_helpers import ask, wait_for, wait_ready

SIZE = (160, 48)


async def run_palette(pilot, title: str) -> None:
    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), 5, "palette")
    app.screen.query_one(Input).value = title
    await wait_for(pilot, lambda: _top_hit(app) == title, 5, f"hit {title}")
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette), 5, "palette closed")
    await pilot.pause(0.1)


def _top_hit(app) -> str | None:
    from textual.command import CommandList

    try:
        option_list = app.screen.query_one(CommandList)
    except Exception:
        return None
    if option_list.option_count == 0:
        return None
    if option_list.highlighted is None:
        option_list.highlighted = 0
    prompt = option_list.get_option_at_index(option_list.highlighted).prompt
    text = getattr(prompt, "plain", None) or str(prompt)
    return text.splitlines()[0].strip() if text else None


def test_palette_lists_every_app_command(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    titles = {c.title for c in app.palette_commands()}
    for needed in ("Ask with consensus", "Health check now", "Run benchmark", "New conversation",
                   "Switch conversation", "Close position", "Toggle zoom", "Push to talk", "Show keys (help)"):
        assert needed in titles
    for _pane_id, title in PANES:
        assert {f"Focus pane: {title}", f"Zoom pane: {title}", f"Hide pane: {title}"} <= titles
    assert "Theme: nord" in titles


async def test_palette_pane_commands(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        for pane_id, title in PANES:
            await run_palette(pilot, f"Focus pane: {title}")
            assert app.active_pane == pane_id
            assert app.focused is not None and app.query_one(f"#{pane_id}") in app.focused.ancestors_with_self \
                or pane_id in ("gpu",)  # the GPU pane has nothing focusable until cards arrive
            await run_palette(pilot, f"Zoom pane: {title}")
            assert app.zoomed and app.active_pane == pane_id
            await run_palette(pilot, "Toggle zoom")
            assert not app.zoomed
        await run_palette(pilot, "Hide pane: GPU")
        assert app.query_one("#gpu").has_class("-hidden") and app.query_one("#gpu").region.width == 0
        await run_palette(pilot, "Show pane: GPU")
        assert not app.query_one("#gpu").has_class("-hidden")


async def test_palette_theme_help_health_talk_conversations(cluster):
    config, _ = cluster(count=2, reply="ok")
    app = JarvisApp(config, services=frozenset({"voice"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await run_palette(pilot, "Theme: nord")
        assert app.theme == "nord"
        await run_palette(pilot, "Show keys (help)")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await run_palette(pilot, "Health check now")
        await wait_for(pilot, lambda: any("health check: 2/2" in n.message for n in app._notifications), 10)
        await ask(pilot, "hello")
        await run_palette(pilot, "New conversation")
        await wait_for(pilot, lambda: app.conversation_id is None, 5, "new conversation")
        await run_palette(pilot, "Switch conversation")
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen), 5, "conversations")
        assert len(app.screen.conversations) == 1
        await pilot.press("escape")
        await run_palette(pilot, "Push to talk")
        await wait_for(pilot, lambda: "starting" not in app.status_bar.state.voice
                       and app.status_bar.state.voice != app._voice_off_text(), 30, "voice state")


async def test_palette_consensus_fills_the_pane_vote_by_vote(cluster):
    config, nodes = cluster(count=3, reply="Paris")
    config = dataclasses.replace(config, routing={**config.routing, "consensus": ("M2", "OL1", "M3")})
    nodes[2].set(reply="Lyon", first_token_delay_s=0.3)
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        assert app.services.commander is not None, app.services.unavailable
        app.chat.input.load_text("What is the capital of France?")
        await run_palette(pilot, "Ask with consensus")
        assert app.active_pane == "consensus"
        table = app.query_one("#consensus-votes")
        await wait_for(pilot, lambda: "CONFIANCE" in str(app.query_one("#consensus-verdict").render()), 20, "verdict")
        verdict = str(app.query_one("#consensus-verdict").render())
        assert "Paris" in verdict
        assert table.row_count >= 2
        statuses = {table.get_row(key)[2].plain for key in table.rows}  # node, wt, status, ...
        assert "answered" in statuses
        assert app.chat.input.text == ""


async def test_palette_benchmark_shows_progress(cluster):
    config, _ = cluster(count=1, reply="def reverse(s):\n    return s[::-1]")
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await run_palette(pilot, "Run benchmark")
        await wait_for(pilot, lambda: app.query_one("#bench-label").display, 20, "bench progress")
        assert "benchmark" in str(app.query_one("#bench-label").render())
        await pilot.press("escape")
        await pilot.press("q")


async def test_palette_close_position_asks_for_confirmation(cluster, paper_trading, tmp_path):
    config, _ = cluster(count=1)
    service = TradingService(paper_trading, db_path=tmp_path / "jarvis.db")
    app = JarvisApp(config, services=frozenset({"trading"}), provided_services={"trading": service})
    service.bus = app.bus
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        assert app.services.trading is service
        await service.on_quote("BTC/USDT:USDT", 64000.0)
        await service.open_position("BTC/USDT:USDT", "long")
        table = app.query_one("#positions-table")
        await wait_for(pilot, lambda: table.row_count == 2, 5, "position + totals row")
        await run_palette(pilot, "Close position")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # refused: nothing closes
        assert len(service.positions()) == 1
        await run_palette(pilot, "Focus pane: Positions")
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: not service.positions(), 5, "closed")
        await wait_for(pilot, lambda: table.row_count == 0, 5, "table empty")
        assert app.status_bar.state.trading_mode == "PAPER"
