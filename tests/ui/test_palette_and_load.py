"""Every palette command through the real Ctrl+P palette, and keys under a five-node stream."""

from __future__ import annotations

import asyncio
import time

import pytest

from jarvis_tui.ui.app import PANE_IDS, JarvisApp
from jarvis_tui.ui.chat_pane import AnswerEntry
from tests.ui.pilot_helpers import wait_for, wait_ready

SIZE = (160, 48)
KEY_BOUND_S = 1.0
PANE_KEYS = {str(number): pane_id for number, pane_id in enumerate(PANE_IDS, 1)}


async def run_palette(pilot, query: str) -> None:  # type: ignore[no-untyped-def]
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), 5, "palette")
    for char in query:
        await pilot.press(char if char != " " else "space")
    await pilot.pause(0.4)  # the providers search in workers
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, CommandPalette), 5, "palette closed")
    await pilot.pause(0.1)


def notifications(app: JarvisApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_palette_pane_commands_focus_zoom_and_hide(cluster):
    config, _ = cluster(count=2)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await run_palette(pilot, "focus pane gpu")
        assert app.active_pane == "gpu"
        await run_palette(pilot, "zoom pane nodes")
        assert app.active_pane == "nodes" and app.zoomed
        await run_palette(pilot, "toggle zoom")
        assert not app.zoomed
        await run_palette(pilot, "hide pane positions")
        assert "positions" in app.hidden_panes
        await run_palette(pilot, "show pane positions")
        assert "positions" not in app.hidden_panes


async def test_palette_theme_health_and_help(cluster):
    config, _ = cluster(count=2)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await run_palette(pilot, "theme: nord")
        assert app.theme == "nord"
        await run_palette(pilot, "health check now")
        await wait_for(pilot, lambda: any("health check: 2/2 nodes up" in m for m in notifications(app)), 10,
                       "health notification")
        await run_palette(pilot, "show keys")
        assert type(app.screen).__name__ == "HelpScreen"


async def test_palette_conversations(cluster):
    config, _ = cluster(count=1, reply="noted")
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        app.chat.input.load_text("first question")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.query(AnswerEntry)) == 1 and not app.asking, 10, "answer")
        await pilot.press("escape")
        await run_palette(pilot, "new conversation")
        await wait_for(pilot, lambda: len(app.query(AnswerEntry)) == 0, 5, "empty chat")
        await run_palette(pilot, "switch conversation")
        assert type(app.screen).__name__ == "ConversationsScreen"


async def test_palette_consensus_fills_the_votes_table(cluster):
    config, _ = cluster(count=3, reply="The answer is 4.")
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await wait_for(pilot, lambda: app.services.commander is not None, 10, "commander")
        app.chat.input.load_text("What is 2+2?")
        await pilot.press("escape")
        await run_palette(pilot, "ask with consensus")
        table = app.query_one("#consensus-votes")
        await wait_for(pilot, lambda: table.row_count == 3, 15, "three votes")
        await wait_for(pilot, lambda: "CONFIANCE" in str(app.query_one("#consensus-verdict").render()), 15, "verdict")
        assert "4" in str(app.query_one("#consensus-verdict").render())
        # the verdict is also the chat's answer to the question
        await wait_for(pilot, lambda: not app.asking, 10, "the chat answer")
        assert app.query(AnswerEntry).last().streamed == ["The answer is 4."]


async def test_palette_close_position_and_benchmark_without_their_services_say_why(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await run_palette(pilot, "close position")
        await run_palette(pilot, "run benchmark")
        messages = notifications(app)
        assert any(m.startswith("Trading is unavailable") for m in messages)
        assert any(m.startswith("The benchmark is unavailable") for m in messages)
        assert app.is_running


@pytest.mark.slow
async def test_keys_stay_responsive_while_five_nodes_stream(cluster):
    reply = " ".join(f"token{i}" for i in range(4000))  # 20 s at 200 tokens/s
    config, nodes = cluster(count=5, reply=reply, tokens_per_s=200)
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await wait_for(pilot, lambda: app.services.commander is not None, 10, "commander")
        app.chat.input.load_text("stream please")
        await pilot.press("escape")
        await run_palette(pilot, "ask with consensus")  # all five nodes stream at once
        await wait_for(pilot, lambda: sum(n.counters.tokens_sent for n in nodes) > 100, 10, "streams started")
        latencies = []
        for number in "2345" * 2 + "1":  # 1 last: on the chat pane the input has focus and takes digits
            latencies.append(await _time_to_effect(pilot, number, lambda n=number: app.active_pane == PANE_KEYS[n]))
        print("key-to-pane-switch under load (s):", " ".join(f"{t:.3f}" for t in latencies))
        # The five servers are threads of this test process and share its GIL (and CI has two cores): the
        # bound is over ten times the worst measured here (~0.075 s); bench/ holds keys to the 50 ms target.
        assert max(latencies) < KEY_BOUND_S, f"a key took {max(latencies):.2f}s under load: {latencies}"
        assert sum(n.counters.tokens_sent for n in nodes) < 5 * 4000  # still streaming while keys were handled


async def _time_to_effect(pilot, key: str, took_effect) -> float:  # type: ignore[no-untyped-def]
    """Seconds from pressing ``key`` to ``took_effect()``; fails if it never does.

    ``pilot.press`` itself cannot be timed: it also waits for the process to go idle (up to 1 s, twice),
    which five in-process streams never let it do, so it would measure that cap, not the key.
    """
    started = time.perf_counter()
    press = asyncio.ensure_future(pilot.press(key))
    try:
        while not took_effect():
            if time.perf_counter() - started > 10:
                raise AssertionError(f"key {key} never took effect")
            await asyncio.sleep(0.005)
        return time.perf_counter() - started
    finally:
        await press
