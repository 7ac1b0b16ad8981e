"""Live mode: the gate, the caps, stale prices, idempotent orders, protective TP/SL, kill switch.

Everything goes through TradingService -> LiveTrader -> the real ccxt mexc
client (signing included) -> the loopback MEXC server.
"""

from __future__ import annotations

import logging
import sqlite3

import pytest

from jarvis_tui.core.clock import ManualClock
from jarvis_tui.trading.events import PositionsUpdated, TradingModeChanged
from jarvis_tui.trading.guards import TradingRefused, require_live
from jarvis_tui.trading.service import TradingService
from tests.trading.mexc_server import PLAN_CANCELLED, PLAN_UNTRIGGERED, TEST_KEY, TEST_SECRET

BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"


async def live_service(make_service, **overrides) -> TradingService:
    service = await make_service(**overrides)
    await service.enable_live("LIVE")
    assert await service.refresh_once()
    return service


# ------------------------------------------------------------ the gate
def test_gate_needs_flag_keys_and_confirmation(live_env) -> None:
    with pytest.raises(TradingRefused, match="--live"):
        require_live(live_flag=False, api_key_env="MEXC_API_KEY", secret_env="MEXC_SECRET", confirmation="LIVE",
                     env=live_env)
    with pytest.raises(TradingRefused, match="MEXC_SECRET") as no_keys:
        require_live(live_flag=True, api_key_env="MEXC_API_KEY", secret_env="MEXC_SECRET", confirmation="LIVE",
                     env={"MEXC_API_KEY": TEST_KEY})
    assert no_keys.value.code == "no-keys" and TEST_KEY not in str(no_keys.value)
    for typed in (None, "", "live", "yes", "LIVE!"):
        with pytest.raises(TradingRefused, match="type LIVE exactly"):
            require_live(live_flag=True, api_key_env="MEXC_API_KEY", secret_env="MEXC_SECRET", confirmation=typed,
                         env=live_env)
    creds = require_live(live_flag=True, api_key_env="MEXC_API_KEY", secret_env="MEXC_SECRET",
                         confirmation="LIVE", env=live_env)
    assert creds.api_key == TEST_KEY and TEST_KEY not in repr(creds) and TEST_SECRET not in str(creds)


async def test_service_stays_paper_without_each_requirement(make_service, mexc) -> None:
    no_flag = await make_service(live_flag=False)
    with pytest.raises(TradingRefused, match="--live"):
        await no_flag.enable_live("LIVE")
    no_keys = await make_service(env={})
    with pytest.raises(TradingRefused, match="no API credentials"):
        await no_keys.enable_live("LIVE")
    unconfirmed = await make_service()
    with pytest.raises(TradingRefused, match="confirm"):
        await unconfirmed.enable_live("")
    for service in (no_flag, no_keys, unconfirmed):
        assert service.mode == "PAPER"
    assert not [p for p in mexc.state.paths() if "/private/" in p]  # nothing private was ever sent


# ------------------------------------------------------------ orders
async def test_live_open_places_entry_then_reduce_only_tp_sl(make_service, mexc) -> None:
    service = await make_service()
    sub = service.bus.subscribe(TradingModeChanged, PositionsUpdated)
    await service.enable_live("LIVE")
    assert service.mode == "LIVE"
    await service.refresh_once()
    view = await service.open_position("BTC", "long")
    assert view.mode == "LIVE" and view.contracts == 10 and view.entry_price == 97000.0
    assert view.tp_price == 97388.0 and view.sl_price == 96757.5

    [entry] = mexc.state.orders.values()
    assert entry["side"] == 1 and entry["vol"] == 10 and entry["openType"] == 1 and entry["leverage"] == 10
    assert entry["externalOid"].startswith("jv") and len(entry["externalOid"]) <= 32
    plans = list(mexc.state.plan_orders.values())
    tp = next(p for p in plans if float(p["triggerPrice"]) == 97388.0)
    sl = next(p for p in plans if float(p["triggerPrice"]) == 96757.5)
    assert tp["side"] == sl["side"] == 4  # close long = reduce only, one-way mode
    assert (tp["triggerType"], sl["triggerType"]) == (1, 2)  # >= for TP, <= for SL
    assert tp["orderType"] == sl["orderType"] == 5 and tp["vol"] == 10
    assert tp["externalOid"] != sl["externalOid"]
    order = mexc.state.paths("POST")
    assert order.index("/api/v1/private/order/create") < order.index("/api/v1/private/planorder/place")
    types = [type(e) for e in iter(sub.get_nowait, None)]
    assert TradingModeChanged in types and PositionsUpdated in types


