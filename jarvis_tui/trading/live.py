"""Live orders on MEXC: entry, protective TP/SL trigger orders, close, kill switch.

Only ``TradingService`` creates a ``LiveTrader``, and only after
``guards.require_live`` accepted the --live flag, the keys from the env vars
named in config and the typed confirmation.

- Every order carries a client order id (MEXC ``externalOid``).  When a create
  call fails on the network, the order is looked up before the retry, so a
  retry never doubles a position or a protective order: a normal order by that
  id (``order/external``); a trigger (plan) order, which MEXC neither lists nor
  finds by externalOid, among the untriggered plan orders (``planorder/list/
  orders``) by side, trigger type, trigger price and volume, skipping the ones
  that were already open before the first attempt.
- MEXC through ccxt takes no stopLoss/takeProfit on the entry order, so TP and
  SL are reduce-only trigger (plan) orders placed right after the entry fills.
  If either cannot be placed, the other is cancelled and the position is
  closed at market; the caller gets a TradingRefused saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock
from jarvis_tui.trading.exchange import ExchangeGateway, ExchangeRejected, ExchangeUnavailable
from jarvis_tui.trading.guards import TradingRefused
from jarvis_tui.trading.ledger import PaperLedger
from jarvis_tui.trading.markets import MarketSpec
from jarvis_tui.trading.paper import new_client_order_id
from jarvis_tui.trading.views import PositionView

TRIGGER_AT_OR_ABOVE = 1  # MEXC triggerType 1: last price >= trigger
TRIGGER_AT_OR_BELOW = 2  # MEXC triggerType 2: last price <= trigger


def mexc_side(side: str, reduce_only: bool) -> int:
    """MEXC's order side in one-way mode, as ccxt's create_swap_order maps it: 1 open long, 2 close short,
    3 open short, 4 close long."""
    if reduce_only:
        return 2 if side == "buy" else 4
    return 1 if side == "buy" else 3


@dataclass
class Protection:
    tp_price: float
    sl_price: float
    tp_order_id: str | None = None
    sl_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class LiveOpenResult:
    symbol: str
    side: str
    contracts: float
    entry_price: float
    order_id: str
    client_order_id: str
    tp_price: float
    sl_price: float
    tp_order_id: str
    sl_order_id: str


@dataclass
class KillReport:
    closed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    left_open: list[str] = field(default_factory=list)  # symbols the kill could not close


class LiveTrader:
    def __init__(self, gateway: ExchangeGateway, *, ledger: PaperLedger | None, leverage: int, margin_usdt: float,
                 tp_pct: float, sl_pct: float, clock: Clock = SYSTEM_CLOCK, fill_timeout_s: float = 15.0,
                 order_poll_s: float = 0.5, retries: int = 2,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.gateway = gateway
        self.ledger = ledger
        self.leverage = leverage
        self.margin_usdt = margin_usdt
        self.tp_pct = tp_pct
        self.sl_pct = sl_pct
        self.clock = clock
        self.fill_timeout_s = fill_timeout_s
        self.order_poll_s = order_poll_s
        self.retries = retries
        self.sleep = sleep
        self.protection: dict[str, Protection] = {}
        self.positions: list[dict[str, Any]] = []

    def spec(self, symbol: str) -> MarketSpec:
        try:
            return MarketSpec.from_ccxt(self.gateway.client.market(symbol))
        except Exception:
            raise TradingRefused(f"order refused: {symbol} is not a MEXC swap market", code="market") from None

    # ------------------------------------------------------------ orders
    async def _note(self, client_order_id: str, symbol: str, purpose: str, order_id: str | None, status: str) -> None:
        if self.ledger is not None:
            await self.ledger.record_live_order(client_order_id, ts=self.clock.time(), symbol=symbol,
                                                purpose=purpose, exchange_order_id=order_id, status=status)

    async def create_idempotent(self, symbol: str, side: str, amount: float, params: dict[str, Any],
                                purpose: str) -> dict[str, Any]:
        """create_order with a client order id; after a network failure, ``_lookup`` checks whether the order
        reached MEXC before it is sent again."""
        client_order_id = params.setdefault("clientOrderId", new_client_order_id())
        await self._note(client_order_id, symbol, purpose, None, "sending")
        # a trigger order is found again by what it orders, so the identical ones already open are not ours
        before = await self._open_plan_ids(symbol) if params.get("triggerPrice") is not None else set()
        last_error: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                order = await self.gateway.call("create_order", symbol, "market", side, amount, None, dict(params))
            except ExchangeUnavailable as exc:
                last_error = exc
                found = await self._lookup(symbol, client_order_id, side, amount, params, before)
                if found is not None:
                    order = found
                else:
                    if attempt < self.retries:
                        await self.sleep(self.order_poll_s)
                    continue
            await self._note(client_order_id, symbol, purpose, order.get("id"), "accepted")
            order.setdefault("clientOrderId", client_order_id)
            return order
        await self._note(client_order_id, symbol, purpose, None, "failed")
        raise ExchangeUnavailable(f"{purpose} order not confirmed after {self.retries + 1} tries: {last_error}")

    async def _lookup(self, symbol: str, client_order_id: str, side: str, amount: float, params: dict[str, Any],
                      before: set[str]) -> dict[str, Any] | None:
        """Did the attempt whose reply was lost reach MEXC?  The order if so; None if not, or if MEXC cannot say."""
        trigger = params.get("triggerPrice")
        try:
            if trigger is None:
                return await self.gateway.fetch_order_by_client_id(symbol, client_order_id)
            row = await self.gateway.find_open_plan_order(
                symbol, side=mexc_side(side, bool(params.get("reduceOnly"))), amount=amount,
                trigger_price=float(trigger), trigger_type=int(params.get("triggerType", TRIGGER_AT_OR_ABOVE)),
                exclude=before)
        except (ExchangeUnavailable, ExchangeRejected):
            return None
        return None if row is None else {"id": str(row["id"]), "symbol": symbol, "info": row}

    async def _open_plan_ids(self, symbol: str) -> set[str]:
        try:
            return {str(row.get("id")) for row in await self.gateway.fetch_open_plan_orders(symbol)}
        except (ExchangeUnavailable, ExchangeRejected):
            return set()  # unknown: a lost reply then matches any identical open order rather than doubling it

    async def _wait_filled(self, order_id: str, symbol: str) -> dict[str, Any]:
        deadline = self.clock.monotonic() + self.fill_timeout_s
        while True:
            order = await self.gateway.call("fetch_order", order_id, symbol)
            if order.get("status") == "closed" and order.get("filled"):
                return order
            if order.get("status") in ("canceled", "rejected"):
                raise TradingRefused(f"entry order {order_id} on {symbol} was {order['status']} by MEXC",
                                     code="entry-failed")
            if self.clock.monotonic() >= deadline:
                try:
                    await self.gateway.call("cancel_order", order_id, symbol)
                except (ExchangeRejected, ExchangeUnavailable):
                    pass
                raise TradingRefused(f"entry order {order_id} on {symbol} did not fill within "
                                     f"{self.fill_timeout_s:g}s and was cancelled", code="entry-timeout")
            await self.sleep(self.order_poll_s)

    def _base_params(self) -> dict[str, Any]:
        return {"openType": 1, "leverage": self.leverage}  # isolated margin at the configured leverage

    async def open_position(self, symbol: str, side: str, *, price: float) -> LiveOpenResult:
        spec = self.spec(symbol)
        raw = self.margin_usdt * self.leverage / (spec.contract_size * price)
        contracts = spec.amount_floor(raw)
        if contracts < spec.min_amount:
            raise TradingRefused(f"order refused: {self.margin_usdt:g} USDT at {self.leverage}x buys {raw:.3g} "
                                 f"{symbol} contracts, below the market minimum {spec.min_amount:g}",
                                 code="min-amount")
        entry_side, close_side = ("buy", "sell") if side == "long" else ("sell", "buy")
        try:
            entry = await self.create_idempotent(symbol, entry_side, contracts, self._base_params(), "entry")
            filled = await self._wait_filled(entry["id"], symbol)
        except (ExchangeRejected, ExchangeUnavailable) as exc:
            raise TradingRefused(f"entry order refused by MEXC: {exc}", code="entry-failed") from None
        entry_price = float(filled.get("average") or price)
        amount = float(filled["filled"])
        sign = 1 if side == "long" else -1
        tp = spec.price_round(entry_price * (1 + sign * self.tp_pct / 100))
        sl = spec.price_round(entry_price * (1 - sign * self.sl_pct / 100))
        protection = Protection(tp_price=tp, sl_price=sl)
        tp_type = TRIGGER_AT_OR_ABOVE if side == "long" else TRIGGER_AT_OR_BELOW
        sl_type = TRIGGER_AT_OR_BELOW if side == "long" else TRIGGER_AT_OR_ABOVE
        failures: list[str] = []
        for purpose, trigger, trigger_type in (("tp", tp, tp_type), ("sl", sl, sl_type)):
            params = {**self._base_params(), "triggerPrice": trigger, "triggerType": trigger_type,
                      "reduceOnly": True}
            try:
                order = await self.create_idempotent(symbol, close_side, amount, params, purpose)
                setattr(protection, f"{purpose}_order_id", order["id"])
            except (ExchangeRejected, ExchangeUnavailable) as exc:
                failures.append(f"{purpose.upper()}: {exc}")
        if failures:
            await self._unwind(symbol, close_side, amount, protection)
            raise TradingRefused(f"protective orders failed ({'; '.join(failures)}); the {symbol} position was "
                                 "closed at market", code="protective-failed")
        self.protection[symbol] = protection
        return LiveOpenResult(symbol=symbol, side=side, contracts=amount, entry_price=entry_price,
                              order_id=str(entry["id"]), client_order_id=entry["clientOrderId"], tp_price=tp,
                              sl_price=sl, tp_order_id=str(protection.tp_order_id),
                              sl_order_id=str(protection.sl_order_id))

    async def _unwind(self, symbol: str, close_side: str, amount: float, protection: Protection) -> None:
        for order_id in (protection.tp_order_id, protection.sl_order_id):
            if order_id:
                try:
                    await self.gateway.call("cancel_order", order_id, symbol, {"trigger": True})
                except (ExchangeRejected, ExchangeUnavailable):
                    pass
        try:
            await self.create_idempotent(symbol, close_side, amount, {**self._base_params(), "reduceOnly": True},
                                         "unwind")
        except (ExchangeRejected, ExchangeUnavailable) as exc:
            raise TradingRefused(f"protective orders failed AND closing {symbol} failed ({exc}); close it on MEXC "
                                 "now", code="unwind-failed") from None

    async def refresh_positions(self) -> list[dict[str, Any]]:
        self.positions = [p for p in await self.gateway.call("fetch_positions") if p.get("contracts")]
        return self.positions

    async def close_position(self, symbol: str) -> list[dict[str, Any]]:
        positions = [p for p in await self.refresh_positions() if p["symbol"] == symbol]
        if not positions:
            raise TradingRefused(f"no open live position for {symbol}", code="no-position")
        market_id = self.gateway.client.market(symbol)["id"]
        try:
            await self.gateway.call("contractPrivatePostPlanorderCancelAll", {"symbol": market_id})
        except (ExchangeRejected, ExchangeUnavailable):
            pass  # closing matters more; reduce-only triggers cannot reopen a closed position
        closed = []
        for position in positions:
            close_side = "sell" if position["side"] == "long" else "buy"
            closed.append(await self.create_idempotent(symbol, close_side, float(position["contracts"]),
                                                       {**self._base_params(), "reduceOnly": True}, "close"))
        self.protection.pop(symbol, None)
        return closed

    async def kill(self) -> KillReport:
        report = KillReport()
        try:
            positions = await self.refresh_positions()
        except (ExchangeRejected, ExchangeUnavailable) as exc:
            report.errors.append(f"fetch positions: {exc}")
            positions = []
        for method in ("contractPrivatePostPlanorderCancelAll", "contractPrivatePostOrderCancelAll"):
            try:
                await self.gateway.call(method, {})
                report.cancelled.append("trigger orders" if "Plan" in method else "open orders")
            except (ExchangeRejected, ExchangeUnavailable) as exc:
                report.errors.append(f"{method}: {exc}")
        for position in positions:
            close_side = "sell" if position["side"] == "long" else "buy"
            try:
                await self.create_idempotent(position["symbol"], close_side, float(position["contracts"]),
                                             {**self._base_params(), "reduceOnly": True}, "kill")
                report.closed.append(position["symbol"])
            except (ExchangeRejected, ExchangeUnavailable) as exc:
                report.errors.append(f"close {position['symbol']}: {exc}")
                report.left_open.append(position["symbol"])
        self.protection.clear()
        return report

    def views(self, marks: dict[str, tuple[float, float]], stale_after_s: float, now: float,
              market_available: bool) -> list[PositionView]:
        views = []
        for p in self.positions:
            symbol = p["symbol"]
            contracts = float(p["contracts"])
            size = float(p.get("contractSize") or 1.0)
            entry = float(p.get("entryPrice") or 0.0)
            mark, mark_ts = marks.get(symbol, (entry, 0.0))
            sign = 1 if p["side"] == "long" else -1
            upnl = sign * (mark - entry) * contracts * size
            margin = float(p.get("initialMargin") or p.get("collateral") or 0.0)
            protection = self.protection.get(symbol)
            views.append(PositionView(
                id=f"{symbol}:{p['side']}", symbol=symbol, side=p["side"], contracts=contracts, contract_size=size,
                entry_price=entry, mark_price=mark, mark_ts=mark_ts,
                stale=(not market_available) or now - mark_ts > stale_after_s, leverage=int(p.get("leverage") or 0),
                margin=margin, notional=contracts * size * mark, liquidation_price=p.get("liquidationPrice"),
                tp_price=protection.tp_price if protection else None,
                sl_price=protection.sl_price if protection else None, unrealized_pnl=upnl,
                realized_pnl=float((p.get("info") or {}).get("realised") or 0.0), fees_paid=0.0,
                roe_pct=upnl / margin * 100 if margin else 0.0, opened_at=(p.get("timestamp") or 0) / 1000,
                mode="LIVE"))
        return views
