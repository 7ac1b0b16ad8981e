"""Paper engine arithmetic against hand-computed cases, with the shipped MEXC market specs.

BTC: contractSize 0.0001, tick 0.1.  ETH: 0.01, tick 0.01.  SOL: 0.1, tick 0.01,
mmr 0.005.  XRP: 1, tick 0.0001.  PEPE: 1,000,000, tick 1e-10.  Taker 0.02%.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jarvis_tui.core.clock import ManualClock
from jarvis_tui.trading.guards import TradingRefused
from jarvis_tui.trading.ledger import SCHEMA_VERSION, PaperLedger
from jarvis_tui.trading.paper import PaperEngine

BTC, ETH, SOL, XRP, PEPE = (f"{b}/USDT:USDT" for b in ("BTC", "ETH", "SOL", "XRP", "PEPE"))


_OPEN: list[PaperLedger] = []


@pytest.fixture(autouse=True)
async def close_ledgers():
    yield
    while _OPEN:
        await _OPEN.pop().close()


async def make_engine(path: Path, specs, *, slippage_pct: float = 0.0, clock=None) -> PaperEngine:
    ledger = await PaperLedger(path).open()
    _OPEN.append(ledger)
    engine = PaperEngine(ledger, specs, slippage_pct=slippage_pct, start_balance=1000.0,
                         clock=clock or ManualClock())
    await engine.restore()
    return engine


async def open_default(engine: PaperEngine, symbol: str, side: str, price: float, **kw):
    return await engine.open_position(symbol, side, margin_usdt=kw.pop("margin", 10.0), leverage=10,
                                      tp_pct=0.4, sl_pct=0.25, price=price, **kw)


async def test_long_btc_open_then_tp(tmp_path: Path, specs) -> None:
    engine = await make_engine(tmp_path / "p.db", specs)
    pos = await open_default(engine, BTC, "long", 97_000.0)
    # 10 USDT x 10 = 100 USDT / (0.0001 x 97000 = 9.7 per contract) = 10.3 -> 10 contracts
    assert pos.contracts == 10
    assert pos.entry_price == 97_000.0
    assert pos.margin == pytest.approx(9.7)  # 10 x 0.0001 x 97000 / 10
    assert pos.fees_paid == pytest.approx(0.0194)  # 97 x 0.0002
    assert pos.tp_price == 97_388.0 and pos.sl_price == 96_757.5
    assert pos.liquidation_price == pytest.approx(97_000 * 0.9 / 0.996)  # 87650.60...
    assert engine.balance == pytest.approx(1000 - 9.7 - 0.0194)

    assert await engine.on_price(BTC, 97_300.0) == []  # below TP: only the mark moves
    assert engine.positions[pos.id].unrealized_pnl == pytest.approx(0.3)  # 300 x 0.001 BTC

    [result] = await engine.on_price(BTC, 97_388.0)
    assert result.reason == "tp" and result.fully_closed
    assert result.gross_pnl == pytest.approx(0.388)  # (97388 - 97000) x 0.001
    assert result.fee == pytest.approx(0.0194776)  # 97.388 x 0.0002
    assert result.position_net_pnl == pytest.approx(0.388 - 0.0194 - 0.0194776)
    assert engine.balance == pytest.approx(1000 + 0.388 - 0.0194 - 0.0194776)
    assert engine.positions == {}
    fills = await engine.ledger.fills(pos.id)
    assert [f["kind"] for f in fills] == ["open", "tp"]
    assert engine.balance_view().realized_pnl == pytest.approx(0.3491224)


async def test_short_eth_with_slippage_hits_sl(tmp_path: Path, specs) -> None:
    engine = await make_engine(tmp_path / "p.db", specs, slippage_pct=0.05)
    pos = await open_default(engine, ETH, "short", 3400.0)
    # sell fill 3400 x 0.9995 = 3398.3 (on tick); 100 / (0.01 x 3398.3) = 2.94 -> 2 contracts
    assert pos.entry_price == 3398.3 and pos.contracts == 2
    assert pos.margin == pytest.approx(6.7966)
    assert pos.fees_paid == pytest.approx(0.0135932)
    assert pos.tp_price == 3384.71  # 3398.3 x 0.996 = 3384.7068 -> nearest 0.01
    assert pos.sl_price == 3406.80  # 3398.3 x 1.0025 = 3406.79575 -> nearest 0.01
    assert pos.liquidation_price == pytest.approx(3398.3 * 1.1 / 1.005)

    assert await engine.on_price(ETH, 3390.0) == []
    assert engine.positions[pos.id].unrealized_pnl == pytest.approx((3398.3 - 3390.0) * 0.02)

    [result] = await engine.on_price(ETH, 3406.80)
    # buy to close: 3406.80 x 1.0005 = 3408.5034 -> rounded UP to 3408.51
    assert result.reason == "sl" and result.price == 3408.51
    assert result.gross_pnl == pytest.approx(-(3408.51 - 3398.3) * 0.02)  # -0.2042
    assert result.fee == pytest.approx(0.02 * 3408.51 * 0.0002)
    assert engine.balance == pytest.approx(1000 - 0.0135932 - 0.2042 - 0.02 * 3408.51 * 0.0002)


async def test_long_liquidation_forfeits_margin(tmp_path: Path, specs) -> None:
    engine = await make_engine(tmp_path / "p.db", specs)
    pos = await engine.open_position(SOL, "long", margin_usdt=10, leverage=10, tp_pct=None, sl_pct=None,
                                     price=190.0)
    assert pos.contracts == 5 and pos.margin == pytest.approx(9.5)  # 100 / 19 = 5.26 -> 5
    assert pos.liquidation_price == pytest.approx(190 * 0.9 / 0.995)  # 171.859...
    assert await engine.on_price(SOL, 172.0) == []
    [result] = await engine.on_price(SOL, 171.0)
    assert result.reason == "liquidation"
    assert result.gross_pnl == pytest.approx(-9.5) and result.fee == 0
    assert engine.balance == pytest.approx(1000 - 9.5 - 0.019)
    assert engine.balance_view().equity == pytest.approx(1000 - 9.5 - 0.019)


async def test_short_liquidation_above(tmp_path: Path, specs) -> None:
    engine = await make_engine(tmp_path / "p.db", specs)
    pos = await engine.open_position(SOL, "short", margin_usdt=10, leverage=10, tp_pct=None, sl_pct=None,
                                     price=190.0)
    assert pos.liquidation_price == pytest.approx(190 * 1.1 / 1.005)  # 207.96
    [result] = await engine.on_price(SOL, 208.0)
    assert result.reason == "liquidation"


async def test_partial_close_releases_proportional_margin(tmp_path: Path, specs) -> None:
    engine = await make_engine(tmp_path / "p.db", specs)
    pos = await open_default(engine, XRP, "long", 2.3)
    assert pos.contracts == 43  # 100 / 2.3 = 43.48
    margin0 = 43 * 2.3 / 10
    result = await engine.close_position(pos.id, price=2.35, fraction=0.5)
    assert result.contracts == 21 and not result.fully_closed  # floor(21.5)
    assert result.gross_pnl == pytest.approx(0.05 * 21)
    assert result.fee == pytest.approx(21 * 2.35 * 0.0002)
    left = engine.positions[pos.id]
    assert left.contracts == 22
    assert left.margin == pytest.approx(margin0 * 22 / 43)
    assert engine.balance == pytest.approx(1000 - margin0 - 43 * 2.3 * 0.0002 + margin0 * 21 / 43 + 1.05
                                           - 21 * 2.35 * 0.0002)
    rest = await engine.close_position(pos.id, price=2.30)
    assert rest.fully_closed and rest.contracts == 22 and rest.gross_pnl == pytest.approx(0.0)


async def test_precision_rounding_and_min_amount(tmp_path: Path, specs) -> None:
    engine = await make_engine(tmp_path / "p.db", specs, slippage_pct=0.01)
    pepe = await open_default(engine, PEPE, "long", 0.0000185)
    # buy fill 0.0000185 x 1.0001 = 0.00001850185 -> up to the 1e-10 tick = 0.0000185019
    assert pepe.entry_price == 0.0000185019
    assert pepe.contracts == 5  # 100 / (1e6 x 0.0000185019 = 18.50) = 5.4 -> 5
    assert pepe.tp_price == 0.0000185759  # x1.004 = 0.00001857591 -> nearest tick
    btc = await open_default(engine, BTC, "long", 97_000.03)
    assert btc.entry_price == 97_009.8  # 97000.03 x 1.0001 = 97009.73 -> up to 0.1
    with pytest.raises(TradingRefused, match="below the market minimum 1"):
        await open_default(engine, BTC, "long", 97_000.0, margin=0.5)  # 5 USDT buys 0.52 contracts


async def test_restore_after_restart_is_exact(tmp_path: Path, specs) -> None:
    clock = ManualClock()
    path = tmp_path / "ledger.db"
    engine = await make_engine(path, specs, slippage_pct=0.03, clock=clock)
    a = await open_default(engine, BTC, "long", 97_123.4)
    clock.advance(5)
    b = await open_default(engine, ETH, "short", 3401.17)
    await engine.close_position(b.id, price=3399.0, fraction=0.5)
    await engine.on_price(BTC, 97_200.0)
    await engine.on_price(ETH, 3395.55)
    c = await open_default(engine, SOL, "long", 190.0)
    await engine.close_position(c.id, price=191.0)
    await engine.flush_marks()
    before = engine.snapshot()
    view_before = engine.balance_view()
    await engine.ledger.close()

    again = await make_engine(path, specs, slippage_pct=0.03, clock=clock)
    assert again.snapshot() == before  # bit-for-bit: REAL round-trips doubles
    assert again.balance_view() == view_before
    assert set(again.positions) == {a.id, b.id}
    await again.ledger.close()


async def test_ledger_schema_is_idempotent_and_prefixed(tmp_path: Path, specs) -> None:
    path = tmp_path / "main.db"
    with sqlite3.connect(path) as db:  # the main store's own table must survive
        db.execute("CREATE TABLE conversations (id INTEGER PRIMARY KEY)")
    for _ in range(2):
        ledger = await PaperLedger(path).open()
        await ledger.close()
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert (db.execute("SELECT version FROM paper_schema").fetchall()) == [(SCHEMA_VERSION,)]
    assert "conversations" in tables
    assert {t for t in tables if t != "conversations" and not t.startswith("sqlite_")} == {
        "paper_schema", "paper_account", "paper_positions", "paper_fills", "paper_balance", "paper_signals",
        "paper_live_orders"}


async def test_insufficient_balance_and_unknown_market(tmp_path: Path, specs) -> None:
    engine = await make_engine(tmp_path / "p.db", specs)
    with pytest.raises(TradingRefused, match="cannot cover"):
        await open_default(engine, BTC, "long", 97_000.0, margin=2000)
    with pytest.raises(TradingRefused, match="not a configured"):
        await open_default(engine, "FOO/USDT:USDT", "long", 1.0)