async def test_short_protective_orders_mirror(make_service, mexc) -> None:
    service = await live_service(make_service)
    await service.open_position("ETH", "short")
    plans = list(mexc.state.plan_orders.values())
    assert {p["side"] for p in plans} == {2}  # close short
    by_type = {p["triggerType"]: float(p["triggerPrice"]) for p in plans}
    assert by_type == {2: 3386.4, 1: 3408.5}  # TP 3400 x 0.996 below, SL 3400 x 1.0025 above


async def test_lost_reply_retry_is_idempotent(make_service, mexc) -> None:
    service = await live_service(make_service)
    mexc.state.drop_next_create = 1  # the entry is executed but its reply never arrives
    view = await service.open_position("BTC", "long")
    entries = [o for o in mexc.state.orders.values() if o["side"] == 1]
    assert len(entries) == 1, "the retry found the order by client id instead of buying twice"
    assert any(p.startswith("/api/v1/private/order/external/BTC_USDT/") for p in mexc.state.paths("GET"))
    assert view.contracts == 10
    rows = sqlite3.connect(service.db_path).execute(
        "SELECT purpose, status FROM paper_live_orders ORDER BY ts").fetchall()
    assert ("entry", "accepted") in rows and len([r for r in rows if r[0] == "entry"]) == 1


async def test_lost_trigger_order_reply_retry_places_one_trigger_order(make_service, mexc) -> None:
    service = await live_service(make_service)
    mexc.state.drop_next_plan = 1  # the TP plan order is created on MEXC, but the client sees the connection drop
    view = await service.open_position("BTC", "long")
    assert mexc.state.paths("POST").count("/api/v1/private/planorder/place") == 2, "TP once, SL once: no second TP"
    assert "/api/v1/private/planorder/list/orders" in mexc.state.paths("GET")
    open_plans = [p for p in mexc.state.plan_orders.values() if p["state"] == PLAN_UNTRIGGERED]
    assert sorted(float(p["triggerPrice"]) for p in open_plans) == [96757.5, 97388.0]
    [tp] = [p for p in open_plans if float(p["triggerPrice"]) == 97388.0]
    assert service.live.protection[BTC].tp_order_id == tp["id"]  # the lost order was adopted, not re-placed
    assert view.tp_price == 97388.0 and view.sl_price == 96757.5
    rows = sqlite3.connect(service.db_path).execute("SELECT purpose, status FROM paper_live_orders").fetchall()
    assert ("tp", "accepted") in rows and len([r for r in rows if r[0] == "tp"]) == 1


async def test_lost_trigger_reply_is_not_confused_with_an_older_identical_order(make_service, mexc) -> None:
    """A leftover identical trigger (say, the SL of an earlier position that hit TP) was open before the attempt."""
    service = await live_service(make_service)
    mexc.state.plan_orders["739000000000000001"] = {
        "symbol": "BTC_USDT", "vol": 10.0, "side": 4, "type": 5, "openType": 1, "leverage": 10,
        "triggerPrice": "97388", "triggerType": 1, "executeCycle": 1, "trend": 1, "orderType": 5,
        "id": "739000000000000001", "state": PLAN_UNTRIGGERED}
    mexc.state.drop_next_plan = 1
    await service.open_position("BTC", "long")
    new_tp = [pid for pid, p in mexc.state.plan_orders.items()
              if float(p["triggerPrice"]) == 97388.0 and pid != "739000000000000001"]
    assert len(new_tp) == 1 and service.live.protection[BTC].tp_order_id == new_tp[0]


async def test_plan_order_list_has_mexc_shape(make_service, mexc) -> None:
    """GET planorder/list/orders answers MEXC's documented rows (no externalOid), filtered by symbol and states."""
    service = await live_service(make_service)
    await service.open_position("BTC", "long")
    await service.open_position("ETH", "short")
    rows = await service.gateway.fetch_open_plan_orders(BTC)
    assert len(rows) == 2 and {r["symbol"] for r in rows} == {"BTC_USDT"}
    assert set(rows[0]) == {"id", "symbol", "leverage", "side", "triggerPrice", "price", "vol", "openType",
                            "triggerType", "state", "executeCycle", "trend", "orderType", "orderId", "errorCode",
                            "createTime", "updateTime"}
    await service.close_position("BTC")  # cancels the BTC plan orders: no longer untriggered
    assert await service.gateway.fetch_open_plan_orders(BTC) == []
    assert len(await service.gateway.fetch_open_plan_orders("ETH/USDT:USDT")) == 2


