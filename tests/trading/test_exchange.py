"""The real ccxt MEXC client against a loopback MEXC contract API; markets are loaded offline."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from jarvis_tui.trading.exchange import ExchangeGateway, ExchangeUnavailable
from jarvis_tui.trading.markets import cache_path, read_markets_file, snapshot_path
from jarvis_tui.trading.settings import DEFAULT_PAIRS
from jarvis_tui.trading.snapshot import build_snapshot
from tests.conftest import free_port

BTC = "BTC/USDT:USDT"


@pytest.fixture
async def gateway(mexc):
    gw = ExchangeGateway(pairs=DEFAULT_PAIRS, base_url=mexc.url, timeout_s=3.0)
    yield gw
    await gw.close()


async def test_markets_load_offline_from_snapshot(gateway, mexc) -> None:
    client = gateway.client
    assert gateway.markets_source == "snapshot"
    await client.load_markets()  # set_markets made this a no-op: no HTTP
    assert mexc.state.requests == []
    market = client.market(BTC)
    assert market["id"] == "BTC_USDT" and market["contractSize"] == 0.0001 and market["swap"]
    assert client.amount_to_precision(BTC, 10.7) == "10"


async def test_fetch_ticker_quote_and_poll(gateway, mexc) -> None:
    quote = await gateway.fetch_quote(BTC)
    assert quote.price == 97000.0 and quote.bid == 97000.0
    assert mexc.state.paths() == ["/api/v1/contract/ticker"]
    assert gateway.state.available and gateway.state.source == "poll"
    quotes = await gateway.poll_once()
    assert {q.symbol for q in quotes} == set(DEFAULT_PAIRS)


async def test_exchange_down_means_market_data_unavailable(gateway, mexc) -> None:
    mexc.state.down = True
    with pytest.raises(ExchangeUnavailable, match="market data unavailable"):
        await gateway.fetch_quote(BTC)
    assert not gateway.state.available
    assert await gateway.poll_once() == []
    assert gateway.state.reason.startswith("market data unavailable")


async def test_refused_connection_is_unavailable_not_a_crash() -> None:
    gw = ExchangeGateway(pairs=(BTC,), base_url=f"http://127.0.0.1:{free_port()}", timeout_s=2.0)
    try:
        assert await gw.poll_once() == []
        assert "market data unavailable" in gw.state.reason
    finally:
        await gw.close()


async def test_price_feed_falls_back_from_websocket_to_polling(mexc) -> None:
    gw = ExchangeGateway(pairs=(BTC,), base_url=mexc.url, ws_url=f"ws://127.0.0.1:{free_port()}", timeout_s=2.0)
    got: list[float] = []
    statuses: list[bool] = []

    async def on_quote(q) -> None:
        got.append(q.price)

    task = asyncio.create_task(gw.run_price_feed(on_quote, poll_s=0.05, source="auto",
                                                 on_status=lambda s: statuses.append(s.available)))
    try:
        for _ in range(200):
            if len(got) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await gw.close()
    assert got[:2] == [97000.0, 97000.0]
    assert statuses and statuses[0] is True and gw.state.source == "poll"


async def test_fetch_ohlcv_parses_mexc_kline(gateway) -> None:
    candles = await gateway.fetch_ohlcv(BTC, "1m", limit=30)
    assert len(candles) == 30 and candles[0][0] == 1767571200000 and candles[0][4] == 97000.0


async def test_refresh_markets_writes_cache_then_cache_wins(gateway, mexc, isolated_dirs) -> None:
    count = await gateway.refresh_markets()
    assert count == 10 and mexc.state.paths() == ["/api/v1/contract/detail"]
    cached = cache_path()
    assert cached.is_relative_to(isolated_dirs / "cache")
    assert read_markets_file(cached)[BTC]["contractSize"] == 0.0001
    fresh = ExchangeGateway(pairs=(BTC,), base_url=mexc.url)
    try:
        assert fresh.client.market(BTC)["id"] == "BTC_USDT" and fresh.markets_source == "cache"
    finally:
        await fresh.close()


def test_snapshot_is_what_ccxt_parses_from_the_raw_detail() -> None:
    rebuilt = build_snapshot()
    shipped = json.loads(snapshot_path().read_text())["markets"]
    assert json.loads(json.dumps(rebuilt, sort_keys=True)) == shipped
    assert set(shipped) == set(DEFAULT_PAIRS)


def test_credentials_hidden_in_repr(mexc) -> None:
    from jarvis_tui.trading.guards import Credentials

    creds = Credentials("AKEY-123", "SECRET-456", source="$MEXC_API_KEY, $MEXC_SECRET")
    gw = ExchangeGateway(pairs=(BTC,), credentials=creds, base_url=mexc.url)
    for text in (repr(gw), repr(creds), str(creds), repr(replace(creds))):
        assert "AKEY-123" not in text and "SECRET-456" not in text
