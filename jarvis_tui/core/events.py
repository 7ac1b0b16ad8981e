"""Typed events: what the core, the monitors and the services publish on the bus.

The bus itself lives in ``core.bus`` and is re-exported here, so faces import
both from one place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from jarvis_tui.core.bus import EventBus, Subscription

__all__ = ["ErrorRaised", "Event", "EventBus", "NodeStatusChanged", "RequestFinished", "RequestStarted",
           "Subscription", "TokenDelta", "event_to_dict"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every bus event; ``ts`` is when it was created (time.time())."""

    ts: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStatusChanged(Event):
    """A node went up, down or into cooldown."""

    node: str
    status: str  # "up" | "down" | "cooldown" | "unknown"
    reason: str = ""
    latency_ms: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestStarted(Event):
    """A request was sent to a node."""

    request_id: str
    node: str
    model: str
    task_type: str = ""
    conversation_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenDelta(Event):
    """A piece of streamed answer text from a node."""

    request_id: str
    node: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFinished(Event):
    """A request ended, with its outcome, timings, usage and (when ok) the whole text."""

    request_id: str
    node: str
    model: str
    outcome: str
    latency_ms: float
    ttft_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_per_s: float | None = None
    error: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorRaised(Event):
    """A background part (health monitor, store, ...) hit an error worth showing."""

    source: str
    message: str


def event_to_dict(event: Event) -> dict[str, Any]:
    """Plain dict of an event, for --json and logs (events never carry secrets)."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for name in event.__dataclass_fields__:
        out[name] = getattr(event, name)
    return out
