"""The paper engine: isolated-margin USDT perpetuals, simulated against real market specs.

Arithmetic (q = contracts x contractSize, the position size in coins):
- fill price: market orders fill at price x (1 + slippage) when buying and
  price x (1 - slippage) when selling, then snapped to the tick against the
  trader (buys round up, sells round down);
- contracts: floor((margin_usdt x leverage) / (contractSize x fill)) to the
  market's volume step; below the market minimum the order is refused;
- notional = q x price; margin = notional / leverage; every fill pays
  notional x taker rate (market and trigger orders are taker orders);
- unrealized PnL = q x (mark - entry) for longs, q x (entry - mark) for shorts;
- liquidation (isolated; equity = margin + uPnL falls to mmr x q x price):
  long  entry x (1 - 1/leverage) / (1 - mmr); short entry x (1 + 1/leverage) / (1 + mmr);
  a liquidation forfeits the remaining margin (realized = -margin, no close fee);
- TP / SL trigger prices: entry x (1 +/- pct/100) snapped to the nearest tick;
  when triggered they execute as market orders at the observed price.
Balance: opening moves margin + fee out of the wallet; closing returns the
released margin + price PnL - fee.  Equity = wallet + margin + uPnL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock
from jarvis_tui.trading.guards import TradingRefused
from jarvis_tui.trading.ledger import PaperLedger
from jarvis_tui.trading.markets import MarketSpec
from jarvis_tui.trading.views import BalanceView, PositionView


@dataclass
class PaperPosition:
    id: str
    symbol: str
    side: str  # "long" | "short"
    contracts: float
    initial_contracts: float
    contract_size: float
    entry_price: float
    mark_price: float
    mark_ts: float
    leverage: int
    margin: float
    taker_fee_rate: float
    maker_fee_rate: float
    maintenance_margin_rate: float
    liquidation_price: float
    tp_price: float | None
    sl_price: float | None
    fees_paid: float
    realized_pnl: float  # gross price PnL of the parts already closed
    status: str
    opened_at: float
    closed_at: float | None = None
    close_reason: str | None = None
    client_order_id: str = ""
    signal_id: str | None = None

    @property
    def sign(self) -> int:
        return 1 if self.side == "long" else -1

    @property
    def size(self) -> float:
        return self.contracts * self.contract_size

    @property
    def notional(self) -> float:
        return self.size * self.mark_price

    @property
    def unrealized_pnl(self) -> float:
        return self.sign * (self.mark_price - self.entry_price) * self.size

    @property
    def net_realized(self) -> float:
        return self.realized_pnl - self.fees_paid

    def view(self, *, stale: bool, mode: str = "PAPER") -> PositionView:
        return PositionView(
            id=self.id, symbol=self.symbol, side=self.side, contracts=self.contracts,
            contract_size=self.contract_size, entry_price=self.entry_price, mark_price=self.mark_price,
            mark_ts=self.mark_ts, stale=stale, leverage=self.leverage, margin=self.margin, notional=self.notional,
            liquidation_price=self.liquidation_price, tp_price=self.tp_price, sl_price=self.sl_price,
            unrealized_pnl=self.unrealized_pnl, realized_pnl=self.net_realized, fees_paid=self.fees_paid,
            roe_pct=(self.unrealized_pnl / self.margin * 100.0) if self.margin else 0.0, opened_at=self.opened_at,
            mode=mode)


@dataclass(frozen=True, slots=True)
class CloseResult:
    position_id: str
    symbol: str
    side: str
    reason: str
    contracts: float
    price: float
    gross_pnl: float
    fee: float
    fully_closed: bool
    position_net_pnl: float  # the whole position's net realized PnL so far

    @property
    def net_pnl(self) -> float:
        return self.gross_pnl - self.fee


@dataclass
class _Quote:
    price: float
    ts: float


def liquidation_price(side: str, entry: float, leverage: float, mmr: float) -> float:
    if side == "long":
        return entry * (1 - 1 / leverage) / (1 - mmr)
    return entry * (1 + 1 / leverage) / (1 + mmr)


def new_client_order_id(prefix: str = "jv") -> str:
    # MEXC's externalOid takes up to 32 characters
    return f"{prefix}{uuid.uuid4().hex[:24]}"


class PaperEngine:
    def __init__(self, ledger: PaperLedger, markets: dict[str, MarketSpec], *, slippage_pct: float = 0.0,
                 start_balance: float = 1000.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.ledger = ledger
        self.markets = markets
        self.slippage = slippage_pct / 100.0
        self.start_balance = start_balance
        self.clock = clock
        self.balance = start_balance
        self.positions: dict[str, PaperPosition] = {}
        self.quotes: dict[str, _Quote] = {}
        self._dirty: set[str] = set()
        self._realized_closed = 0.0  # net realized PnL of positions closed before this session

    # ------------------------------------------------------------ state
    async def restore(self) -> None:
        account = await self.ledger.account()
        if account is None:
            await self.ledger.init_account(self.start_balance, self.clock.time())
            account = (self.start_balance, self.start_balance)
        self.start_balance, self.balance = account
        self.positions = {}
        for row in await self.ledger.open_positions():
            position = PaperPosition(**row)
            self.positions[position.id] = position
            self.quotes.setdefault(position.symbol, _Quote(position.mark_price, position.mark_ts))
        total = await self.ledger.realized_total()
        self._realized_closed = total - sum(p.net_realized for p in self.positions.values())

    def spec(self, symbol: str) -> MarketSpec:
        try:
            return self.markets[symbol]
        except KeyError:
            raise TradingRefused(f"order refused: {symbol} is not a configured MEXC swap market", code="market") from None

    def open_positions(self) -> list[PaperPosition]:
        return sorted(self.positions.values(), key=lambda p: (p.opened_at, p.id))

    def find(self, symbol_or_id: str) -> PaperPosition:
        if symbol_or_id in self.positions:
            return self.positions[symbol_or_id]
        wanted = symbol_or_id.upper()
        matches = [p for p in self.positions.values()
                   if p.symbol.upper() == wanted or p.symbol.split("/")[0].upper() == wanted
                   or p.symbol.split(":")[0].upper() == wanted]
        if not matches:
            raise TradingRefused(f"no open paper position for {symbol_or_id}", code="no-position")
        return sorted(matches, key=lambda p: p.opened_at)[0]

    def total_notional(self) -> float:
        return sum(p.notional for p in self.positions.values())

    def balance_view(self, mode: str = "PAPER") -> BalanceView:
        positions = list(self.positions.values())
        upnl = sum(p.unrealized_pnl for p in positions)
        margin = sum(p.margin for p in positions)
        realized = self._realized_closed + sum(p.net_realized for p in positions)
        return BalanceView(mode=mode, balance=self.balance, equity=self.balance + margin + upnl,
                           unrealized_pnl=upnl, realized_pnl=realized, margin_used=margin,
                           open_positions=len(positions), total_notional=self.total_notional())

    def last_quote(self, symbol: str) -> tuple[float, float] | None:
        quote = self.quotes.get(symbol)
        return (quote.price, quote.ts) if quote else None

    # ------------------------------------------------------------ fills
    def fill_price(self, spec: MarketSpec, side: str, price: float) -> float:
        if side == "buy":
            return spec.price_up(price * (1 + self.slippage))
        return spec.price_down(price * (1 - self.slippage))

    def plan_contracts(self, symbol: str, margin_usdt: float, leverage: int, price: float) -> float:
        spec = self.spec(symbol)
        contracts = spec.amount_floor(margin_usdt * leverage / (spec.contract_size * price))
        if contracts < spec.min_amount:
            raise TradingRefused(
                f"order refused: {margin_usdt:g} USDT at {leverage}x buys {margin_usdt * leverage / (spec.contract_size * price):.3g} "
                f"{symbol} contracts, below the market minimum {spec.min_amount:g}", code="min-amount")
        return contracts

    async def open_position(self, symbol: str, side: str, *, margin_usdt: float, leverage: int,
                            tp_pct: float | None, sl_pct: float | None, price: float | None = None,
                            signal_id: str | None = None, client_order_id: str | None = None) -> PaperPosition:
        if side not in ("long", "short"):
            raise TradingRefused(f"order refused: side must be long or short, not {side!r}", code="side")
        spec = self.spec(symbol)
        if price is None:
            quote = self.quotes.get(symbol)
            if quote is None:
                raise TradingRefused(f"order refused: no price for {symbol} yet (market data unavailable)",
                                     code="no-price")
            price = quote.price
        if spec.max_leverage and leverage > spec.max_leverage:
            raise TradingRefused(f"order refused: {symbol} allows at most {spec.max_leverage:g}x leverage",
                                 code="leverage")
        fill = self.fill_price(spec, "buy" if side == "long" else "sell", price)
        contracts = self.plan_contracts(symbol, margin_usdt, leverage, fill)
        notional = spec.notional(contracts, fill)
        margin = notional / leverage
        fee = notional * spec.taker_fee
        if margin + fee > self.balance + 1e-12:
            raise TradingRefused(f"order refused: paper balance {self.balance:.2f} USDT cannot cover "
                                 f"{margin + fee:.2f} USDT of margin and fee", code="balance")
        sign = 1 if side == "long" else -1
        now = self.clock.time()
        position = PaperPosition(
            id=uuid.uuid4().hex[:12], symbol=symbol, side=side, contracts=contracts, initial_contracts=contracts,
            contract_size=spec.contract_size, entry_price=fill, mark_price=price, mark_ts=now, leverage=leverage,
            margin=margin, taker_fee_rate=spec.taker_fee, maker_fee_rate=spec.maker_fee,
            maintenance_margin_rate=spec.maintenance_margin_rate,
            liquidation_price=liquidation_price(side, fill, leverage, spec.maintenance_margin_rate),
            tp_price=spec.price_round(fill * (1 + sign * tp_pct / 100)) if tp_pct else None,
            sl_price=spec.price_round(fill * (1 - sign * sl_pct / 100)) if sl_pct else None,
            fees_paid=fee, realized_pnl=0.0, status="open", opened_at=now,
            client_order_id=client_order_id or new_client_order_id("jp"), signal_id=signal_id)
        if symbol in self.quotes:
            position.mark_price, position.mark_ts = self.quotes[symbol].price, self.quotes[symbol].ts
        self.balance -= margin + fee
        await self.ledger.record(position=position, balance=self.balance, delta=-(margin + fee), reason="open",
                                 ts=now, fill={"kind": "open", "side": "buy" if side == "long" else "sell",
                                               "contracts": contracts, "price": fill, "fee": fee,
                                               "fee_rate": spec.taker_fee, "realized_pnl": 0.0,
                                               "client_order_id": position.client_order_id})
        self.positions[position.id] = position
        return position

    async def close_position(self, position_id: str, *, price: float | None = None, contracts: float | None = None,
                             fraction: float | None = None, reason: str = "manual") -> CloseResult:
        position = self.positions.get(position_id)
        if position is None:
            raise TradingRefused(f"no open paper position {position_id}", code="no-position")
        spec = self.spec(position.symbol)
        if price is None:
            price = position.mark_price
        if contracts is None:
            contracts = position.contracts if fraction is None else spec.amount_floor(position.contracts * fraction)
        if contracts <= 0:
            raise TradingRefused(f"close refused: that closes less than one {spec.amount_tick:g}-contract step of "
                                 f"{position.symbol}", code="min-amount")
        contracts = min(contracts, position.contracts)
        fill = self.fill_price(spec, "sell" if position.side == "long" else "buy", price)
        size = contracts * position.contract_size
        gross = position.sign * (fill - position.entry_price) * size
        fee = size * fill * position.taker_fee_rate
        return await self._reduce(position, contracts, fill, gross, fee, reason, position.taker_fee_rate)

    async def _reduce(self, position: PaperPosition, contracts: float, fill: float, gross: float, fee: float,
                      reason: str, fee_rate: float) -> CloseResult:
        full = contracts >= position.contracts - 1e-12
        released = position.margin if full else position.margin * contracts / position.contracts
        now = self.clock.time()
        delta = released + gross - fee
        self.balance += delta
        position.contracts = 0.0 if full else position.contracts - contracts
        position.margin = 0.0 if full else position.margin - released
        position.realized_pnl += gross
        position.fees_paid += fee
        if full:
            position.status, position.closed_at, position.close_reason = "closed", now, reason
        await self.ledger.record(position=position, balance=self.balance, delta=delta, reason=reason, ts=now,
                                 fill={"kind": reason, "side": "sell" if position.side == "long" else "buy",
                                       "contracts": contracts, "price": fill, "fee": fee, "fee_rate": fee_rate,
                                       "realized_pnl": gross, "client_order_id": new_client_order_id("jc")})
        if full:
            del self.positions[position.id]
            self._realized_closed += position.net_realized
            self._dirty.discard(position.id)
        return CloseResult(position_id=position.id, symbol=position.symbol, side=position.side, reason=reason,
                           contracts=contracts, price=fill, gross_pnl=gross, fee=fee, fully_closed=full,
                           position_net_pnl=position.net_realized)

    async def liquidate(self, position: PaperPosition, price: float) -> CloseResult:
        return await self._reduce(position, position.contracts, price, -position.margin, 0.0, "liquidation", 0.0)

    # ------------------------------------------------------------ prices
    async def on_price(self, symbol: str, price: float, ts: float | None = None) -> list[CloseResult]:
        """A new price: mark every position on it, then evaluate liquidation, SL and TP."""
        ts = self.clock.time() if ts is None else ts
        self.quotes[symbol] = _Quote(price, ts)
        results: list[CloseResult] = []
        for position in [p for p in self.positions.values() if p.symbol == symbol]:
            position.mark_price, position.mark_ts = price, ts
            self._dirty.add(position.id)
            long = position.side == "long"
            if (price <= position.liquidation_price) if long else (price >= position.liquidation_price):
                results.append(await self.liquidate(position, position.liquidation_price))
            elif position.sl_price is not None and ((price <= position.sl_price) if long else (price >= position.sl_price)):
                results.append(await self.close_position(position.id, price=price, reason="sl"))
            elif position.tp_price is not None and ((price >= position.tp_price) if long else (price <= position.tp_price)):
                results.append(await self.close_position(position.id, price=price, reason="tp"))
        return results

    async def flush_marks(self) -> None:
        marks = [(p.mark_price, p.mark_ts, p.id) for pid in self._dirty if (p := self.positions.get(pid))]
        self._dirty.clear()
        await self.ledger.update_marks(marks)

    def snapshot(self) -> dict[str, Any]:
        """Everything restore() must bring back, for tests and diagnostics."""
        return {"balance": self.balance, "start_balance": self.start_balance,
                "positions": {pid: dict(vars(p)) for pid, p in self.positions.items()}}


__all__ = ["PaperEngine", "PaperPosition", "CloseResult", "liquidation_price", "new_client_order_id"]
