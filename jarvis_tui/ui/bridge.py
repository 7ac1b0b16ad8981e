"""Bus -> Textual: one worker per subscription, coalesced per frame.

The pump waits for an event.  If it is one of the high-rate kinds (token deltas,
snapshots), it sleeps one frame (``frame_s``, ~40 ms) so a burst accumulates;
any other event (a transcript, a finished request, a vote) goes out at once, a
frame of waiting being pure latency there (~36 ms of the voice release ->
transcript).  Either way it drains the queue and posts ONE ``EventBatch``.  In the batch
adjacent ``TokenDelta``s of a request are merged into one, and high-rate
snapshot events (GPU readings, positions, voice level) keep only the latest,
so five nodes streaming 200 tokens/s each cost the UI ~25 messages per second,
not 1000.  Order between different events is kept: a request's deltas always
arrive before its ``RequestFinished``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from jarvis_tui.core.bus import EventBus, Subscription

if TYPE_CHECKING:
    from jarvis_tui.core.events import Event
    from jarvis_tui.ui.messages import EventBatch

FRAME_S = 0.04


def coalesce(events: Iterable[Event], latest_only: tuple[type[Event], ...] = ()) -> list[Event]:
    """Merge runs of TokenDelta per request and keep only the last of each ``latest_only`` type."""
    from jarvis_tui.core.events import TokenDelta  # the event classes are not needed before the first frame

    out: list[Event] = []
    open_delta: dict[str, int] = {}  # request_id -> index in out of its delta being extended
    for event in events:
        if isinstance(event, TokenDelta):
            index = open_delta.get(event.request_id)
            if index is not None:
                previous = out[index]
                assert isinstance(previous, TokenDelta)
                out[index] = TokenDelta(request_id=previous.request_id, node=previous.node,
                                        text=previous.text + event.text, ts=previous.ts)
            else:
                open_delta[event.request_id] = len(out)
                out.append(event)
            continue
        # Any other event of the request closes its run, so later deltas stay after it.
        request_id = getattr(event, "request_id", None)
        if request_id is not None:
            open_delta.pop(request_id, None)
        out.append(event)
    if latest_only:
        last_index = {}
        for i, event in enumerate(out):
            if isinstance(event, latest_only):
                last_index[type(event)] = i
        out = [e for i, e in enumerate(out) if not isinstance(e, latest_only) or last_index[type(e)] == i]
    return out


class BusPump:
    """Runs inside a Textual worker: subscription -> coalesced ``EventBatch`` messages."""

    def __init__(self, bus: EventBus, types: tuple[type[Event], ...], source: str,
                 post: Callable[[EventBatch], object], *, frame_s: float = FRAME_S,
                 latest_only: tuple[type[Event], ...] = ()) -> None:
        self.subscription: Subscription = bus.subscribe(*types)
        self.source = source
        self.post = post
        self.frame_s = frame_s
        self.latest_only = latest_only
        from jarvis_tui.core.events import TokenDelta  # pumps start after the first frame

        self._bursty = (TokenDelta, *latest_only)  # the kinds worth a frame's wait (see the module docstring)
        self.batches = 0
        self.events = 0

    async def run(self) -> None:
        from jarvis_tui.ui.messages import EventBatch

        sub = self.subscription
        try:
            while True:
                first = await sub.get()
                if first is None:  # the bus closed
                    return
                await asyncio.sleep(self.frame_s if isinstance(first, self._bursty) else 0)
                batch = [first]
                closed = False
                while sub.pending():
                    event = sub.get_nowait()
                    if event is None:
                        closed = True
                        break
                    batch.append(event)
                self.events += len(batch)
                self.batches += 1
                self.post(EventBatch(self.source, coalesce(batch, self.latest_only), sub.dropped))
                if closed:
                    return
        finally:
            sub.close()
