"""Pane 5: trading positions, with a totals row, a PAPER/LIVE badge and a signals toggle.

The pane only renders ``PositionsUpdated`` / ``SignalsUpdated`` /
``MarketDataStatus`` payloads (frozen views).  Closing a position, the kill
switch and taking a signal are requests it posts to the app
(``CloseRequested``, ``KillRequested``, ``TakeRequested``); the app asks for
confirmation and calls the trading service in a worker.  Opening the signals
list posts ``SignalsShown``: the app then starts the market data if it is idle.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static

from jarvis_tui.ui.cells import Numbers, plain
from jarvis_tui.ui.pane_frame import RememberedFrame
from jarvis_tui.ui.pane_table import PaneTable

POSITION_COLUMNS = (("symbol", "symbol"), ("side", "side"), ("contracts", "contracts"), ("entry", "entry"),
                    ("mark", "mark"), ("upnl", "uPnL"), ("tp", "TP"), ("sl", "SL"), ("lev", "lev"),
                    ("margin", "margin"))
SIGNAL_COLUMNS = (("symbol", "symbol"), ("side", "side"), ("score", "score"), ("price", "price"),
                  ("parts", "breakout/vol/mom"), ("state", "state"))
TOTAL_KEY = "__total__"


def short_symbol(symbol: str) -> str:
    """BTC/USDT:USDT -> BTC/USDT."""
    return symbol.split(":", 1)[0]


class PositionsTable(PaneTable):
    COMPONENT_CLASSES = {"pnl--up", "pnl--down", "pnl--stale", "pnl--total"}

    BINDINGS = [
        Binding("x", "close_selected", "Close pos."),
        Binding("K", "kill_switch", "Kill all"),
        Binding("g", "toggle_signals", "Signals"),
    ]

    class CloseRequested(Message):
        def __init__(self, position_id: str, symbol: str) -> None:
            super().__init__()
            self.position_id = position_id
            self.symbol = symbol

    class KillRequested(Message):
        """The kill switch: close every position and cancel every order (the app asks for KILL)."""

    def action_close_selected(self) -> None:
        pane = self.parent
        if isinstance(pane, PositionsPane):
            pane.request_close()

    def action_kill_switch(self) -> None:
        self.post_message(PositionsTable.KillRequested())

    def action_toggle_signals(self) -> None:
        pane = self.parent
        if isinstance(pane, PositionsPane):
            pane.toggle_signals()


class SignalsTable(PaneTable):
    BINDINGS = [
        Binding("t", "take_signal", "Take signal"),
        Binding("c", "comment_signal", "Ask nodes"),
        Binding("g", "toggle_signals", "Positions"),
    ]

    class TakeRequested(Message):
        def __init__(self, signal: Any) -> None:
            super().__init__()
            self.signal = signal

    class CommentRequested(Message):
        """Ask the ``trading`` route's nodes about a signal in the chat; they never place an order."""

        def __init__(self, signal: Any) -> None:
            super().__init__()
            self.signal = signal

    def action_take_signal(self) -> None:
        pane = self.parent
        if isinstance(pane, PositionsPane):
            pane.request_for_selected_signal(SignalsTable.TakeRequested)

    def action_comment_signal(self) -> None:
        pane = self.parent
        if isinstance(pane, PositionsPane):
            pane.request_for_selected_signal(SignalsTable.CommentRequested)

    def action_toggle_signals(self) -> None:
        pane = self.parent
        if isinstance(pane, PositionsPane):
            pane.toggle_signals()