async def test_failed_protective_order_closes_the_position(make_service, mexc) -> None:
    service = await live_service(make_service)
    mexc.state.reject_plan_after = 1  # TP is accepted, SL is rejected
    with pytest.raises(TradingRefused, match="protective orders failed .*SL.*closed at market") as refused:
        await service.open_position("SOL", "long")
    assert refused.value.code == "protective-failed"
    sides = [o["side"] for o in mexc.state.orders.values()]
    assert sides == [1, 4]  # opened long, then closed long at market
    assert mexc.state.positions[("SOL_USDT", 1)]["holdVol"] == 0
    assert all(p["state"] == PLAN_CANCELLED for p in mexc.state.plan_orders.values())  # the accepted TP was cancelled
    assert service.positions() == []


async def test_caps_refuse_before_any_order(make_service, mexc) -> None:
    service = await live_service(make_service, max_open_positions=1)
    await service.open_position("BTC", "long")
    sent = len(mexc.state.orders)
    with pytest.raises(TradingRefused, match="1 positions are open and the maximum is 1"):
        await service.open_position("ETH", "long")
    assert len(mexc.state.orders) == sent

    # the account already holds the 97 USDT BTC position; SOL would add 95 USDT
    capped = await live_service(make_service, max_total_notional_usdt=150.0)
    with pytest.raises(TradingRefused, match="total notional would be 192.00 USDT, above the maximum 150 USDT"):
        await capped.open_position("SOL", "long")
    assert len(mexc.state.orders) == sent


async def test_stale_price_refuses(make_service, mexc) -> None:
    clock = ManualClock(wall=1_767_571_200.0)
    service = await live_service(make_service, clock=clock, max_price_age_s=10.0)
    clock.advance(11)
    with pytest.raises(TradingRefused, match=r"price is 11s old \(limit 10s\)"):
        await service.open_position("BTC", "long")
    assert not [p for p in mexc.state.paths() if p.endswith("order/create")]
    fresh = await live_service(make_service, max_price_age_s=10.0)
    mexc.state.down = True
    await fresh.refresh_once()
    assert not fresh.market_data.available


async def test_kill_switch_closes_everything_and_cancels(make_service, mexc) -> None:
    service = await live_service(make_service)
    await service.open_position("BTC", "long")
    await service.open_position("ETH", "short")
    with pytest.raises(TradingRefused, match="type KILL"):
        await service.kill("yes")
    report = await service.kill("KILL")
    assert sorted(report.closed) == [BTC, ETH] and not report.errors
    assert all(p["holdVol"] == 0 for p in mexc.state.positions.values())
    assert all(p["state"] == PLAN_CANCELLED for p in mexc.state.plan_orders.values())
    assert "/api/v1/private/order/cancel_all" in mexc.state.paths("POST")
    assert service.positions() == []


async def test_close_live_position(make_service, mexc) -> None:
    clock = ManualClock(wall=1_767_571_200.0)
    service = await live_service(make_service, clock=clock, max_price_age_s=10.0)
    await service.open_position("DOGE", "long")
    clock.advance(60)  # our quote is stale, but a live close is a reduce-only market order MEXC fills itself
    await service.close_position("DOGE")
    assert mexc.state.positions[("DOGE_USDT", 1)]["holdVol"] == 0
    with pytest.raises(TradingRefused, match="no open live position"):
        await service.close_position("DOGE")


async def test_credentials_never_logged_stored_or_shown(make_service, mexc, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    service = await live_service(make_service)
    await service.open_position("BTC", "long")
    mexc.state.reject_plan = True
    with pytest.raises(TradingRefused) as refused:
        await service.open_position("ETH", "long")
    await service.stop()
    db_bytes = service.db_path.read_bytes() + service.db_path.with_name("jarvis.db-wal").read_bytes() \
        if service.db_path.with_name("jarvis.db-wal").exists() else service.db_path.read_bytes()
    shown = " ".join([caplog.text, str(refused.value), repr(service.gateway), repr(service.positions()),
                      repr(service.balance())])
    for secret in (TEST_KEY, TEST_SECRET):
        assert secret.encode() not in db_bytes
        assert secret not in shown
    # the exchange did receive them, in MEXC's signed headers: the real signing path ran
    assert any(h.get("ApiKey") == TEST_KEY and h.get("Signature") for h in mexc.state.headers_seen)
