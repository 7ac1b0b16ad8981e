"""A loopback MEXC contract (swap) WebSocket: ``sub.ticker`` / ``push.ticker`` and ping / pong.

The wire format is MEXC's futures WebSocket API (wss://contract.mexc.com/edge), as
ccxt.pro's ``mexc`` speaks it (ccxt/pro/mexc.py ``watch_swap_public``,
``handle_ticker``, ``ping``):

- the client subscribes with ``{"method": "sub.ticker", "param": {"symbol": "BTC_USDT"}}``
  and the server acknowledges with ``{"channel": "rs.sub.ticker", "data": "success", "ts": ...}``;
- the server then pushes, in text frames (MEXC pushes every second; here every ``interval_s``)::

      {"channel": "push.ticker", "symbol": "BTC_USDT", "ts": ...,
       "data": {"symbol": "BTC_USDT", "lastPrice": ..., "bid1": ..., "ask1": ..., "fairPrice": ...,
                "indexPrice": ..., "volume24": ..., "amount24": ..., "holdVol": ..., "lower24Price": ...,
                "high24Price": ..., "riseFallRate": ..., "riseFallValue": ..., "fundingRate": ...,
                "maxBidPrice": ..., "minAskPrice": ..., "timestamp": ..., "zone": "UTC+8",
                "riseFallRates": [...], "riseFallRatesOfTimezone": [...]}}

- ``{"method": "ping"}`` is answered ``{"channel": "pong", "data": <ms>}``; ccxt sends it every
  ``keepAlive`` ms and declares the connection dead after two missed pongs.

Switches: ``refuse`` (handshake answered 503), ``drop_all()`` (close every open connection),
``push`` (False: acknowledge but stay silent), ``answer_pings`` (False: never pong),
``close_after`` (close a connection after that many pushes).  Everything the clients sent is
recorded in ``received``.  The server runs aiohttp in its own daemon thread and event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.trading.mexc_server import MexcState


def _now_ms() -> int:
    return int(time.time() * 1000)


def ticker_push(symbol: str, price: float) -> dict[str, Any]:
    """One ``push.ticker`` frame in MEXC's field set (ccxt's handle_ticker sample)."""
    ts = _now_ms()
    return {"symbol": symbol, "channel": "push.ticker", "ts": ts, "data": {
        "symbol": symbol, "lastPrice": price, "riseFallRate": 0.0123, "fairPrice": price, "indexPrice": price,
        "volume24": 962062810, "amount24": 7344207079.96768, "maxBidPrice": price * 1.1,
        "minAskPrice": price * 0.9, "lower24Price": price * 0.97, "high24Price": price * 1.02, "timestamp": ts,
        "bid1": price, "ask1": price, "holdVol": 95479623, "riseFallValue": price * 0.0123,
        "fundingRate": 0.0001, "zone": "UTC+8", "riseFallRates": [0.0123, 0.1008, 0.2262, 0.2628, 0.2439, 1.0564],
        "riseFallRatesOfTimezone": [0.0065, -0.0013, 0.0123]}}


@dataclass
class WsState:
    prices: dict[str, float] = field(default_factory=lambda: dict(MexcState().prices))
    interval_s: float = 0.02
    refuse: bool = False
    push: bool = True
    answer_pings: bool = True
    close_after: int | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    pushes: int = 0
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def methods(self) -> list[str]:
        with self.lock:
            return [m.get("method", "?") for m in self.received]


class MexcWsServer:
    """``with MexcWsServer() as ws: ExchangeGateway(..., ws_url=ws.url)``."""

    def __init__(self) -> None:
        self.state = WsState()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.thread = threading.Thread(target=self._serve, name="mexc-ws-loopback", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/edge"

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> MexcWsServer:
        self.thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("loopback MEXC WebSocket did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self.thread.join(5)
        self._loop.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/edge", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        await self._close_sockets()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _close_sockets(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    def drop_all(self) -> None:
        """Close every open connection (the server side of a dropped stream)."""
        asyncio.run_coroutine_threadsafe(self._close_sockets(), self._loop).result(5)

    # ------------------------------------------------------------ protocol
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        s = self.state
        if s.refuse:
            return web.Response(status=503, text="service unavailable")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with s.lock:
            s.connections += 1
        self._sockets.add(ws)
        pushers: list[asyncio.Task[None]] = []
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                message = json.loads(msg.data)
                with s.lock:
                    s.received.append(message)
                method = message.get("method")
                if method == "ping":
                    if s.answer_pings:
                        await ws.send_json({"channel": "pong", "data": _now_ms()})
                elif method == "sub.ticker":
                    symbol = (message.get("param") or {}).get("symbol")
                    await ws.send_json({"channel": "rs.sub.ticker", "data": "success", "ts": _now_ms()})
                    pushers.append(asyncio.create_task(self._push_ticker(ws, symbol)))
                elif method == "unsub.ticker":
                    await ws.send_json({"channel": "rs.unsub.ticker", "data": "success", "ts": _now_ms()})
                else:
                    await ws.send_json({"channel": "rs.error", "data": f"unknown method {method}", "ts": _now_ms()})
        finally:
            for task in pushers:
                task.cancel()
            await asyncio.gather(*pushers, return_exceptions=True)
            self._sockets.discard(ws)
        return ws

    async def _push_ticker(self, ws: web.WebSocketResponse, symbol: str) -> None:
        s = self.state
        sent = 0
        while not ws.closed:
            if s.push and symbol in s.prices:
                await ws.send_json(ticker_push(symbol, s.prices[symbol]))
                sent += 1
                with s.lock:
                    s.pushes += 1
                if s.close_after is not None and sent >= s.close_after:
                    await ws.close()
                    return
            await asyncio.sleep(s.interval_s)
