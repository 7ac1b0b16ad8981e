"""Market specs (contract size, ticks, fees) from ccxt's parsed MEXC markets.

Standard library only, so the paper engine and ``jarvis trade status`` work
without importing ccxt.  Markets come from, in order: the on-disk cache written
after a live load ($XDG_CACHE_HOME/jarvis-tui/mexc_swap_markets.json), then the
shipped snapshot data/markets/mexc_swap.json (regenerate it with
``python -m jarvis_tui.trading.snapshot``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from pathlib import Path
from typing import Any

from jarvis_tui.paths import data_file

SNAPSHOT_NAME = "markets/mexc_swap.json"
CACHE_NAME = "mexc_swap_markets.json"


class MarketsError(Exception):
    """The markets file is missing, unreadable or lacks a configured pair."""


@dataclass(frozen=True, slots=True)
class MarketSpec:
    symbol: str  # unified ccxt symbol, e.g. BTC/USDT:USDT
    id: str  # exchange id, e.g. BTC_USDT
    contract_size: float
    price_tick: float
    amount_tick: float
    min_amount: float
    max_amount: float | None
    taker_fee: float
    maker_fee: float
    maintenance_margin_rate: float
    max_leverage: float | None
    active: bool = True

    @classmethod
    def from_ccxt(cls, market: dict[str, Any]) -> MarketSpec:
        info = market.get("info") or {}
        limits = market.get("limits") or {}
        amount_limits = limits.get("amount") or {}
        precision = market.get("precision") or {}
        return cls(
            symbol=market["symbol"],
            id=market["id"],
            contract_size=float(market.get("contractSize") or 1.0),
            price_tick=float(precision["price"]),
            amount_tick=float(precision.get("amount") or 1.0),
            min_amount=float(amount_limits.get("min") or precision.get("amount") or 1.0),
            max_amount=float(amount_limits["max"]) if amount_limits.get("max") else None,
            taker_fee=float(market.get("taker") or 0.0),
            maker_fee=float(market.get("maker") or 0.0),
            maintenance_margin_rate=float(info.get("maintenanceMarginRate") or 0.005),
            max_leverage=float((limits.get("leverage") or {}).get("max") or 0) or None,
            active=bool(market.get("active", True)),
        )

    # Rounding goes through Decimal so that 0.1-style ticks give exact multiples.
    def amount_floor(self, contracts: float) -> float:
        return _to_tick(contracts, self.amount_tick, ROUND_DOWN)

    def price_round(self, price: float) -> float:
        return _to_tick(price, self.price_tick, ROUND_HALF_UP)

    def price_up(self, price: float) -> float:
        return _to_tick(price, self.price_tick, ROUND_UP)

    def price_down(self, price: float) -> float:
        return _to_tick(price, self.price_tick, ROUND_DOWN)

    def notional(self, contracts: float, price: float) -> float:
        """contracts x contractSize x price: ccxt's calculate_fee ignores the contract size."""
        return contracts * self.contract_size * price


def _to_tick(value: float, tick: float, rounding: str) -> float:
    step = Decimal(repr(tick))
    units = (Decimal(repr(value)) / step).quantize(Decimal(1), rounding=rounding)
    return float(units * step)


def snapshot_path() -> Path:
    return data_file(SNAPSHOT_NAME)


def snapshot_note() -> str:
    """How to read the shipped snapshot: 'representative, not live' unless `snapshot --live` rewrote it."""
    try:
        provenance = json.loads(snapshot_path().read_text("utf-8")).get("provenance") or {}
    except (OSError, ValueError, AttributeError):
        provenance = {}
    if provenance.get("live"):
        return f"read from MEXC {provenance.get('fetched_at') or ''}".strip()
    return "representative, not live"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "jarvis-tui"


def cache_path(cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / CACHE_NAME


def read_markets_file(path: Path) -> dict[str, dict[str, Any]]:
    """ccxt market dicts by unified symbol."""
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise MarketsError(f"markets file {path} not found") from None
    except (OSError, ValueError) as exc:
        raise MarketsError(f"markets file {path} is unreadable: {exc}") from None
    markets = raw.get("markets", raw) if isinstance(raw, dict) else None
    if isinstance(markets, list):
        markets = {m["symbol"]: m for m in markets if isinstance(m, dict) and "symbol" in m}
    if not isinstance(markets, dict) or not markets:
        raise MarketsError(f"markets file {path} holds no markets")
    return markets


def write_markets_cache(markets: dict[str, dict[str, Any]], cache_dir: Path | None = None) -> Path:
    path = cache_path(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"saved_at": time.time(), "markets": markets}, sort_keys=True), "utf-8")
    tmp.replace(path)
    return path


def cache_age_s(cache_dir: Path | None = None) -> float | None:
    try:
        return time.time() - cache_path(cache_dir).stat().st_mtime
    except OSError:
        return None


def load_market_dicts(cache_dir: Path | None = None) -> tuple[dict[str, dict[str, Any]], str]:
    """(markets, source) where source is 'cache' or 'snapshot'."""
    cached = cache_path(cache_dir)
    if cached.exists():
        try:
            return read_markets_file(cached), "cache"
        except MarketsError:
            pass  # a damaged cache falls back to the shipped snapshot
    return read_markets_file(snapshot_path()), "snapshot"


def market_specs(markets: dict[str, dict[str, Any]], pairs: tuple[str, ...] | list[str]) -> dict[str, MarketSpec]:
    specs: dict[str, MarketSpec] = {}
    missing = [p for p in pairs if p not in markets]
    if missing:
        raise MarketsError(f"no MEXC swap market for {', '.join(missing)}; check [trading] pairs")
    for pair in pairs:
        specs[pair] = MarketSpec.from_ccxt(markets[pair])
    return specs
