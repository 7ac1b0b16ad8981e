"""The event bus: typed filtering, no blocking publishers, bounded subscribers."""

from __future__ import annotations

import asyncio

from jarvis_tui.core.events import EventBus, NodeStatusChanged, TokenDelta, event_to_dict


async def test_subscribers_get_only_their_types_in_order() -> None:
    bus = EventBus()
    tokens = bus.subscribe(TokenDelta)
    everything = bus.subscribe()
    bus.publish(NodeStatusChanged(node="A", status="up"))
    for i in range(3):
        bus.publish(TokenDelta(request_id="r", node="A", text=str(i)))
    assert [e.text for e in (tokens.get_nowait(), tokens.get_nowait(), tokens.get_nowait())] == ["0", "1", "2"]
    assert tokens.get_nowait() is None
    assert everything.pending() == 4


async def test_bounded_subscriber_drops_oldest_and_counts() -> None:
    bus = EventBus()
    sub = bus.subscribe(TokenDelta, maxsize=2)
    for i in range(5):
        bus.publish(TokenDelta(request_id="r", node="A", text=str(i)))
    assert sub.dropped == 3
    assert [sub.get_nowait().text, sub.get_nowait().text] == ["3", "4"]


async def test_close_ends_async_iteration() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    received: list[str] = []

    async def reader() -> None:
        async for event in sub:
            received.append(event.node)

    task = asyncio.create_task(reader())
    bus.publish(NodeStatusChanged(node="A", status="up"))
    await asyncio.sleep(0)
    bus.close()
    await asyncio.wait_for(task, 1)
    assert received == ["A"] and bus.subscriber_count == 0


def test_event_to_dict_names_the_type() -> None:
    data = event_to_dict(NodeStatusChanged(node="A", status="down", reason="refused"))
    assert data["type"] == "NodeStatusChanged" and data["reason"] == "refused"
