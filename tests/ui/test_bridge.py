"""The bus -> Textual pump: bursts of deltas coalesce into one batch a frame; other events go out at once."""

from __future__ import annotations

import asyncio
import time

from jarvis_tui.core.events import EventBus, NodeStatusChanged, RequestStarted, TokenDelta
from jarvis_tui.ui.bridge import BusPump
from jarvis_tui.ui.messages import EventBatch

FRAME_S = 0.3  # long, so a wait of one frame cannot pass for no wait


async def _pump(latest_only: tuple = ()) -> tuple[EventBus, list[tuple[float, EventBatch]], asyncio.Task[None]]:
    bus = EventBus()
    posted: list[tuple[float, EventBatch]] = []
    pump = BusPump(bus, (NodeStatusChanged, RequestStarted, TokenDelta), "core",
                   lambda batch: posted.append((time.perf_counter(), batch)), frame_s=FRAME_S, latest_only=latest_only)
    return bus, posted, asyncio.create_task(pump.run())


async def _first_batch(posted: list[tuple[float, EventBatch]], task: asyncio.Task[None]) -> tuple[float, EventBatch]:
    while not posted:
        await asyncio.sleep(0.005)
    task.cancel()
    return posted[0]


async def test_a_burst_of_deltas_waits_one_frame_and_arrives_merged():
    bus, posted, task = await _pump()
    started = time.perf_counter()
    for word in ("one ", "two ", "three"):
        bus.publish(TokenDelta(request_id="r1", node="M1", text=word))
        await asyncio.sleep(0.01)
    at, batch = await _first_batch(posted, task)
    assert at - started >= FRAME_S * 0.9
    assert [e.text for e in batch.events] == ["one two three"]


async def test_an_event_that_is_not_a_burst_goes_out_without_waiting_a_frame():
    bus, posted, task = await _pump()
    started = time.perf_counter()
    bus.publish(RequestStarted(request_id="r1", node="M1", model="m"))
    bus.publish(TokenDelta(request_id="r1", node="M1", text="already queued"))
    at, batch = await _first_batch(posted, task)
    assert at - started < FRAME_S / 2
    assert [type(e).__name__ for e in batch.events] == ["RequestStarted", "TokenDelta"]  # order kept


async def test_snapshot_kinds_wait_a_frame_and_keep_only_the_latest():
    bus, posted, task = await _pump(latest_only=(NodeStatusChanged,))
    started = time.perf_counter()
    for status in ("up", "down", "cooldown"):
        bus.publish(NodeStatusChanged(node="M1", status=status))
    at, batch = await _first_batch(posted, task)
    assert at - started >= FRAME_S * 0.9
    assert [e.status for e in batch.events] == ["cooldown"]
