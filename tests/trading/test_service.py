"""TradingService in paper mode: events, staleness, signals, replay of the shipped sample."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest

from jarvis_tui.core.clock import ManualClock
from jarvis_tui.paths import data_file
from jarvis_tui.trading.events import (
    MarketDataStatus,
    PositionClosed,
    PositionsUpdated,
    SignalsUpdated,
)
from jarvis_tui.trading.guards import TradingRefused
from jarvis_tui.trading.replay import (
    ReplayClock,
    ReplayError,
    candle_ticks,
    play,
    read_ohlcv_csv,
)
from jarvis_tui.trading.service import TradingService, replay_settings
from jarvis_tui.trading.signals import SignalScanner, rsi, score_candles

SAMPLE = data_file("ohlcv/BTC_USDT-1m.csv")
BTC = "BTC/USDT:USDT"


@pytest.fixture
def paper(make_service):
    """Paper services: no --live flag, no keys."""
    return functools.partial(make_service, live_flag=False, env={})


def drain(sub) -> list:
    return list(iter(sub.get_nowait, None))


async def test_paper_open_close_publishes_and_marks_go_stale(paper, mexc) -> None:
    clock = ManualClock(wall=1_767_571_200.0)
    service = await paper(clock=clock, max_price_age_s=10.0)
    sub = service.bus.subscribe(PositionsUpdated, MarketDataStatus, PositionClosed)
    with pytest.raises(TradingRefused, match="no price for BTC"):
        await service.open_position("BTC", "long")
    assert await service.refresh_once()
    view = await service.open_position("btc", "long")
    assert service.mode == "PAPER" and view.mode == "PAPER" and not view.stale
    events = drain(sub)
    assert any(isinstance(e, MarketDataStatus) and e.available for e in events)
    last = [e for e in events if isinstance(e, PositionsUpdated)][-1]
    assert last.positions[0].symbol == BTC and last.balance.open_positions == 1

    clock.advance(11)
    assert service.positions()[0].stale  # the mark is older than max_price_age_s
    mexc.state.down = True
    assert not await service.refresh_once()
    assert service.market_data.reason.startswith("market data unavailable")
    [stale] = service.positions()
    assert stale.stale and stale.mark_price == 97000.0  # the last mark is kept
    with pytest.raises(TradingRefused, match="price is 11s old"):
        await service.open_position("ETH", "long")
    drain(sub)

    # a paper close fills at our quote: on an 11s-old one it is refused, in one line that says what to do
    with pytest.raises(TradingRefused) as refused:
        await service.close_position("BTC")
    assert str(refused.value) == ("close refused: the BTC/USDT:USDT price is 11s old (limit 10s); a paper close "
                                  "fills at the current price; wait for market data to return and close again")
    assert refused.value.code == "stale-price"
    assert len(service.positions()) == 1 and not [e for e in drain(sub) if isinstance(e, PositionClosed)]
    with pytest.raises(TradingRefused, match="close refused: the BTC/USDT:USDT price is 11s old"):
        await service.close_position("BTC", fraction=0.5)  # a partial close too

    mexc.state.down = False
    mexc.state.prices["BTC_USDT"] = 97_100.0
    assert await service.refresh_once()
    result = await service.close_position("BTC")
    assert result.fully_closed and result.price == 97_100.0  # the fresh price, not the stale 97000 mark
    closed = [e for e in drain(sub) if isinstance(e, PositionClosed)]
    assert closed and closed[0].reason == "manual"


async def test_paper_caps_apply_too(paper, mexc) -> None:
    service = await paper(max_open_positions=2)
    await service.refresh_once()
    await service.open_position("BTC", "long")
    await service.open_position("ETH", "short")
    with pytest.raises(TradingRefused, match="maximum is 2"):
        await service.open_position("SOL", "long")


async def test_kill_paper_needs_confirmation(paper, mexc) -> None:
    service = await paper()
    await service.refresh_once()
    await service.open_position("BTC", "long")
    await service.open_position("XRP", "short")
    with pytest.raises(TradingRefused):
        await service.kill("")
    report = await service.kill("KILL")
    assert sorted(report.closed) == [BTC, "XRP/USDT:USDT"] and service.positions() == []


async def test_paper_kill_closes_fresh_positions_and_reports_stale_ones(paper, mexc) -> None:
    """Best effort, as the live kill: fresh prices are closed, a stale one is left open and named."""
    clock = ManualClock(wall=1_767_571_200.0)
    service = await paper(clock=clock, max_price_age_s=10.0)
    await service.refresh_once()
    await service.open_position("BTC", "long")
    await service.open_position("XRP", "short")
    clock.advance(11)
    await service.on_quote(BTC, 97_050.0, clock.time())  # BTC is fresh again, XRP's price is 11s old
    sub = service.bus.subscribe(PositionClosed)
    report = await service.kill("KILL")
    assert report.closed == [BTC] and report.left_open == ["XRP/USDT:USDT"]
    assert report.errors == [("1 paper position(s) left open on stale prices (XRP/USDT:USDT 11s old, limit 10s); "
                              "run the kill switch again once market data is back")]
    assert [(e.symbol, e.reason, e.price) for e in drain(sub)] == [(BTC, "kill", 97_050.0)]
    [left] = service.positions()
    assert left.symbol == "XRP/USDT:USDT" and left.stale

    assert await service.refresh_once()
    again = await service.kill("KILL")
    assert again.closed == ["XRP/USDT:USDT"] and not again.errors and service.positions() == []


async def test_restart_restores_positions_and_signals(paper, mexc) -> None:
    first = await paper()
    await first.refresh_once()
    await first.open_position("SOL", "short")
    candles = read_ohlcv_csv(SAMPLE)[:71]
    signal = await first.on_candles(BTC, candles)
    assert signal is not None and signal.score >= 70
    before = (first.positions(), first.balance())
    await first.stop()
    second = await paper()
    assert [p.id for p in second.positions()] == [p.id for p in before[0]]
    assert second.balance() == before[1]
    assert second.signals()[0].id == signal.id


# ------------------------------------------------------------ signals
def test_rsi_reference_values() -> None:
    assert rsi([float(x) for x in range(1, 40)]) == 100.0
    assert rsi([float(x) for x in range(40, 1, -1)]) == pytest.approx(0.0)
    assert rsi([1.0, 2.0] * 20) == pytest.approx(50.0, abs=3)


def test_scores_on_the_sample() -> None:
    candles = read_ohlcv_csv(SAMPLE)
    long_break = score_candles(candles[:71])
    assert long_break[0] == "long" and long_break[1] >= 90
    assert long_break[2] == {"breakout": 40.0, "volume": 30.0, "momentum": long_break[2]["momentum"]}
    short_break = score_candles(candles[:216])
    assert short_break[0] == "short" and short_break[1] >= 90
    quiet = score_candles(candles[:50])
    assert quiet[1] < 70
    assert score_candles(candles[:10]) is None  # not enough history


def test_scanner_signals_once_per_candle_and_keeps_scores() -> None:
    candles = read_ohlcv_csv(SAMPLE)
    scanner = SignalScanner(threshold=70)
    assert scanner.evaluate(BTC, candles[:50]) is None and scanner.latest[BTC].score < 70
    first = scanner.evaluate(BTC, candles[:71])
    assert first is not None and first.actionable
    assert scanner.evaluate(BTC, candles[:71]) is None  # the same candle again
    assert scanner.find("BTC") == first and scanner.recent_views()[0] == first


async def test_take_signal_opens_with_configured_size(paper, mexc) -> None:
    service = await paper()
    sub = service.bus.subscribe(SignalsUpdated)
    candles = read_ohlcv_csv(SAMPLE)[:71]
    await service.on_quote(BTC, candles[-1][4], service.clock.time())
    signal = await service.on_candles(BTC, candles)
    assert signal is not None and service.positions() == []  # auto_trade is off by default
    view = await service.take_signal(signal.id)
    assert view.side == signal.side and view.leverage == 10
    assert view.margin == pytest.approx(view.notional / 10) and view.margin <= 10
    assert service.signals()[0].taken
    assert drain(sub)[-1].recent[0].taken


# ------------------------------------------------------------ replay
async def test_replay_of_the_sample_trades_tp_and_sl(settings, tmp_path) -> None:
    service = TradingService(replay_settings(settings), db_path=":memory:", clock=ReplayClock())
    await service.start(background=False)
    try:
        summary = await service.run_replay(SAMPLE, speed=0)
    finally:
        await service.stop()
    assert summary.candles == 420 and summary.ticks == 1680
    assert summary.closed == {"tp": 3, "sl": 2} and summary.opened == 5
    assert summary.wins == 3 and summary.losses == 2
    # 3 x TP (~+0.39 USDT gross each) against 2 x SL (~-0.24 each), minus fees: small profit
    assert 0 < summary.net_pnl < 1.5
    assert summary.final_equity == pytest.approx(1000 + summary.net_pnl)


async def test_replay_speed_sleeps_market_time_over_speed() -> None:
    candles = read_ohlcv_csv(SAMPLE)[:5]
    slept: list[float] = []
    ticks: list[tuple[float, float]] = []
    clock = ReplayClock()

    async def on_tick(symbol, price, ts):
        ticks.append((price, clock.time()))

    async def fake_sleep(seconds):
        slept.append(seconds)

    stats = await play(candles, symbol=BTC, speed=60, clock=clock, on_tick=on_tick, sleep=fake_sleep)
    assert stats.candles == 5 and slept == [1.0] * 5  # a 1m candle per second at speed 60
    assert [p for p, _ in ticks[:4]] == candle_ticks(candles[0])
    assert ticks[3][1] == candles[0][0] / 1000 + 60  # the close tick lands at the candle's end


def test_candle_tick_order() -> None:
    assert candle_ticks((0, 10, 12, 9, 11, 1)) == [10, 9, 12, 11]  # rising: low before high
    assert candle_ticks((0, 11, 12, 9, 10, 1)) == [11, 12, 9, 10]  # falling: high before low


@pytest.mark.parametrize("text, message", [
    ("time,open\n1,2\n", "header needs the columns"),
    ("timestamp,open,high,low,close,volume\n1,2,3,1,2,x\n", ":2: not a number"),
    ("timestamp,open,high,low,close,volume\n1,2,1,1,2,5\n", ":2: impossible candle"),
    ("timestamp,open,high,low,close,volume\n2,2,3,1,2,5\n1,2,3,1,2,5\n", ":3: timestamps must increase"),
    ("timestamp,open,high,low,close,volume\n", "no candles"),
])
def test_bad_csv_is_one_located_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ReplayError, match=message):
        read_ohlcv_csv(path)


async def test_background_feed_polls_and_publishes(paper, mexc) -> None:
    service = await paper()
    sub = service.bus.subscribe(MarketDataStatus)
    service._tasks.append(asyncio.create_task(service._price_feed()))
    for _ in range(100):
        if service.market_data.available:
            break
        await asyncio.sleep(0.05)
    assert service.market_data.available and service.market_data.source == "poll"
    assert drain(sub)[0].available
    assert service._engine().last_quote(BTC)[0] == 97000.0
