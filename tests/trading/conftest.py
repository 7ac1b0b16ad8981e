"""Fixtures for the trading tests: a loopback MEXC (REST and WebSocket), isolated XDG dirs, settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jarvis_tui.core.clock import ManualClock
from jarvis_tui.core.events import EventBus
from jarvis_tui.trading.markets import load_market_dicts, market_specs
from jarvis_tui.trading.service import TradingService
from jarvis_tui.trading.settings import DEFAULT_PAIRS, TradingSettings
from tests.trading.mexc_server import TEST_KEY, TEST_SECRET, MexcServer
from tests.trading.mexc_ws_server import MexcWsServer


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for kind in ("CACHE", "DATA", "CONFIG", "STATE"):
        monkeypatch.setenv(f"XDG_{kind}_HOME", str(tmp_path / kind.lower()))
    monkeypatch.delenv("MEXC_API_KEY", raising=False)
    monkeypatch.delenv("MEXC_SECRET", raising=False)
    return tmp_path


@pytest.fixture
def mexc() -> MexcServer:
    with MexcServer() as server:
        yield server


@pytest.fixture
def mexc_ws() -> MexcWsServer:
    """The loopback MEXC contract WebSocket (sub.ticker / push.ticker / ping-pong)."""
    with MexcWsServer() as server:
        yield server


@pytest.fixture
def specs():
    markets, _ = load_market_dicts()
    return market_specs(markets, DEFAULT_PAIRS)


@pytest.fixture
def settings(mexc: MexcServer) -> TradingSettings:
    return replace(TradingSettings(), pairs=tuple(f"{b}/USDT:USDT" for b in ("BTC", "ETH", "SOL", "DOGE", "XRP")),
                   exchange_base_url=mexc.url, exchange_timeout_s=3.0, slippage_pct=0.0,
                   price_source="poll", poll_s=0.05)


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"MEXC_API_KEY": TEST_KEY, "MEXC_SECRET": TEST_SECRET}


@pytest.fixture
async def make_service(settings, tmp_path, live_env):
    """Started TradingServices on the loopback MEXC (live flag and test keys by default), stopped afterwards."""
    made: list[TradingService] = []

    async def factory(*, live_flag=True, env=None, clock=None, db="jarvis.db", **overrides) -> TradingService:
        service = TradingService(replace(settings, **overrides), db_path=tmp_path / db, bus=EventBus(),
                                 clock=clock or ManualClock(wall=1_767_571_200.0), live_flag=live_flag,
                                 env=live_env if env is None else env)
        await service.start(background=False)
        made.append(service)
        return service

    yield factory
    for service in made:
        await service.stop()
