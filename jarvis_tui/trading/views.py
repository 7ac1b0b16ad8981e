"""Frozen views the faces render: positions, balance, signals (standard library only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PositionView:
    id: str
    symbol: str
    side: str  # "long" | "short"
    contracts: float
    contract_size: float
    entry_price: float
    mark_price: float
    mark_ts: float  # wall-clock time of the mark
    stale: bool  # the mark is older than max_price_age_s, or market data is unavailable
    leverage: int
    margin: float
    notional: float  # contracts x contractSize x mark
    liquidation_price: float | None
    tp_price: float | None
    sl_price: float | None
    unrealized_pnl: float
    realized_pnl: float  # net of fees: closed parts' price PnL minus every fee paid
    fees_paid: float
    roe_pct: float  # unrealized PnL / margin x 100
    opened_at: float
    mode: str = "PAPER"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BalanceView:
    mode: str
    balance: float  # free wallet balance (excludes margin held by open positions)
    equity: float  # balance + margin + unrealized PnL
    unrealized_pnl: float
    realized_pnl: float  # net, since the ledger began
    margin_used: float
    open_positions: int
    total_notional: float
    currency: str = "USDT"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SignalView:
    id: str
    symbol: str
    side: str  # "long" | "short"
    score: float  # 0-100
    price: float
    ts: float  # candle close time (seconds)
    breakout: float  # component points, see signals.py
    volume: float
    momentum: float
    actionable: bool  # score >= threshold
    taken: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
