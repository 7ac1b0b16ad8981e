"""Fixtures for the trading tests: a loopback MEXC, isolated XDG dirs, settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jarvis_tui.trading.markets import load_market_dicts, market_specs
from jarvis_tui.trading.settings import DEFAULT_PAIRS, TradingSettings
from tests.trading.mexc_server import TEST_KEY, TEST_SECRET, MexcServer


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
