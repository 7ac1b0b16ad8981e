"""ExchangeGateway: MEXC USDT perpetuals through ccxt's async client.

- ccxt is imported lazily, and only the MEXC classes of it (ccxt_lazy: the whole package is
  ~75 MB and ~0.6 s, MEXC alone ~19 MB and ~0.2 s).
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
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock
from jarvis_tui.trading import ccxt_lazy
from jarvis_tui.trading.guards import Credentials, RedactingLogger
from jarvis_tui.trading.markets import load_market_dicts, write_markets_cache

log = logging.getLogger(__name__)


class ExchangeUnavailable(Exception):
    """The exchange could not be reached (network, timeout, maintenance)."""


class ExchangeRejected(Exception):
    """The exchange answered and refused (bad order, auth, insufficient margin)."""


class WebSocketStalled(Exception):
    """The ticker stream stayed open but delivered nothing for too long."""


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str
    price: float
    ts: float  # wall-clock seconds when received
    bid: float | None = None
    ask: float | None = None


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """One currency of the MEXC swap account (``GET /api/v1/private/account/assets``)."""

    currency: str
    available: float  # availableBalance: free for new margin
    equity: float  # cashBalance + unrealized PnL
    position_margin: float  # positionMargin: held by open positions
    frozen: float  # frozenBalance: held by open orders
    unrealized_pnl: float
    cash: float  # cashBalance: the wallet


@dataclass
class MarketDataState:
    available: bool = False
    source: str = "none"
    reason: str = "market data unavailable: not started"
    last_update_ts: float | None = None


def _ccxt_errors() -> tuple[type[BaseException], type[BaseException]]:
    ccxt_async = ccxt_lazy.async_support()

    return ccxt_async.NetworkError, ccxt_async.BaseError


class ExchangeGateway:
    def __init__(self, *, pairs: tuple[str, ...], credentials: Credentials | None = None,
                 base_url: str | None = None, ws_url: str | None = None, timeout_s: float = 10.0,
                 markets_cache_dir: Path | None = None, clock: Clock = SYSTEM_CLOCK,
                 ws_keepalive_s: float | None = None) -> None:
        self.pairs = pairs
        self._credentials = credentials
        self.base_url = base_url
        self.ws_url = ws_url
        self.timeout_s = timeout_s
        self.markets_cache_dir = markets_cache_dir
        self.clock = clock
        self.state = MarketDataState()
        self.markets_source = ""
        self.ws_keepalive_s = ws_keepalive_s  # None: ccxt's MEXC default (a ping every 8 s)
        self._client: Any = None
        self._ws_client: Any = None
        self._reported: tuple[bool, str, str] | None = None

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
            ccxt_async = ccxt_lazy.async_support()

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
        ccxt_async = ccxt_lazy.async_support()

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

    def _report(self, on_status: Callable[[MarketDataState], object] | None) -> None:
        """Tell ``on_status`` when availability, source or reason changed since the last report."""
        now = (self.state.available, self.state.source, self.state.reason)
        if on_status is not None and now != self._reported:
            self._reported = now
            on_status(self.state)

    def _ws_options(self) -> dict[str, Any]:
        options = self._options()
        if self.ws_keepalive_s is not None:
            options["streaming"] = {"keepAlive": int(self.ws_keepalive_s * 1000)}
        return options

    async def _close_ws(self) -> None:
        if self._ws_client is not None:
            client, self._ws_client = self._ws_client, None
            try:
                await client.close()
            except Exception:  # a half-open socket must not mask why the stream ended
                pass

    async def _watch(self, on_quote: Callable[[Quote], Awaitable[object]], *, stall_s: float | None = None,
                     on_status: Callable[[MarketDataState], object] | None = None) -> None:
        """ccxt.pro ``watch_ticker`` for every pair until the stream fails.

        Raises the ccxt NetworkError of a refused, closed or timed-out connection (a missed pong is
        ccxt's RequestTimeout), or ``WebSocketStalled`` when a pair gets no push for ``stall_s``.
        """
        ccxt_pro = ccxt_lazy.pro()

        if self._ws_client is None:
            self._ws_client = self._configure(ccxt_pro.mexc(self._ws_options()))
            self._ws_client.set_markets(self.client.markets)
        ws_client = self._ws_client

        async def one(symbol: str) -> None:
            while True:
                try:
                    ticker = await asyncio.wait_for(ws_client.watch_ticker(symbol), stall_s)
                except TimeoutError:
                    raise WebSocketStalled(f"no {symbol} ticker push for {stall_s:g}s") from None
                price = ticker.get("last") or ticker.get("close")
                if price:
                    self._mark_available("websocket")
                    self._report(on_status)
                    await on_quote(Quote(symbol, float(price), self.clock.time(), ticker.get("bid"),
                                         ticker.get("ask")))

        tasks = [asyncio.create_task(one(p), name=f"watch-ticker-{p}") for p in self.pairs]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.cancelled():  # ccxt cancels its futures when the client is closed under us
                    raise WebSocketStalled("the ticker stream was closed")
                task.result()  # re-raises the first failure
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run_price_feed(self, on_quote: Callable[[Quote], Awaitable[object]], *, poll_s: float,
                             source: str = "auto",
                             on_status: Callable[[MarketDataState], object] | None = None,
                             sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                             ws_retry_s: float = 60.0, stall_s: float | None = None) -> None:
        """Forever: the WebSocket when it works, polling otherwise; status changes go to ``on_status``.

        ``auto``: ccxt.pro ``watch_ticker``; when the stream fails (refused, closed, missed pongs, or
        silent for ``stall_s``), ``fetch_ticker`` every ``poll_s``, and the WebSocket is tried again
        every ``ws_retry_s``.  ``websocket``: the stream only; a failure marks the data unavailable
        and returns.  ``poll``: polling only.  When polling fails too, the state says "market data
        unavailable".
        """
        network_error, base_error = _ccxt_errors()
        self._reported = None
        while True:
            if source in ("auto", "websocket"):
                try:
                    await self._watch(on_quote, stall_s=stall_s, on_status=on_status)
                except asyncio.CancelledError:
                    await self._close_ws()
                    raise
                except (network_error, base_error, OSError, WebSocketStalled) as exc:
                    why = _first_line(exc) if isinstance(exc, WebSocketStalled) else type(exc).__name__
                    await self._close_ws()
                    if source == "websocket":
                        self._mark_unavailable(f"websocket failed ({why})")
                        self._report(on_status)
                        return
                    log.info("watch_ticker failed (%s); polling fetch_ticker every %ss, websocket retried in %ss",
                             why, poll_s, ws_retry_s)
            started = self.clock.monotonic()
            while True:
                quotes = await self.poll_once()
                for quote in quotes:
                    await on_quote(quote)
                self._report(on_status)
                if source == "auto" and self.clock.monotonic() - started >= ws_retry_s:
                    break
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

    async def fetch_account_balance(self, currency: str = "USDT") -> AccountBalance:
        """The swap account's balance through ccxt ``fetch_balance`` (MEXC ``account/assets``).

        ccxt's unified balance keeps only free / used; equity, position margin and unrealized PnL come
        from the raw asset row it carries in ``info``.  An account that lists no such currency holds 0.
        """
        self._require_keys()
        balance = await self.call("fetch_balance")
        rows = (balance.get("info") or {}).get("data") or []
        row = next((r for r in rows if isinstance(r, dict) and r.get("currency") == currency), None)
        if row is None:
            return AccountBalance(currency, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

        def num(key: str) -> float:
            try:
                return float(row.get(key) or 0.0)
            except (TypeError, ValueError):
                raise ExchangeRejected(f"fetch_balance: MEXC sent a non-numeric {key}") from None

        unified = balance.get(currency) or {}
        available = float(unified["free"]) if unified.get("free") is not None else num("availableBalance")
        return AccountBalance(currency=currency, available=available, equity=num("equity"),
                              position_margin=num("positionMargin"), frozen=num("frozenBalance"),
                              unrealized_pnl=num("unrealized"), cash=num("cashBalance"))

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

    async def fetch_open_plan_orders(self, symbol: str) -> list[dict[str, Any]]:
        """MEXC's GET planorder/list/orders (states=1: untriggered) for one contract, as MEXC's raw rows.

        Raw, not ccxt's ``fetch_open_orders(params={"trigger": True})``: ccxt's ``parse_order`` takes the id
        from ``orderId``, which on a plan row is the order created *when it triggers* (0 until then), and
        leaves the side as MEXC's integer.
        """
        market = self.client.market(symbol)
        response = await self.call("contractPrivateGetPlanorderListOrders",
                                   {"symbol": market["id"], "states": "1", "page_num": 1, "page_size": 100})
        data = response.get("data") if isinstance(response, dict) else None
        return [row for row in data or [] if isinstance(row, dict)]

    async def find_open_plan_order(self, symbol: str, *, side: int, amount: float, trigger_price: float,
                                   trigger_type: int, exclude: Collection[str] = ()) -> dict[str, Any] | None:
        """The untriggered plan order with this MEXC side, trigger type, trigger price and volume, if any.

        The retry check for trigger orders: MEXC's plan-order list carries no externalOid and there is no
        plan-order lookup by it, so a placement whose reply was lost is recognised by what it orders.  Prices
        and volumes are compared at the market's precision; ids in ``exclude`` (orders that were open before
        the first attempt) never match.
        """
        client = self.client
        want = (side, trigger_type, client.price_to_precision(symbol, trigger_price),
                client.amount_to_precision(symbol, amount))
        for row in await self.fetch_open_plan_orders(symbol):
            try:
                seen = (int(row["side"]), int(row["triggerType"]),
                        client.price_to_precision(symbol, float(row["triggerPrice"])),
                        client.amount_to_precision(symbol, float(row["vol"])))
                untriggered = int(row.get("state", 1)) == 1
            except (KeyError, TypeError, ValueError):
                continue
            if seen == want and untriggered and str(row.get("id")) not in exclude:
                return row
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
