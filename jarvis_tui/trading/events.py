"""Trading events on the core bus; the cockpit renders them, headless faces print them.

Payloads are frozen views (tuples of frozen dataclasses), never live engine
objects, so a widget can keep one without racing the engine.  They never carry
credentials.
"""

from __future__ import annotations

from dataclasses import dataclass

from jarvis_tui.core.events import Event
from jarvis_tui.trading.views import BalanceView, PositionView, SignalView


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionsUpdated(Event):
    mode: str  # "PAPER" | "LIVE"
    positions: tuple[PositionView, ...]
    balance: BalanceView


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalsUpdated(Event):
    recent: tuple[SignalView, ...]  # newest first: signals at or above the threshold
    latest: tuple[SignalView, ...]  # the current score of every pair
    threshold: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketDataStatus(Event):
    available: bool
    source: str  # "websocket" | "poll" | "replay" | "none"
    reason: str = ""  # "market data unavailable: ..." when not available
    last_update_ts: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionClosed(Event):
    mode: str
    position_id: str
    symbol: str
    side: str
    reason: str  # "tp" | "sl" | "liquidation" | "manual" | "kill" | "protective-failed"
    price: float
    net_pnl: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TradingModeChanged(Event):
    mode: str
    reason: str = ""
