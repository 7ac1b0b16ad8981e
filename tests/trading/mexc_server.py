"""A loopback MEXC contract API: the endpoints jarvis uses, in MEXC's real response shapes.

Shapes follow MEXC's futures API docs and the examples in ccxt's mexc.py
(``{"success": true, "code": 0, "data": ...}``).  Private calls must carry
MEXC's ApiKey / Request-Time / Signature headers, and the signature is checked
(HMAC-SHA256 of apiKey + Request-Time + body-or-sorted-query), so the real
ccxt signing path is exercised.  Market orders fill at once at the ticker's
last price and move a one-way position book; plan (trigger) orders are kept
until cancelled and listed by ``planorder/list/orders`` in MEXC's documented
row shape (no externalOid: MEXC does not return one for plan orders).
Failure switches let tests drop a response (order or plan order), reject plan
orders or take the whole exchange down.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from jarvis_tui.paths import data_file

TEST_KEY = "mx0vgl-test-key-AAAAAAAA"
TEST_SECRET = "test-secret-0123456789abcdef-ZZZZ"
PLAN_UNTRIGGERED, PLAN_CANCELLED = 1, 2  # planorder states: 1 untriggered, 2 cancelled, 3 executed, 4 invalid


@dataclass
class MexcState:
    prices: dict[str, float] = field(default_factory=lambda: {
        "BTC_USDT": 97000.0, "ETH_USDT": 3400.0, "SOL_USDT": 190.0, "SUI_USDT": 3.8, "PEPE_USDT": 0.0000185,
        "DOGE_USDT": 0.34, "XRP_USDT": 2.3, "ADA_USDT": 0.95, "AVAX_USDT": 38.0, "LINK_USDT": 22.0})
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    plan_orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    positions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    # GET account/assets rows, in MEXC's field set (availableBalance = cashBalance - positionMargin - frozenBalance,
    # equity = cashBalance + unrealized)
    assets: list[dict[str, Any]] = field(default_factory=lambda: [
        {"currency": "USDT", "positionMargin": 9.7, "availableBalance": 812.3456, "cashBalance": 822.0456,
         "frozenBalance": 0, "equity": 822.5, "unrealized": 0.4544, "bonus": 0, "availableCash": 812.3456,
         "availableOpen": 812.3456},
        {"currency": "BTC", "positionMargin": 0, "availableBalance": 0, "cashBalance": 0, "frozenBalance": 0,
         "equity": 0, "unrealized": 0, "bonus": 0, "availableCash": 0, "availableOpen": 0}])
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path, body)
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    down: bool = False  # every request: connection closed without an answer
    drop_next_create: int = 0  # order/create is executed, then the connection drops (a lost reply)
    drop_next_plan: int = 0  # planorder/place is executed, then the connection drops (a lost reply)
    reject_plan: bool = False  # planorder/place answers an error
    reject_plan_after: int | None = None  # accept this many plan orders, then reject
    fill: bool = True  # market orders fill at once (False: they stay open, state 2)
    ids: Any = field(default_factory=lambda: itertools.count(739001234567890001))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p, _ in self.requests if method is None or m == method]


def _contract_size(symbol: str) -> float:
    detail = json.loads(data_file("markets/mexc_contract_detail.json").read_text())
    return next(float(c["contractSize"]) for c in detail["data"] if c["symbol"] == symbol)


def _ok(data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "code": 0}
    if data is not None:
        body["data"] = data
    return body


def _err(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "code": code, "message": message}


class MexcHandler(BaseHTTPRequestHandler):
    state: MexcState
    detail: bytes

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    # ------------------------------------------------------------ plumbing
    def _dispatch(self, method: str) -> None:
        state = self.state
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        body = json.loads(raw) if raw else None
        with state.lock:
            state.requests.append((method, url.path, body))
            state.headers_seen.append(dict(self.headers))
        if state.down:
            self.close_connection = True
            self.connection.close()
            return
        if url.path.startswith("/api/v1/private/"):
            if not self._signed(method, raw, url.query):
                return self._send({"success": False, "code": 602, "message": "Signature verification failed!"})
        try:
            with state.lock:
                reply = self._route(method, url.path, dict(parse_qsl(url.query)), body)
        except KeyError as exc:
            reply = _err(1001, f"Contract does not exist: {exc}")
        if reply is None:  # a dropped reply
            self.close_connection = True
            self.connection.close()
            return
        self._send(reply)

    def _signed(self, method: str, raw: str, query: str) -> bool:
        key = self.headers.get("ApiKey")
        ts = self.headers.get("Request-Time")
        signature = self.headers.get("Signature")
        if key != TEST_KEY or not ts or not signature:
            return False
        payload = raw if method == "POST" else query
        expected = hmac.new(TEST_SECRET.encode(), (key + ts + payload).encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def _send(self, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # ------------------------------------------------------------ routes
    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        s = self.state
        if path == "/api/v1/contract/detail":
            return self.detail
        if path == "/api/v1/contract/ticker":
            symbol = query["symbol"]
            price = s.prices[symbol]
            return _ok({"symbol": symbol, "lastPrice": price, "bid1": price, "ask1": price, "volume24": 4045530,
                        "amount24": 141331823.5755, "holdVol": 5832946, "lower24Price": price * 0.97,
                        "high24Price": price * 1.02, "riseFallRate": 0.0275, "riseFallValue": price * 0.0275,
                        "indexPrice": price, "fairPrice": price, "fundingRate": 0.000063,
                        "maxBidPrice": price * 1.1, "minAskPrice": price * 0.9, "timestamp": 1767571200000})
        if path.startswith("/api/v1/contract/kline/"):
            symbol = path.rsplit("/", 1)[1]
            price = s.prices[symbol]
            times = [1767571200 + 60 * i for i in range(30)]
            return _ok({"time": times, "open": [price] * 30, "close": [price] * 30, "high": [price] * 30,
                        "low": [price] * 30, "vol": [100.0] * 30, "amount": [price * 100] * 30})
        if path == "/api/v1/private/account/assets":
            return _ok(s.assets)
        if path == "/api/v1/private/position/open_positions":
            return _ok([p for p in s.positions.values() if p["holdVol"] > 0])
        if path == "/api/v1/private/order/create":
            return self._create(body)
        if path.startswith("/api/v1/private/order/get/"):
            order = s.orders.get(path.rsplit("/", 1)[1])
            return _ok(order) if order else _err(2040, "order not exist")
        if path.startswith("/api/v1/private/order/external/"):
            _, oid = path.rsplit("/", 2)[-2:]
            order = next((o for o in s.orders.values() if o["externalOid"] == oid), None)
            return _ok(order) if order else _err(2040, "order not exist")
        if path == "/api/v1/private/order/cancel":
            return _ok([{"orderId": i, "errorCode": 0, "errorMsg": "success"} for i in body])
        if path == "/api/v1/private/order/cancel_all":
            for order in s.orders.values():
                if order["state"] == 2:
                    order["state"] = 4
            return _ok()
        if path == "/api/v1/private/planorder/place":
            accepted = sum(1 for _ in s.plan_orders.values())
            if s.reject_plan or (s.reject_plan_after is not None and accepted >= s.reject_plan_after):
                return _err(2011, "trigger price is invalid")
            plan_id = next(s.ids)
            s.plan_orders[str(plan_id)] = {**body, "id": str(plan_id), "state": PLAN_UNTRIGGERED}
            if s.drop_next_plan > 0:
                s.drop_next_plan -= 1
                return None
            return _ok(plan_id)  # MEXC answers the bare trigger order id
        if path == "/api/v1/private/planorder/list/orders":
            return _ok(self._plan_rows(query))
        if path == "/api/v1/private/planorder/cancel":
            for item in body:
                s.plan_orders.get(str(item["orderId"]), {})["state"] = PLAN_CANCELLED
            return _ok()
        if path == "/api/v1/private/planorder/cancel_all":
            for plan in s.plan_orders.values():
                if body is None or not body.get("symbol") or plan["symbol"] == body["symbol"]:
                    plan["state"] = PLAN_CANCELLED
            return _ok()
        return _err(404, f"no route {method} {path}")

    def _plan_rows(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """GET planorder/list/orders: filters symbol and states ("1,2"), pages by page_num / page_size."""
        states = {int(x) for x in query["states"].split(",")} if query.get("states") else None
        rows = [{"id": int(p["id"]), "symbol": p["symbol"], "leverage": p.get("leverage", 0), "side": p["side"],
                 "triggerPrice": float(p["triggerPrice"]), "price": float(p.get("price") or 0), "vol": p["vol"],
                 "openType": p["openType"], "triggerType": p["triggerType"], "state": p["state"],
                 "executeCycle": 24 if int(p.get("executeCycle", 1)) == 1 else 168, "trend": p.get("trend", 1),
                 "orderType": p["orderType"], "orderId": 0, "errorCode": 0, "createTime": 1767571200000,
                 "updateTime": 1767571200000}
                for p in self.state.plan_orders.values()
                if (not query.get("symbol") or p["symbol"] == query["symbol"])
                and (states is None or p["state"] in states)]
        size = min(int(query.get("page_size") or 20), 100)
        start = (int(query.get("page_num") or 1) - 1) * size
        return rows[start:start + size]

    def _create(self, body: dict[str, Any]) -> Any:
        s = self.state
        if any(o["externalOid"] == body.get("externalOid") for o in s.orders.values() if body.get("externalOid")):
            return _err(2013, "externalOid is repeated")
        symbol, vol, side = body["symbol"], float(body["vol"]), int(body["side"])
        price = s.prices[symbol]
        order_id = str(next(s.ids))
        filled = s.fill
        order = {"orderId": order_id, "symbol": symbol, "positionId": "0", "price": price, "vol": vol,
                 "leverage": body.get("leverage", 0), "side": side, "category": 1, "orderType": body["type"],
                 "dealAvgPrice": price if filled else 0, "dealVol": vol if filled else 0, "orderMargin": 0,
                 "takerFee": round(vol * _contract_size(symbol) * price * 0.0002, 8) if filled else 0,
                 "makerFee": 0, "profit": 0, "feeCurrency": "USDT", "openType": body["openType"],
                 "state": 3 if filled else 2, "externalOid": body.get("externalOid", ""), "errorCode": 0,
                 "usedMargin": 0, "createTime": 1767571200000, "updateTime": 1767571200100, "positionMode": 2}
        s.orders[order_id] = order
        if filled:
            self._apply_fill(symbol, side, vol, price, int(body.get("leverage") or 10), body["openType"])
        if s.drop_next_create > 0:
            s.drop_next_create -= 1
            return None
        return _ok({"orderId": order_id, "ts": 1767571200100})

    def _apply_fill(self, symbol: str, side: int, vol: float, price: float, leverage: int, open_type: int) -> None:
        s = self.state
        position_type = 1 if side in (1, 4) else 2  # 1 open long / 4 close long; 3 open short / 2 close short
        key = (symbol, position_type)
        position = s.positions.get(key)
        if side in (1, 3):
            if position is None or position["holdVol"] == 0:
                mmr = 0.004
                liq = price * (1 - 1 / leverage) / (1 - mmr) if position_type == 1 else \
                    price * (1 + 1 / leverage) / (1 + mmr)
                im = vol * _contract_size(symbol) * price / leverage
                s.positions[key] = {
                    "positionId": next(s.ids), "symbol": symbol, "positionType": position_type, "openType": open_type,
                    "state": 1, "holdVol": vol, "frozenVol": 0, "closeVol": 0, "holdAvgPrice": price,
                    "openAvgPrice": price, "closeAvgPrice": 0, "liquidatePrice": round(liq, 6), "oim": im, "im": im,
                    "holdFee": 0, "realised": -round(im * leverage * 0.0002, 8), "leverage": leverage,
                    "createTime": 1767571200000, "updateTime": 1767571200100, "autoAddIm": False}
            else:
                position["holdVol"] += vol
        elif position is not None:
            position["holdVol"] = max(0.0, position["holdVol"] - vol)
            position["closeVol"] += vol
            if position["holdVol"] == 0:
                position["state"] = 3


class MexcServer:
    def __init__(self) -> None:
        self.state = MexcState()
        handler = type("BoundMexcHandler", (MexcHandler,), {
            "state": self.state, "detail": data_file("markets/mexc_contract_detail.json").read_bytes()})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> MexcServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
