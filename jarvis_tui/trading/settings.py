"""Settings for the [trading] config table.

Standard library only: the headless face loads every section on each call.

``position_usdt`` is the isolated MARGIN put up per position; the position's
notional is ``position_usdt * leverage`` (10 USDT at 10x controls 100 USDT).
Credentials are never config values: ``api_key_env`` / ``secret_env`` NAME the
environment variables that hold them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

DEFAULT_PAIRS: tuple[str, ...] = tuple(
    f"{base}/USDT:USDT" for base in ("BTC", "ETH", "SOL", "SUI", "PEPE", "DOGE", "XRP", "ADA", "AVAX", "LINK")
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PAIR = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+:[A-Z0-9]+$")
PRICE_SOURCES = ("auto", "websocket", "poll")


@dataclass(frozen=True, slots=True)
class TradingSettings:
    pairs: tuple[str, ...] = DEFAULT_PAIRS
    leverage: int = 10
    position_usdt: float = 10.0  # isolated margin per position
    tp_pct: float = 0.4
    sl_pct: float = 0.25
    signal_threshold: float = 70.0
    slippage_pct: float = 0.02
    poll_s: float = 2.0
    price_source: str = "auto"  # auto: ccxt.pro watch_ticker, falling back to fetch_ticker polling
    ws_retry_s: float = 60.0  # auto: while polling after a WebSocket failure, try the WebSocket again this often
    max_open_positions: int = 5
    max_total_notional_usdt: float = 500.0
    max_price_age_s: float = 10.0
    live_refresh_s: float = 15.0  # LIVE: re-read positions and the account balance from MEXC this often
    auto_trade: bool = False
    auto_trade_live: bool = False  # auto-trade stays paper-only unless this is set too
    # Market data (ccxt's MEXC classes: ~20 MB, ~0.2 s to import) starts with a position, an order or the signals list;
    # true starts the price feed and the signal scanner with the cockpit, so signals appear unasked.
    scan_at_start: bool = False
    paper_start_balance: float = 1000.0
    scan_interval_s: float = 60.0
    timeframe: str = "1m"
    api_key_env: str = "MEXC_API_KEY"
    secret_env: str = "MEXC_SECRET"
    exchange_base_url: str | None = None  # e.g. http://127.0.0.1:PORT for a loopback exchange
    exchange_ws_url: str | None = None
    exchange_timeout_s: float = 10.0
    ledger_path: Path | None = None  # None: the main database (tables are prefixed paper_)
    markets_cache_dir: Path | None = None  # None: $XDG_CACHE_HOME/jarvis-tui
    markets_max_age_s: float = 86_400.0
    recent_signals: int = 50

    def credentials_present(self) -> bool:
        return bool(os.environ.get(self.api_key_env)) and bool(os.environ.get(self.secret_env))


_FLOAT_POSITIVE = ("position_usdt", "tp_pct", "sl_pct", "poll_s", "ws_retry_s", "max_total_notional_usdt",
                   "max_price_age_s", "live_refresh_s", "paper_start_balance", "scan_interval_s", "exchange_timeout_s",
                   "markets_max_age_s")
_KNOWN = set(TradingSettings.__dataclass_fields__)


def parse_trading_section(raw: dict[str, Any], ctx: Any) -> TradingSettings:
    defaults = TradingSettings()
    values: dict[str, Any] = {}
    for key in _FLOAT_POSITIVE:
        values[key] = ctx.positive(raw, key, getattr(defaults, key))
    slippage = ctx.get(raw, "slippage_pct", float, defaults.slippage_pct)
    if slippage < 0 or slippage >= 5:
        raise ctx.error(f"[trading] slippage_pct must be between 0 and 5 (percent), got {slippage:g}", "slippage_pct")
    values["slippage_pct"] = slippage
    threshold = ctx.get(raw, "signal_threshold", float, defaults.signal_threshold)
    if not 0 <= threshold <= 100:
        raise ctx.error(f"[trading] signal_threshold must be between 0 and 100, got {threshold:g}",
                        "signal_threshold")
    values["signal_threshold"] = threshold
    for key in ("leverage", "max_open_positions", "recent_signals"):
        value = ctx.get(raw, key, int, getattr(defaults, key))
        if value <= 0:
            raise ctx.error(f"[trading] {key} must be a positive integer, got {value}", key)
        values[key] = value
    if values["leverage"] > 200:
        raise ctx.error(f"[trading] leverage {values['leverage']} is beyond any MEXC market; use 1-200", "leverage")
    for key in ("auto_trade", "auto_trade_live", "scan_at_start"):
        values[key] = ctx.get(raw, key, bool, getattr(defaults, key))
    pairs = ctx.get(raw, "pairs", list, None)
    if pairs is not None:
        if not pairs or not all(isinstance(p, str) and _PAIR.match(p) for p in pairs):
            raise ctx.error('[trading] pairs must be a list like ["BTC/USDT:USDT", "ETH/USDT:USDT"]', "pairs")
        values["pairs"] = tuple(dict.fromkeys(pairs))
    source = ctx.get(raw, "price_source", str, defaults.price_source)
    if source not in PRICE_SOURCES:
        raise ctx.error(f"[trading] price_source must be one of {', '.join(PRICE_SOURCES)}, got '{source}'",
                        "price_source")
    values["price_source"] = source
    values["timeframe"] = ctx.get(raw, "timeframe", str, defaults.timeframe)
    for key in ("api_key_env", "secret_env"):
        name = ctx.get(raw, key, str, getattr(defaults, key))
        if not _ENV_NAME.match(name):
            # Never echo the value: it may be the pasted secret itself.
            raise ctx.error(f"[trading] {key} must be the NAME of an environment variable (letters, digits, _), "
                            "not the key itself", key)
        values[key] = name
    for key, schemes in (("exchange_base_url", ("http", "https")), ("exchange_ws_url", ("ws", "wss"))):
        url = ctx.get(raw, key, str, None)
        if url is not None:
            parsed = urlparse(url)
            if parsed.scheme not in schemes or not parsed.netloc:
                raise ctx.error(f"[trading] {key} must be a {' or '.join(s + '://' for s in schemes)} URL, "
                                f"got '{url}'", key)
            url = url.rstrip("/")
        values[key] = url
    for key in ("ledger_path", "markets_cache_dir"):
        value = ctx.get(raw, key, str, None)
        if value:
            path = Path(os.path.expandvars(os.path.expanduser(value)))
            config_path = getattr(getattr(ctx, "locator", None), "path", None)
            if not path.is_absolute() and config_path is not None:
                path = Path(config_path).parent / path
            values[key] = path
    ctx.check_unknown(raw, _KNOWN)
    return TradingSettings(**values)