class PositionsPane(RememberedFrame, Vertical):
    class SignalsShown(Message):
        """The signals list was opened: the scanner should run (the trading service starts it when idle)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.badge = Static(Text("PAPER"), markup=False, id="trading-badge", classes="-paper")
        self.market = Static(Text("trading: not started"), markup=False, id="trading-market")
        self.table = PositionsTable(id="positions-table", cursor_type="row", zebra_stripes=True)
        self.signals = SignalsTable(id="signals-table", cursor_type="row")
        self.empty = Static(Text("No open positions."), markup=False, id="positions-empty")
        self.balance = Static(Text(""), markup=False, id="trading-balance")
        self.positions: dict[str, Any] = {}
        self.signal_views: dict[str, Any] = {}
        self.mode = "PAPER"
        self.showing_signals = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="trading-head"):
            yield self.badge
            yield self.market
        yield self.table
        yield self.empty
        yield self.balance

    def on_mount(self) -> None:
        for key, label in POSITION_COLUMNS:
            self.table.add_column(Text(label), key=key)  # Text: a str is parsed as markup (see nodes_pane)
        # The signals list is hidden until `g`: it is mounted right after the first frame, which need not style it.
        self.signals.display = False
        self.call_after_refresh(self._mount_signals)

    def _mount_signals(self) -> None:
        if self.signals.parent is None:
            self.mount(self.signals, after=self.table)
            for key, label in SIGNAL_COLUMNS:
                self.signals.add_column(Text(label), key=key)

    def unavailable(self, reason: str) -> None:
        self.market.update(plain(f"trading unavailable: {reason}", 160))
        self.empty.update(Text("No positions: trading is not running."))

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.badge.update(Text(f" {mode} "))
        self.badge.set_classes("-live" if mode == "LIVE" else "-paper")

    def set_market(self, available: bool, source: str, reason: str) -> None:
        text = f"market data: {source}" if available else (reason or "market data unavailable")
        self.market.update(plain(text, 160))
        self.market.set_class(not available, "-unavailable")

    def show_positions(self, mode: str, positions: tuple[Any, ...], balance: Any) -> None:
        self.set_mode(mode)
        table = self.table
        up = table.get_component_rich_style("pnl--up")
        down = table.get_component_rich_style("pnl--down")
        stale = table.get_component_rich_style("pnl--stale")
        total_style = table.get_component_rich_style("pnl--total")
        cursor_key = None
        if table.row_count and 0 <= table.cursor_row < table.row_count:
            cursor_key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        table.clear()
        self.positions = {p.id: p for p in positions}
        total_upnl = total_margin = 0.0
        for p in positions:
            pnl_style = up if p.unrealized_pnl >= 0 else down
            mark = Text(Numbers.price(p.mark_price) + (" ⚠" if p.stale else ""), style=stale if p.stale else "",
                        justify="right")
            table.add_row(
                plain(short_symbol(p.symbol), 20), plain(p.side),
                Text(f"{p.contracts:g}", justify="right"), Text(Numbers.price(p.entry_price), justify="right"),
                mark, Text(Numbers.money(p.unrealized_pnl, signed=True), style=pnl_style, justify="right"),
                Text(Numbers.price(p.tp_price), justify="right"), Text(Numbers.price(p.sl_price), justify="right"),
                Text(f"{p.leverage}x", justify="right"), Text(Numbers.money(p.margin), justify="right"),
                key=p.id,
            )
            total_upnl += p.unrealized_pnl
            total_margin += p.margin
        if positions:
            pnl_style = (up if total_upnl >= 0 else down) + total_style
            table.add_row(Text("TOTAL", style=total_style), Text(""), Text(""), Text(""), Text(""),
                          Text(Numbers.money(total_upnl, signed=True), style=pnl_style, justify="right"),
                          Text(""), Text(""), Text(""),
                          Text(Numbers.money(total_margin), style=total_style, justify="right"), key=TOTAL_KEY)
        if cursor_key in self.positions:
            table.move_cursor(row=table.get_row_index(cursor_key))
        self.empty.display = not positions and not self.showing_signals
        if balance is not None:
            currency = getattr(balance, "currency", "USDT")
            self.balance.update(Text(
                f"{mode} balance {Numbers.money(balance.balance)} {currency} · equity "
                f"{Numbers.money(balance.equity)} · uPnL {Numbers.money(balance.unrealized_pnl, signed=True)} · "
                f"realized {Numbers.money(balance.realized_pnl, signed=True)} · {balance.open_positions} open"))

    def show_signals(self, recent: tuple[Any, ...], threshold: float) -> None:
        self._mount_signals()
        self.signals.clear()
        self.signal_views = {s.id: s for s in recent[:20]}
        for s in recent[:20]:
            state = "taken" if s.taken else ("ready" if s.actionable else "below")
            self.signals.add_row(
                plain(short_symbol(s.symbol), 20), plain(s.side), Text(f"{s.score:.0f}", justify="right"),
                Text(Numbers.price(s.price), justify="right"),
                Text(f"{s.breakout:.0f}/{s.volume:.0f}/{s.momentum:.0f}", justify="right"), Text(state),
                key=s.id)

    def toggle_signals(self) -> None:
        self._mount_signals()
        self.showing_signals = not self.showing_signals
        self.signals.display = self.showing_signals
        self.table.display = not self.showing_signals
        self.empty.display = not self.positions and not self.showing_signals
        (self.signals if self.showing_signals else self.table).focus()
        if self.showing_signals:
            self.post_message(PositionsPane.SignalsShown())

    def request_close(self) -> None:
        table = self.table
        if not self.positions or table.cursor_row < 0:
            self.app.notify("No position selected.", severity="warning")
            return
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        if key not in self.positions:
            self.app.notify("Select a position row (not the totals row).", severity="warning")
            return
        self.post_message(PositionsTable.CloseRequested(key, self.positions[key].symbol))

    def show_positions_list(self) -> None:
        """Back from the signals list to the positions table (after a signal was taken)."""
        if self.showing_signals:
            self.toggle_signals()

    def request_for_selected_signal(self, request: type[SignalsTable.TakeRequested | SignalsTable.CommentRequested]
                                    ) -> None:
        table = self.signals
        if not self.signal_views or not 0 <= table.cursor_row < table.row_count:
            self.app.notify("No signal selected.", severity="warning")
            return
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        self.post_message(request(self.signal_views[key]))
