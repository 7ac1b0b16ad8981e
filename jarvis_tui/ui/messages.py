"""Textual messages the cockpit's workers post to the app.

Workers never touch widgets: they turn bus events and finished background work
into these messages, and the app's handlers (which own the state) update the
widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from jarvis_tui.core.events import Event


@dataclass
class EventBatch(Message):
    """Everything one bus subscription delivered during one frame, coalesced and in order."""

    source: str
    events: list[Event] = field(default_factory=list)
    dropped: int = 0


@dataclass
class CoreReady(Message):
    """The orchestrator started: nodes are known and the store is open."""

    orchestrator: Any
    services: Any


@dataclass
class CoreFailed(Message):
    """The orchestrator could not start (no node and no embedded node, or the database failed)."""

    message: str


@dataclass
class AskRouted(Message):
    """A chat prompt is about to be dispatched in this conversation."""

    conversation_id: int | None
    prompt: str


@dataclass
class AskCompleted(Message):
    result: Any  # core.orchestrator.AskResult


@dataclass
class AskFailed(Message):
    message: str
    cancelled: bool = False


@dataclass
class ConversationsLoaded(Message):
    conversations: list[Any]  # store.ConversationSummary


@dataclass
class ConversationLoaded(Message):
    conversation_id: int
    messages: list[Any]  # store.StoredMessage


@dataclass
class ActionDone(Message):
    """A background action (health check, benchmark, close position...) finished; ``text`` is one line."""

    text: str
    severity: str = "information"
