"""TradingService: the one trading object the cockpit and the CLI talk to.

Paper mode is the default.  ``enable_live(confirmation)`` switches to LIVE only
when the service was built with ``live_flag=True`` (the --live flag), the keys
are in the env vars named by [trading] api_key_env / secret_env, and the
confirmation is exactly "LIVE".

Events on the bus: PositionsUpdated (after every open/close and, coalesced, on
price updates), SignalsUpdated (after each scan), MarketDataStatus (when
availability changes), PositionClosed, TradingModeChanged.  Widgets render
those; they can also read ``positions()``, ``balance()``, ``signals()`` and
``market_data`` at any time.

Market data (the price feed and the signal scanner) goes through ccxt, whose
import costs ~100 MB of RSS and ~1 s.  A background service therefore starts it
only when something needs prices: open positions restored at start,
``auto_trade`` or ``scan_at_start``, an order (``open_position`` / ``take_signal``), going live, or
the cockpit's signals list (``ensure_market_data``).  Until then the state says
"market data idle" and ccxt is not imported.  Once started it keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock
from jarvis_tui.core.events import ErrorRaised, EventBus
from jarvis_tui.trading import ccxt_lazy
from jarvis_tui.trading.events import (
    MarketDataStatus,
    PositionClosed,
    PositionsUpdated,
    SignalsUpdated,
    TradingModeChanged,
)
from jarvis_tui.trading.exchange import (
    AccountBalance,
    ExchangeGateway,
    ExchangeRejected,
    ExchangeUnavailable,
    MarketDataState,
)
from jarvis_tui.trading.guards import (
    RiskLimits,
    TradingRefused,
    check_new_position,
    check_price_fresh,
    require_kill_confirmation,
    require_live,
    require_live_keys,
)
from jarvis_tui.trading.ledger import PaperLedger
from jarvis_tui.trading.live import KillReport, LiveTrader
from jarvis_tui.trading.markets import load_market_dicts, market_specs
from jarvis_tui.trading.paper import CloseResult, PaperEngine
from jarvis_tui.trading.replay import ReplayClock, play, read_ohlcv_csv
from jarvis_tui.trading.settings import TradingSettings
from jarvis_tui.trading.signals import Candle, SignalScanner
from jarvis_tui.trading.views import BalanceView, PositionView, SignalView

log = logging.getLogger(__name__)

PAPER, LIVE = "PAPER", "LIVE"
IDLE_REASON = "market data idle: starts with a position, an order or the signals list"


def _import_ccxt(price_source: str) -> None:
    """The ccxt modules the feed uses, imported ahead (in a thread: ~0.2 s of work the event loop need not do)."""
    ccxt_lazy.async_support()
    if price_source != "poll":
        ccxt_lazy.pro()


@dataclass
class ReplaySummary:
    symbol: str
    candles: int = 0
    ticks: int = 0
    signals: int = 0
    opened: int = 0
    closed: dict[str, int] = field(default_factory=dict)
    wins: int = 0
    losses: int = 0
    net_pnl: float = 0.0
    final_balance: float = 0.0
    final_equity: float = 0.0
    refusals: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class TradingService:
    def __init__(self, settings: TradingSettings, *, db_path: Path | str, bus: EventBus | None = None,
                 clock: Clock = SYSTEM_CLOCK, live_flag: bool = False, env: Mapping[str, str] | None = None,
                 gateway: ExchangeGateway | None = None) -> None:
        self.settings = settings
        self.db_path = settings.ledger_path or db_path
        self.bus = bus or EventBus()
        self.clock = clock
        self.live_flag = live_flag
        self._env = os.environ if env is None else env
        self.gateway = gateway
        self.ledger = PaperLedger(self.db_path)
        self.engine: PaperEngine | None = None
        self.live: LiveTrader | None = None
        self._live_refreshed_at: float | None = None
        self.live_read_only = False  # the live account is shown (status --live) but orders stay refused
        self.live_balance: AccountBalance | None = None  # the exchange's, refreshed by refresh_live()
        self.scanner = SignalScanner(settings.signal_threshold, settings.recent_signals)
        self.market_data = MarketDataState()
        self.limits = RiskLimits(settings.max_open_positions, settings.max_total_notional_usdt,
                                 settings.max_price_age_s)
        self.markets_source = ""
        self.last_refusal = ""
        self._tasks: list[asyncio.Task[Any]] = []
        self._background = False  # start(background=True): the service runs its own loops
        self._market_start: asyncio.Future[None] | None = None  # ensure_market_data: ccxt import, then the feeds
        self._positions_dirty = False
        self._last_publish = float("-inf")
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ lifecycle
    @property
    def mode(self) -> str:
        return LIVE if self.live is not None else PAPER

    async def start(self, *, background: bool = True) -> None:
        """Open the ledger, restore the paper state, and (background=True) run the service's loops.

        The price feed and the scanner (ccxt) start at once only when positions were restored,
        ``auto_trade`` or ``scan_at_start`` is on; otherwise on the first need (``ensure_market_data``).
        """
        markets, self.markets_source = load_market_dicts(self.settings.markets_cache_dir)
        specs = market_specs(markets, self.settings.pairs)
        await self.ledger.open()
        self.engine = PaperEngine(self.ledger, specs, slippage_pct=self.settings.slippage_pct,
                                  start_balance=self.settings.paper_start_balance, clock=self.clock)
        await self.engine.restore()
        for row in reversed(await self.ledger.recent_signals(self.settings.recent_signals)):
            self.scanner.recent.appendleft(SignalView(**row))
        self._publish_positions(force=True)
        self._background = background
        if background:
            self._tasks.append(asyncio.create_task(self._flush_loop(), name="trading-flush"))
            if self.engine.open_positions() or self.settings.auto_trade or self.settings.scan_at_start:
                self._market_start = asyncio.ensure_future(self._start_market_data())  # not awaited: ~1 s
            else:
                self._set_market_data(False, "none", IDLE_REASON)

    async def ensure_market_data(self) -> bool:
        """Background service: start the price feed and the signal scanner unless they run already.

        This is where ccxt is imported (in a thread, so the cockpit keeps drawing).  True when this call
        started them; False when they were running, or the service runs no loops (``background=False``:
        the CLI polls with ``refresh_once``).
        """
        if not self._background:
            return False
        started = self._market_start is None
        if started:
            self._market_start = asyncio.ensure_future(self._start_market_data())
        await asyncio.shield(self._market_start)  # a second caller waits for the start in flight
        return started

    async def _start_market_data(self) -> None:
        try:
            await asyncio.to_thread(_import_ccxt, self.settings.price_source)
        except ImportError as exc:
            self._set_market_data(False, "none", f"market data unavailable: ccxt not installed ({exc})")
            return
        self._start_feeds()

    def _start_feeds(self) -> None:
        running = {task.get_name() for task in self._tasks if not task.done()}
        if "trading-prices" not in running:
            self._tasks.append(asyncio.create_task(self._price_feed(), name="trading-prices"))
        if "trading-scanner" not in running:
            self._tasks.append(asyncio.create_task(self._scan_loop(), name="trading-scanner"))

    async def stop(self) -> None:
        if self._market_start is not None and not self._market_start.done():
            self._market_start.cancel()  # no feed may start after this
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        if self.engine is not None:
            try:
                await self.engine.flush_marks()
            except Exception:  # the ledger may already be gone; the marks are only a display nicety
                pass
        await self.ledger.close()
        if self.gateway is not None:
            await self.gateway.close()

    def _gateway(self) -> ExchangeGateway:
        if self.gateway is None:
            s = self.settings
            self.gateway = ExchangeGateway(pairs=s.pairs, base_url=s.exchange_base_url, ws_url=s.exchange_ws_url,
                                           timeout_s=s.exchange_timeout_s, markets_cache_dir=s.markets_cache_dir,
                                           clock=self.clock)
        return self.gateway

    # ------------------------------------------------------------ views
    def _engine(self) -> PaperEngine:
        if self.engine is None:
            raise RuntimeError("TradingService.start() has not run")
        return self.engine

    def _is_stale(self, mark_ts: float) -> bool:
        return (not self.market_data.available) or self.clock.time() - mark_ts > self.settings.max_price_age_s

    def positions(self) -> list[PositionView]:
        if self.live is not None:
            marks = {s: (q.price, q.ts) for s, q in self._engine().quotes.items()}
            return self.live.views(marks, self.settings.max_price_age_s, self.clock.time(),
                                   self.market_data.available)
        return [p.view(stale=self._is_stale(p.mark_ts)) for p in self._engine().open_positions()]

    def balance(self) -> BalanceView:
        """Paper: the ledger's wallet.  Live: the MEXC swap account's USDT (``account/assets``), as last fetched."""
        if self.live is not None:
            views = self.positions()
            account = self.live_balance
            upnl = account.unrealized_pnl if account else sum(v.unrealized_pnl for v in views)
            margin = account.position_margin if account else sum(v.margin for v in views)
            return BalanceView(mode=LIVE, balance=account.available if account else float("nan"),
                               equity=account.equity if account else float("nan"), unrealized_pnl=upnl,
                               realized_pnl=sum(v.realized_pnl for v in views), margin_used=margin,
                               open_positions=len(views), total_notional=sum(v.notional for v in views))
        return self._engine().balance_view()

    def signals(self) -> tuple[SignalView, ...]:
        return self.scanner.recent_views()

    def latest_scores(self) -> tuple[SignalView, ...]:
        return self.scanner.latest_views()

    def resolve_symbol(self, text: str) -> str:
        wanted = text.strip().upper()
        for pair in self.settings.pairs:
            if wanted in (pair.upper(), pair.split("/")[0], pair.split(":")[0], pair.replace("/", "_").split(":")[0]):
                return pair
        raise TradingRefused(f"unknown pair {text!r}; configured pairs: "
                             f"{', '.join(p.split('/')[0] for p in self.settings.pairs)}", code="market")

    # ------------------------------------------------------------ publishing
    def _publish_positions(self, force: bool = False) -> None:
        now = self.clock.monotonic()
        if not force and now - self._last_publish < 0.25:
            self._positions_dirty = True
            return
        self._positions_dirty = False
        self._last_publish = now
        self.bus.publish(PositionsUpdated(mode=self.mode, positions=tuple(self.positions()), balance=self.balance()))

    def _publish_signals(self) -> None:
        self.bus.publish(SignalsUpdated(recent=self.signals(), latest=self.latest_scores(),
                                        threshold=self.settings.signal_threshold))

    def _set_market_data(self, available: bool, source: str, reason: str = "") -> None:
        changed = (self.market_data.available, self.market_data.source, self.market_data.reason) != (
            available, source, reason)
        self.market_data.available, self.market_data.source, self.market_data.reason = available, source, reason
        if available:
            self.market_data.last_update_ts = self.clock.time()
        if changed:
            self.bus.publish(MarketDataStatus(available=available, source=source, reason=reason,
                                              last_update_ts=self.market_data.last_update_ts))
            self._publish_positions(force=True)  # stale flags changed

    def _publish_closes(self, results: list[CloseResult]) -> None:
        for r in results:
            self.bus.publish(PositionClosed(mode=PAPER, position_id=r.position_id, symbol=r.symbol, side=r.side,
                                            reason=r.reason, price=r.price, net_pnl=r.position_net_pnl))

    # ------------------------------------------------------------ feeds
    async def on_quote(self, symbol: str, price: float, ts: float | None = None) -> list[CloseResult]:
        async with self._lock:
            results = await self._engine().on_price(symbol, price, ts)
        self._publish_closes(results)
        self._publish_positions(force=bool(results))
        return results

    async def on_candles(self, symbol: str, candles: list[Candle]) -> SignalView | None:
        signal = self.scanner.evaluate(symbol, candles)
        if signal is not None:
            await self.ledger.record_signal(signal)
        if signal is not None and self.settings.auto_trade and (self.mode == PAPER or self.settings.auto_trade_live):
            if not any(p.symbol == symbol for p in self.positions()):
                try:
                    await self.take_signal(signal.id)
                except TradingRefused as exc:
                    self.last_refusal = str(exc)
                    self.bus.publish(ErrorRaised(source="trading", message=str(exc)))
        self._publish_signals()
        return signal

    async def refresh_once(self) -> bool:
        """One poll of every pair (used by `jarvis trade status`); False when market data is unavailable."""
        gateway = self._gateway()
        quotes = await gateway.poll_once()
        for quote in quotes:
            await self.on_quote(quote.symbol, quote.price, quote.ts)
        self._set_market_data(gateway.state.available and bool(quotes), "poll" if quotes else "none",
                              "" if quotes else gateway.state.reason)
        return bool(quotes)

    async def _price_feed(self) -> None:
        gateway = self._gateway()

        async def quote_in(quote: Any) -> None:
            if not self.market_data.available:
                self._set_market_data(True, gateway.state.source)
            await self.on_quote(quote.symbol, quote.price, quote.ts)

        def status(state: MarketDataState) -> None:
            self._set_market_data(state.available, state.source if state.available else "none", state.reason)

        if self.gateway is not None and self.settings.markets_max_age_s:
            from jarvis_tui.trading.markets import cache_age_s

            age = cache_age_s(self.settings.markets_cache_dir)
            if age is None or age > self.settings.markets_max_age_s:
                try:
                    await gateway.refresh_markets()
                except (ExchangeUnavailable, ExchangeRejected, OSError) as exc:
                    log.info("markets refresh failed (%s); using the %s", exc, gateway.markets_source)
        while True:
            try:
                await gateway.run_price_feed(quote_in, poll_s=self.settings.poll_s,
                                             source=self.settings.price_source, on_status=status,
                                             ws_retry_s=self.settings.ws_retry_s,
                                             stall_s=self.settings.max_price_age_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the feed alive; the state already says unavailable
                self._set_market_data(False, "none", f"market data unavailable: {type(exc).__name__}")
            await asyncio.sleep(self.settings.poll_s)

    async def _scan_loop(self) -> None:
        gateway = self._gateway()
        while True:
            for symbol in self.settings.pairs:
                try:
                    candles = await gateway.fetch_ohlcv(symbol, self.settings.timeframe, limit=80)
                except (ExchangeUnavailable, ExchangeRejected):
                    continue
                if len(candles) > 1:
                    await self.on_candles(symbol, candles[:-1])  # the last candle is still forming
            await asyncio.sleep(self.settings.scan_interval_s)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._positions_dirty:
                self._publish_positions(force=True)
            if self.market_data.available and self.market_data.last_update_ts is not None and \
                    self.clock.time() - self.market_data.last_update_ts > self.settings.max_price_age_s:
                self._set_market_data(False, "none", "market data unavailable: no price update for "
                                      f"{self.settings.max_price_age_s:g}s")
            await self._engine().flush_marks()
            await self.maybe_refresh_live()

    async def maybe_refresh_live(self) -> bool:
        """LIVE: re-read positions and balance once ``live_refresh_s`` has passed (orders placed elsewhere, fees,
        funding, liquidations all change them).  A failed read keeps the last values and is retried next time."""
        if self.live is None:
            return False
        now = self.clock.time()
        if self._live_refreshed_at is not None and now - self._live_refreshed_at < self.settings.live_refresh_s:
            return False
        self._live_refreshed_at = now
        try:
            await self.refresh_live()
        except (ExchangeUnavailable, ExchangeRejected, TradingRefused) as exc:
            log.warning("live account refresh failed: %s", exc)
            return False
        self._publish_positions(force=True)
        return True

    # ------------------------------------------------------------ actions
    async def enable_live(self, confirmation: str) -> None:
        """LIVE with orders: the --live flag, the keys and the typed confirmation "LIVE"."""
        credentials = require_live(live_flag=self.live_flag, api_key_env=self.settings.api_key_env,
                                   secret_env=self.settings.secret_env, confirmation=confirmation, env=self._env)
        await self._connect_live(credentials, read_only=False)

    def live_credentials(self) -> Any:
        """The exchange keys if ``--live`` was given and they are in the environment; raises TradingRefused."""
        return require_live_keys(live_flag=self.live_flag, api_key_env=self.settings.api_key_env,
                                 secret_env=self.settings.secret_env, env=self._env)

    async def view_live(self) -> None:
        """LIVE read-only (``jarvis trade status --live``): the flag and the keys; every order stays refused."""
        await self._connect_live(self.live_credentials(), read_only=True)

    async def _connect_live(self, credentials: Any, *, read_only: bool) -> None:
        s = self.settings
        # The price feed and the scanner hold the old gateway: stop them, and restart them on the new one.
        feeds = [t for t in self._tasks if t.get_name() in ("trading-prices", "trading-scanner")]
        for task in feeds:
            task.cancel()
        await asyncio.gather(*feeds, return_exceptions=True)
        self._tasks = [t for t in self._tasks if t not in feeds]
        if self.gateway is not None:
            await self.gateway.close()
        self.gateway = ExchangeGateway(pairs=s.pairs, credentials=credentials, base_url=s.exchange_base_url,
                                       ws_url=s.exchange_ws_url, timeout_s=s.exchange_timeout_s,
                                       markets_cache_dir=s.markets_cache_dir, clock=self.clock)
        self.live = LiveTrader(self.gateway, ledger=self.ledger, leverage=s.leverage, margin_usdt=s.position_usdt,
                               tp_pct=s.tp_pct, sl_pct=s.sl_pct, clock=self.clock)
        self.live_read_only = read_only
        try:
            await self.refresh_live()
        except (ExchangeUnavailable, ExchangeRejected) as exc:
            self.live, self.live_balance, self.live_read_only = None, None, False
            raise TradingRefused(f"live trading refused: MEXC did not answer the account check ({exc})",
                                 code="exchange") from None
        finally:
            # Live positions need marks: a background service runs the feed from now on (ccxt is loaded).
            if feeds or self._background:
                if self._market_start is None:
                    self._market_start = asyncio.get_running_loop().create_future()
                    self._market_start.set_result(None)
                self._start_feeds()
        self.bus.publish(TradingModeChanged(mode=LIVE, reason="read-only" if read_only else "confirmed"))
        self._publish_positions(force=True)

    async def refresh_live(self) -> None:
        """Re-read the live positions and the swap account balance from MEXC."""
        if self.live is None or self.gateway is None:
            raise TradingRefused("live mode is not enabled", code="mode")
        await self.live.refresh_positions()
        self.live_balance = await self.gateway.fetch_account_balance()
        self._live_refreshed_at = self.clock.time()

    def _require_orders_allowed(self) -> None:
        if self.live is not None and self.live_read_only:
            raise TradingRefused("order refused: the live account is open read-only; confirm LIVE to place orders",
                                 code="read-only")

    async def disable_live(self) -> None:
        self.live, self.live_balance, self.live_read_only = None, None, False
        self.bus.publish(TradingModeChanged(mode=PAPER, reason="switched back"))
        self._publish_positions(force=True)

    async def _quote_on_demand(self, symbol: str) -> None:
        """An order while market data was idle (or just starting): start it, and read this pair's price once
        now rather than refuse the order for want of a quote the feed has not delivered yet."""
        if not self._background:
            return
        was_idle = self._market_start is None or not self._market_start.done()
        await self.ensure_market_data()
        if not was_idle or self._engine().last_quote(symbol) is not None:
            return
        gateway = self._gateway()
        try:
            quote = await gateway.fetch_quote(symbol)
        except (ExchangeUnavailable, ExchangeRejected):
            return  # _price_for refuses with the usual "no price" line
        await self.on_quote(quote.symbol, quote.price, quote.ts)
        if not self.market_data.available:
            self._set_market_data(True, "poll")

    def _price_for(self, symbol: str, *, action: str = "order", advice: str = "market data is stale") -> float:
        """The last quote for ``symbol``, refused (TradingRefused) when it is older than max_price_age_s."""
        quote = self._engine().last_quote(symbol)
        check_price_fresh(symbol, quote[1] if quote else None, self.clock.time(), self.settings.max_price_age_s,
                          action=action, advice=advice)
        assert quote is not None
        return quote[0]

    async def open_position(self, symbol: str, side: str, *, signal_id: str | None = None) -> PositionView:
        """Open with the configured size, leverage, TP and SL; refusals raise TradingRefused."""
        symbol = self.resolve_symbol(symbol)
        if side not in ("long", "short"):
            raise TradingRefused(f"order refused: side must be long or short, not {side!r}", code="side")
        self._require_orders_allowed()
        s = self.settings
        await self._quote_on_demand(symbol)
        price = self._price_for(symbol)
        engine = self._engine()
        current = self.positions()
        spec = engine.spec(symbol)
        planned = engine.plan_contracts(symbol, s.position_usdt, s.leverage, price)
        check_new_position(self.limits, open_positions=len(current),
                           total_notional=sum(v.notional for v in current),
                           new_notional=spec.notional(planned, price))
        if self.live is not None:
            result = await self.live.open_position(symbol, side, price=price)
            await self.live.refresh_positions()
            self._publish_positions(force=True)
            for view in self.positions():
                if view.symbol == result.symbol:
                    return view
            raise TradingRefused(f"MEXC accepted the {symbol} entry but does not list the position yet",
                                 code="exchange")
        async with self._lock:
            position = await engine.open_position(symbol, side, margin_usdt=s.position_usdt, leverage=s.leverage,
                                                  tp_pct=s.tp_pct, sl_pct=s.sl_pct, price=price,
                                                  signal_id=signal_id)
        self._publish_positions(force=True)
        return position.view(stale=self._is_stale(position.mark_ts))

    async def take_signal(self, signal_id_or_symbol: str) -> PositionView:
        signal = self.scanner.find(signal_id_or_symbol)
        if signal is None:
            raise TradingRefused(f"no recent signal {signal_id_or_symbol!r}", code="no-signal")
        if signal.score < self.settings.signal_threshold:
            raise TradingRefused(f"signal {signal.id} scores {signal.score:g}, below the threshold "
                                 f"{self.settings.signal_threshold:g}", code="below-threshold")
        view = await self.open_position(signal.symbol, signal.side, signal_id=signal.id)
        self.scanner.mark_taken(signal.id)
        taken = self.scanner.find(signal.id)
        if taken is not None:
            await self.ledger.record_signal(taken)
        self._publish_signals()
        return view

    async def close_position(self, symbol_or_id: str, *, fraction: float | None = None) -> CloseResult | list[Any]:
        self._require_orders_allowed()
        if self.live is not None:
            symbol = self.resolve_symbol(symbol_or_id.split(":")[0] if symbol_or_id.count(":") > 1 else symbol_or_id)
            result = await self.live.close_position(symbol)
            await self.live.refresh_positions()
            self._publish_positions(force=True)
            return result
        engine = self._engine()
        position = engine.find(symbol_or_id)
        # A paper close fills at our quote, so an old quote would book a price nobody could trade at.
        # (A live close is a reduce-only market order that MEXC fills at its own price: not refused.)
        price = self._price_for(position.symbol, action="close", advice="a paper close fills at the current "
                                "price; wait for market data to return and close again")
        async with self._lock:
            result = await engine.close_position(position.id, price=price, fraction=fraction, reason="manual")
        self._publish_closes([result] if result.fully_closed else [])
        self._publish_positions(force=True)
        return result

    async def kill(self, confirmation: str) -> KillReport:
        """Close every position and cancel every order (typed confirmation: KILL)."""
        require_kill_confirmation(confirmation)
        self._require_orders_allowed()
        if self.live is not None:
            report = await self.live.kill()
            try:
                await self.live.refresh_positions()
            except (ExchangeUnavailable, ExchangeRejected) as exc:
                report.errors.append(f"positions check after the kill: {exc}")
            self._publish_positions(force=True)
            return report
        # Paper kill is best effort, like the live one: every position with a fresh price is closed; one
        # whose price is stale stays open and is reported, since a paper fill needs a price MEXC would give.
        report = KillReport()
        engine = self._engine()
        ages: list[str] = []
        for position in engine.open_positions():
            try:
                price = self._price_for(position.symbol)
            except TradingRefused:
                quote = engine.last_quote(position.symbol)
                report.left_open.append(position.symbol)
                ages.append(f"{position.symbol} {self.clock.time() - quote[1]:.0f}s" if quote else position.symbol)
                continue
            async with self._lock:
                result = await engine.close_position(position.id, price=price, reason="kill")
            self._publish_closes([result])
            report.closed.append(position.symbol)
        if report.left_open:
            report.errors.append(f"{len(ages)} paper position(s) left open on stale prices ({', '.join(ages)} old, "
                                 f"limit {self.settings.max_price_age_s:g}s); run the kill switch again once market "
                                 "data is back")
        self._publish_positions(force=True)
        return report

    # ------------------------------------------------------------ replay
    async def run_replay(self, csv_path: Path | str, *, speed: float = 0.0, symbol: str | None = None) -> ReplaySummary:
        """Play a CSV into the paper engine and the scanner (auto-trading per settings)."""
        if self.live is not None:
            raise TradingRefused("replay runs in paper mode only", code="mode")
        candles = read_ohlcv_csv(csv_path)
        symbol = self.resolve_symbol(symbol or Path(csv_path).name.split("-")[0].split(".")[0].split("_")[0])
        summary = ReplaySummary(symbol=symbol)
        start_equity = self.balance().equity
        self._set_market_data(True, "replay")
        clock = self.clock if isinstance(self.clock, ReplayClock) else None
        sub = self.bus.subscribe(PositionClosed, ErrorRaised)

        async def tick(sym: str, price: float, ts: float) -> None:
            await self.on_quote(sym, price, ts)

        async def candle(sym: str, so_far: list[Candle]) -> None:
            before = len(self._engine().positions)
            signal = await self.on_candles(sym, so_far)
            if signal is not None:
                summary.signals += 1
            summary.opened += len(self._engine().positions) - before if len(self._engine().positions) > before else 0

        stats = await play(candles, symbol=symbol, speed=speed, clock=clock, on_tick=tick, on_candle=candle)
        sub.close()
        async for event in sub:
            if isinstance(event, PositionClosed):
                summary.closed[event.reason] = summary.closed.get(event.reason, 0) + 1
                summary.wins += event.net_pnl > 0
                summary.losses += event.net_pnl <= 0
            elif isinstance(event, ErrorRaised):
                summary.refusals.append(event.message)
        await self._engine().flush_marks()
        balance = self.balance()
        summary.candles, summary.ticks = stats.candles, stats.ticks
        summary.final_balance, summary.final_equity = balance.balance, balance.equity
        summary.net_pnl = balance.equity - start_equity
        return summary


def replay_settings(settings: TradingSettings) -> TradingSettings:
    """Replays trade the signals they find, with no wall-clock staleness in the way."""
    return replace(settings, auto_trade=True, ledger_path=None)
