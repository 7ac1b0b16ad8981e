"""The async event bus every face subscribes to.

The bus is in-process and never blocks a publisher: each subscriber owns a
queue.  A subscriber that falls behind either grows its queue (the default, so
headless faces never lose a token) or, with ``maxsize``, drops its oldest
events - the cockpit uses that for high-rate token deltas because the final
text also arrives in ``RequestFinished``.

The event classes live in ``core.events`` (which re-exports the bus): a
publisher with no subscriber never needs them, so ``jarvis --once`` does not
pay for defining them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jarvis_tui.core.events import Event


class Subscription:
    """An async iterator over the events a subscriber asked for."""

    def __init__(self, bus: EventBus, types: tuple[type[Event], ...], maxsize: int) -> None:
        self._bus = bus
        self.types = types
        self.maxsize = maxsize
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.dropped = 0

    def _offer(self, event: Event) -> None:
        if self.types and not isinstance(event, self.types):
            return
        if self.maxsize and self._queue.qsize() >= self.maxsize:
            try:
                self._queue.get_nowait()
                self.dropped += 1
            except asyncio.QueueEmpty:  # pragma: no cover - raced with a reader
                pass
        self._queue.put_nowait(event)

    def get_nowait(self) -> Event | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def get(self) -> Event | None:
        return await self._queue.get()

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._bus._unsubscribe(self)
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, *types: type[Event], maxsize: int = 0) -> Subscription:
        sub = Subscription(self, types, maxsize)
        self._subscriptions.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def publish(self, event: Event) -> None:
        for sub in list(self._subscriptions):
            sub._offer(event)

    def close(self) -> None:
        for sub in list(self._subscriptions):
            sub.close()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)
