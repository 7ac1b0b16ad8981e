"""ExchangeGateway: MEXC USDT perpetuals through ccxt's async client.

- ccxt is imported lazily (``import ccxt.async_support`` costs ~1.2 s).
- Markets come from the disk cache or the shipped snapshot and are handed to
  ccxt with ``set_markets``, so ``load_markets`` never goes to the network;
  ``refresh_markets()`` reads the live list once and rewrites the cache.
- Prices: ccxt.pro ``watch_ticker`` where it works, otherwise ``fetch_ticker``
  polling every ``poll_s``.  A network failure flips the state to "market data
  unavailable"; the caller keeps the last marks and shows them stale.
- ``base_url`` / ``ws_url`` point the client at another host (a loopback
  exchange in the tests).
Credentials are handed to ccxt only; this object's repr never shows them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock
from jarvis_tui.trading.guards import Credentials, RedactingLogger
from jarvis_tui.trading.markets import load_market_dicts, write_markets_cache

log = logging.getLogger(__name__)


class ExchangeUnavailable(Exception):
    """The exchange could not be reached (network, timeout, maintenance)."""


class ExchangeRejected(Exception):
    """The exchange answered and refused (bad order, auth, insufficient margin)."""


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str
    price: float
    ts: float  # wall-clock seconds when received
    bid: float | None = None
    ask: float | None = None


@dataclass
class MarketDataState:
    available: bool = False
    source: str = "none"
    reason: str = "market data unavailable: not started"
    last_update_ts: float | None = None


def _ccxt_errors() -> tuple[type[BaseException], type[BaseException]]:
    import ccxt.async_support as ccxt_async

    return ccxt_async.NetworkError, ccxt_async.BaseError


class ExchangeGateway:
    def __init__(self, *, pairs: tuple[str, ...], credentials: Credentials | None = None,
                 base_url: str | None = None, ws_url: str | None = None, timeout_s: float = 10.0,
                 markets_cache_dir: Path | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.pairs = pairs
        self._credentials = credentials
        self.base_url = base_url
        self.ws_url = ws_url
        self.timeout_s = timeout_s
        self.markets_cache_dir = markets_cache_dir
        self.clock = clock
        self.state = MarketDataState()
        self.markets_source = ""
        self._client: Any = None
        self._ws_client: Any = None

    def __repr__(self) -> str:
        return f"ExchangeGateway(mexc swap, base_url={self.base_url or 'default'}, keys={'yes' if self._credentials else 'no'})"

    # ------------------------------------------------------------ clients
    def _configure(self, client: Any) -> Any:
        if self.base_url:
            client.urls["api"]["contract"]["public"] = f"{self.base_url}/api/v1/contract"
            client.urls["api"]["contract"]["private"] = f"{self.base_url}/api/v1/private"
        if self.ws_url and "ws" in client.urls["api"]:
            client.urls["api"]["ws"]["swap"] = self.ws_url
        return client

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"options": {"defaultType": "swap"}, "timeout": int(self.timeout_s * 1000),
                                   "enableRateLimit": True}
        if self._credentials is not None:
            options["apiKey"] = self._credentials.api_key
            options["secret"] = self._credentials.secret
            options["logger"] = RedactingLogger(logging.getLogger("jarvis_tui.trading.ccxt"),
                                                (self._credentials.api_key, self._credentials.secret))
        return options

    @property
    def client(self) -> Any:
        if self._client is None:
            import ccxt.async_support as ccxt_async

            markets, self.markets_source = load_market_dicts(self.markets_cache_dir)
            client = self._configure(ccxt_async.mexc(self._options()))
            client.set_markets(markets)
            self._client = client
        return self._client

    async def close(self) -> None:
        for attr in ("_client", "_ws_client"):
            client = getattr(self, attr)
            if client is not None:
                try:
                    await client.close()
                except Exception:  # closing a half-open session must not mask the real outcome
                    pass
                setattr(self, attr, None)

    # ------------------------------------------------------------ markets
    async def refresh_markets(self) -> int:
        """Read the live swap markets once, hand them to ccxt and rewrite the disk cache."""
        import ccxt.async_support as ccxt_async

        network_error, _ = _ccxt_errors()
        client = self.client
        # MEXC weighs contract/detail at 100 requests; a throwaway client keeps that debt off the
        # price client's rate limiter, so tickers are not held up ~5 s behind it.
        loader = self._configure(ccxt_async.mexc(self._options()))
        try:
            parsed = await loader.fetch_swap_markets()
        except network_error as exc:
            raise ExchangeUnavailable(f"markets: {type(exc).__name__}") from None
        finally:
            await loader.close()
        client.set_markets(parsed)
        swap = {symbol: market for symbol, market in client.markets.items() if market.get("swap")}
        write_markets_cache(swap, self.markets_cache_dir)
        self.markets_source = "live"
        return len(swap)

    # ------------------------------------------------------------ prices
    def _mark_unavailable(self, reason: str) -> None:
        self.state.available = False
        self.state.reason = f"market data unavailable: {reason}"

    def _mark_available(self, source: str) -> None:
        self.state.available = True
        self.state.source = source
        self.state.reason = ""
        self.state.last_update_ts = self.clock.time()

    async def fetch_quote(self, symbol: str) -> Quote:
        network_error, base_error = _ccxt_errors()
        try:
            ticker = await self.client.fetch_ticker(symbol)
        except network_error as exc:
            self._mark_unavailable(f"{type(exc).__name__} reaching MEXC")
            raise ExchangeUnavailable(self.state.reason) from None
        except base_error as exc:
            raise ExchangeRejected(f"{type(exc).__name__}: {exc}") from None
        price = ticker.get("last") or ticker.get("close")
        if not price:
            raise ExchangeRejected(f"ticker for {symbol} has no last price")
        self._mark_available("poll")
        return Quote(symbol, float(price), self.clock.time(), ticker.get("bid"), ticker.get("ask"))

    async def poll_once(self) -> list[Quote]:
        results = await asyncio.gather(*(self.fetch_quote(p) for p in self.pairs), return_exceptions=True)
        quotes = [r for r in results if isinstance(r, Quote)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and not quotes:
            if not isinstance(errors[0], (ExchangeUnavailable, ExchangeRejected)):
                raise errors[0]
            self._mark_unavailable(str(errors[0]).removeprefix("market data unavailable: "))
        return quotes

    async def _watch(self, on_quote: Callable[[Quote], Awaitable[object]]) -> None:
        import ccxt.pro as ccxt_pro

        if self._ws_client is None:
            self._ws_client = self._configure(ccxt_pro.mexc(self._options()))
            self._ws_client.set_markets(self.client.markets)

        async def one(symbol: str) -> None:
            while True:
                ticker = await self._ws_client.watch_ticker(symbol)
                price = ticker.get("last") or ticker.get("close")
                if price:
                    self._mark_available("websocket")
                    await on_quote(Quote(symbol, float(price), self.clock.time(), ticker.get("bid"),
                                         ticker.get("ask")))

        await asyncio.gather(*(one(p) for p in self.pairs))

    async def run_price_feed(self, on_quote: Callable[[Quote], Awaitable[object]], *, poll_s: float,
                             source: str = "auto",
                             on_status: Callable[[MarketDataState], object] | None = None,
                             sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """Forever: websocket when it works, polling otherwise; status changes go to ``on_status``."""
        network_error, base_error = _ccxt_errors()
        if source in ("auto", "websocket"):
            try:
                await self._watch(on_quote)
            except asyncio.CancelledError:
                raise
            except (network_error, base_error, OSError) as exc:
                log.info("watch_ticker unavailable (%s); polling fetch_ticker every %ss", type(exc).__name__, poll_s)
                if self._ws_client is not None:
                    try:
                        await self._ws_client.close()
                    except Exception:
                        pass
                    self._ws_client = None
                if source == "websocket":
                    self._mark_unavailable(f"websocket failed ({type(exc).__name__})")
                    if on_status:
                        on_status(self.state)
                    return
        previous = None
        while True:
            quotes = await self.poll_once()
            for quote in quotes:
                await on_quote(quote)
            if on_status and (self.state.available, self.state.reason) != previous:
                previous = (self.state.available, self.state.reason)
                on_status(self.state)
            await sleep(poll_s)

    async def fetch_ohlcv(self, symbol: str, timeframe: str = "1m", limit: int = 100) -> list[tuple]:
        network_error, base_error = _ccxt_errors()
        try:
            rows = await self.client.fetch_ohlcv(symbol, timeframe, limit=limit)
        except network_error as exc:
            raise ExchangeUnavailable(f"{type(exc).__name__} fetching candles") from None
        except base_error as exc:
            raise ExchangeRejected(f"{type(exc).__name__}: {exc}") from None
        return [tuple(float(v) for v in row) for row in rows]

    # ------------------------------------------------------------ private (live mode)
    def _require_keys(self) -> None:
        if self._credentials is None:
            raise ExchangeRejected("no API credentials loaded")

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A ccxt call with errors mapped to ExchangeUnavailable / ExchangeRejected (never echoing headers)."""
        network_error, base_error = _ccxt_errors()
        try:
            return await getattr(self.client, method)(*args, **kwargs)
        except network_error as exc:
            raise ExchangeUnavailable(f"{method}: {type(exc).__name__}") from None
        except base_error as exc:
            raise ExchangeRejected(f"{method}: {type(exc).__name__}: {_first_line(exc)}") from None

    async def fetch_order_by_client_id(self, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        """MEXC's GET order/external/{symbol}/{external_oid}: the retry check for idempotent orders."""
        market = self.client.market(symbol)
        try:
            response = await self.call("contractPrivateGetOrderExternalSymbolExternalOid",
                                       {"symbol": market["id"], "external_oid": client_order_id})
        except ExchangeRejected:
            return None
        data = response.get("data") if isinstance(response, dict) else None
        if not data:
            return None
        return self.client.parse_order(data, market)


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
