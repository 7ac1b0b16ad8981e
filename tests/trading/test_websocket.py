"""Prices through ccxt.pro ``watch_ticker`` against a loopback MEXC contract WebSocket.

The production ExchangeGateway / TradingService run unchanged; only the host moves (ccxt's
``urls['api']['ws']['swap']`` and the REST ``contract`` URLs point at the loopback servers).
The WebSocket server quotes other prices than the REST one, so every quote says which path it
came through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest

from jarvis_tui.core.events import EventBus
from jarvis_tui.trading.events import MarketDataStatus
from jarvis_tui.trading.exchange import ExchangeGateway, Quote
from jarvis_tui.trading.service import TradingService
from tests.conftest import free_port

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
WS_BTC, REST_BTC = 97_123.4, 97_000.0  # the WebSocket's price and the REST ticker's price


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Feed:
    """Runs the production price feed in a task and records what it delivers."""

    def __init__(self, gateway: ExchangeGateway, **kwargs) -> None:
        self.gateway = gateway
        self.quotes: list[Quote] = []
        self.statuses: list[tuple[bool, str, str]] = []
        kwargs.setdefault("poll_s", 0.05)
        self.task = asyncio.create_task(gateway.run_price_feed(self._quote, on_status=self._status, **kwargs))

    async def _quote(self, quote: Quote) -> None:
        self.quotes.append(quote)

    def _status(self, state) -> None:
        self.statuses.append((state.available, state.source, state.reason))

    def prices(self, symbol: str = BTC) -> list[float]:
        return [q.price for q in self.quotes if q.symbol == symbol]

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.gateway.close()


@pytest.fixture
async def feeds():
    started: list[Feed] = []

    def start(gateway: ExchangeGateway, **kwargs) -> Feed:
        feed = Feed(gateway, **kwargs)
        started.append(feed)
        return feed

    yield start
    for feed in started:
        await feed.stop()


@pytest.fixture
def ws(mexc_ws):
    mexc_ws.state.prices["BTC_USDT"] = WS_BTC
    return mexc_ws


def gateway_for(mexc, ws_url: str, pairs=(BTC,), **kwargs) -> ExchangeGateway:
    return ExchangeGateway(pairs=pairs, base_url=mexc.url, ws_url=ws_url, timeout_s=2.0, **kwargs)


async def test_watch_ticker_speaks_mexc_contract_protocol(mexc, ws, feeds) -> None:
    feed = feeds(gateway_for(mexc, ws.url, pairs=(BTC, ETH)), source="websocket")
    await wait_until(lambda: feed.prices(BTC) and feed.prices(ETH))
    assert feed.prices(BTC)[0] == WS_BTC and feed.prices(ETH)[0] == 3400.0
    quote = feed.quotes[0]
    assert quote.bid == quote.ask == quote.price  # bid1 / ask1 parsed by ccxt's handle_ticker
    ws.state.prices["BTC_USDT"] = 97_200.5
    await wait_until(lambda: feed.prices(BTC)[-1] == 97_200.5)
    subscriptions = [m for m in ws.state.received if m["method"] == "sub.ticker"]
    assert sorted(subscriptions, key=str) == [{"method": "sub.ticker", "param": {"symbol": "BTC_USDT"}},
                                              {"method": "sub.ticker", "param": {"symbol": "ETH_USDT"}}]
    assert ws.state.connections == 1  # one socket carries every pair
    assert "/api/v1/contract/ticker" not in mexc.state.paths()  # nothing was polled
    assert feed.statuses[0] == (True, "websocket", "") and feed.gateway.state.source == "websocket"


async def test_pings_are_answered_and_keep_the_stream_alive(mexc, ws, feeds) -> None:
    feed = feeds(gateway_for(mexc, ws.url, ws_keepalive_s=0.1), source="websocket")
    await wait_until(lambda: ws.state.methods().count("ping") >= 4)
    count = len(feed.prices())
    await wait_until(lambda: len(feed.prices()) > count)  # still streaming after several keepalive rounds
    assert {"method": "ping"} in ws.state.received and ws.state.connections == 1
    assert not feed.task.done() and set(feed.prices()) == {WS_BTC}


async def test_missed_pongs_fall_back_to_polling(mexc, ws, feeds) -> None:
    ws.state.answer_pings = False
    feed = feeds(gateway_for(mexc, ws.url, ws_keepalive_s=0.1), source="auto")
    await wait_until(lambda: REST_BTC in feed.prices())  # ccxt's keepalive gave up: RequestTimeout
    assert feed.prices()[0] == WS_BTC and feed.gateway.state.source == "poll"
    assert [s[1] for s in feed.statuses] == ["websocket", "poll"]


async def test_dropped_stream_falls_back_to_polling_then_returns(mexc, ws, feeds) -> None:
    feed = feeds(gateway_for(mexc, ws.url), source="auto", ws_retry_s=0.3)
    await wait_until(lambda: WS_BTC in feed.prices())
    ws.state.refuse = True  # new handshakes get a 503
    ws.drop_all()
    await wait_until(lambda: REST_BTC in feed.prices())
    assert feed.gateway.state.source == "poll" and "/api/v1/contract/ticker" in mexc.state.paths()
    await asyncio.sleep(0.5)  # a retry hits the refused handshake and polling carries on
    assert feed.prices()[-1] == REST_BTC and not feed.task.done()
    ws.state.refuse = False
    ws.state.prices["BTC_USDT"] = 97_300.0
    await wait_until(lambda: 97_300.0 in feed.prices())  # the retry found the WebSocket again
    assert feed.gateway.state.source == "websocket" and ws.state.connections == 2
    assert [s[1] for s in feed.statuses] == ["websocket", "poll", "websocket"]


async def test_stream_closed_by_the_server_falls_back(mexc, ws, feeds) -> None:
    ws.state.close_after = 3
    feed = feeds(gateway_for(mexc, ws.url), source="auto")
    await wait_until(lambda: REST_BTC in feed.prices())
    assert feed.prices()[:3] == [WS_BTC] * 3 and feed.gateway.state.source == "poll"


async def test_silent_stream_is_declared_stalled(mexc, ws, feeds) -> None:
    ws.state.push = False  # subscribed and acknowledged, then nothing
    feed = feeds(gateway_for(mexc, ws.url), source="auto", stall_s=0.3)
    await wait_until(lambda: REST_BTC in feed.prices())
    assert set(feed.prices()) == {REST_BTC} and ws.state.methods() == ["sub.ticker"]


async def test_websocket_only_source_reports_the_failure(mexc, feeds) -> None:
    feed = feeds(gateway_for(mexc, f"ws://127.0.0.1:{free_port()}/edge"), source="websocket")
    await asyncio.wait_for(asyncio.shield(feed.task), 5)  # returns: no polling in this mode
    assert feed.quotes == [] and "/api/v1/contract/ticker" not in mexc.state.paths()
    assert feed.statuses == [(False, "none", "market data unavailable: websocket failed (NetworkError)")]


async def test_service_goes_websocket_poll_then_unavailable(mexc, ws, settings, tmp_path) -> None:
    """The cockpit's feed: WebSocket ticks, REST polling when the stream dies, stale when both are down."""
    bus = EventBus()
    statuses = bus.subscribe(MarketDataStatus)
    service = TradingService(replace(settings, pairs=(BTC,), price_source="auto", exchange_ws_url=ws.url,
                                     poll_s=0.05, ws_retry_s=30.0, scan_interval_s=600.0),
                             db_path=tmp_path / "jarvis.db", bus=bus)
    await service.start(background=True)
    try:
        assert service.market_data.reason.startswith("market data idle")  # no position yet: nothing runs
        assert await service.ensure_market_data() and not await service.ensure_market_data()
        await wait_until(lambda: service.market_data.source == "websocket")
        position = await service.open_position("BTC", "long")
        assert position.entry_price == WS_BTC and not position.stale

        ws.state.refuse = True
        ws.drop_all()
        await wait_until(lambda: service.market_data.source == "poll")
        await wait_until(lambda: service.positions()[0].mark_price == REST_BTC)
        assert not service.positions()[0].stale

        mexc.state.down = True
        await wait_until(lambda: not service.market_data.available)
        assert service.market_data.reason.startswith("market data unavailable")
        [view] = service.positions()
        assert view.stale and view.mark_price == REST_BTC  # the last mark is kept, flagged stale
    finally:
        await service.stop()
    statuses.close()
    seen = [(e.available, e.source) async for e in statuses]
    assert seen[:4] == [(False, "none"), (True, "websocket"), (True, "poll"), (False, "none")]  # idle first


async def test_going_live_moves_the_feed_to_the_live_gateway(mexc, ws, settings, tmp_path, live_env) -> None:
    service = TradingService(replace(settings, pairs=(BTC,), price_source="auto", exchange_ws_url=ws.url,
                                     scan_interval_s=600.0),
                             db_path=tmp_path / "jarvis.db", bus=EventBus(), live_flag=True, env=live_env)
    await service.start(background=True)
    try:
        await service.ensure_market_data()
        await wait_until(lambda: service.market_data.source == "websocket")
        paper_gateway = service.gateway
        await service.view_live()
        assert service.gateway is not paper_gateway and paper_gateway._ws_client is None  # closed, not leaked
        ws.state.prices["BTC_USDT"] = 97_400.0
        await wait_until(lambda: service._engine().last_quote(BTC)[0] == 97_400.0)  # the feed lives on
        assert ws.state.connections == 2 and service.gateway._ws_client is not None
        assert service.market_data.source == "websocket"
    finally:
        await service.stop()
