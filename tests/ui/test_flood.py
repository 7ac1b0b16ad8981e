"""Five nodes streaming at a high rate: keys are still handled promptly and the UI gets coalesced batches."""

from __future__ import annotations

import asyncio
import time

from jarvis_tui.nodes.base import ChatMessage
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.bridge import coalesce
from jarvis_tui.core.events import RequestFinished, TokenDelta
from tests.ui.pilot_helpers import wait_for, wait_ready

LONG_REPLY = " ".join(f"word{i}" for i in range(3000))


def test_coalesce_merges_deltas_per_request_and_keeps_order():
    events = [TokenDelta(request_id="a", node="A", text="x"), TokenDelta(request_id="b", node="B", text="1"),
              TokenDelta(request_id="a", node="A", text="y"),
              RequestFinished(request_id="a", node="A", model="m", outcome="ok", latency_ms=1.0),
              TokenDelta(request_id="a", node="A", text="late"), TokenDelta(request_id="b", node="B", text="2")]
    out = coalesce(events)
    assert [(type(e).__name__, getattr(e, "text", "")) for e in out] == [
        ("TokenDelta", "xy"), ("TokenDelta", "12"), ("RequestFinished", ""), ("TokenDelta", "late")]


async def test_keys_respond_while_five_nodes_stream(cluster):
    config, nodes = cluster(count=5, reply=LONG_REPLY, tokens_per_s=1000)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_ready(pilot)
        orchestrator = app.orchestrator
        # The chat streams one answer while four more requests stream on the bus at the same time.
        app.chat.input.load_text("stream please")
        await pilot.press("enter")
        others = [asyncio.create_task(orchestrator.dispatch(name, [ChatMessage("user", "go")]))
                  for name in list(orchestrator.nodes)[1:]]
        await wait_for(pilot, lambda: app.chat.pending is not None and len(app.chat.pending.streamed) > 1, 10,
                       "streaming")
        latencies = []
        for key, pane in (("2", "nodes"), ("3", "gpu"), ("4", "consensus"), ("5", "positions"), ("1", "chat")) * 2:
            if key != "1":
                app.set_focus(None)
            started = time.perf_counter()
            await pilot.press(key)
            await wait_for(pilot, lambda p=pane: app.active_pane == p, 2, f"pane {pane}")
            latencies.append(time.perf_counter() - started)
            await pilot.pause(0.05)
        still_streaming = any(not t.done() for t in others)
        await asyncio.gather(*others)
        await wait_for(pilot, lambda: not app.asking, 30, "answer done")
        assert still_streaming, "the keys must have been pressed while the nodes streamed"
        assert max(latencies) < 1.0, latencies
        core = app.pumps[0]
        tokens = sum(n.counters.tokens_sent for n in nodes)
        assert tokens > 5000
        assert core.batches < core.events / 20, (core.batches, core.events)  # coalesced, not one message per token
        assert app.query_one("#chat").query_one(".chat-answer").streamed is not None
        answer = app.query(".chat-answer").last()
        assert answer.body.source == LONG_REPLY
