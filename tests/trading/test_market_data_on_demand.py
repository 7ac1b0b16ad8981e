"""Market data (and so ccxt, ~100 MB of RSS) starts only when something needs prices (docs/benchmarks.md, Cockpit).

The import checks run in a subprocess: the test process itself has imported ccxt long ago.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from jarvis_tui.core.events import EventBus
from jarvis_tui.paths import PROJECT_DIR
from jarvis_tui.trading.events import MarketDataStatus
from jarvis_tui.trading.service import TradingService
from tests.conftest import free_port

BTC = "BTC/USDT:USDT"

_START = """
import asyncio, sys
from pathlib import Path
from jarvis_tui.trading.service import TradingService
from jarvis_tui.trading.settings import TradingSettings

async def main():
    settings = TradingSettings(exchange_base_url={url!r}, exchange_timeout_s=1.0, poll_s=0.05)
    service = TradingService(settings, db_path=Path({db!r}))
    await service.start(background=True)
    await asyncio.sleep(0.5)  # the service's loops run a while
    at_start = [m for m in ("ccxt", "ccxt.async_support", "ccxt.pro") if m in sys.modules]
    print(len(service.positions()), service._market_start is not None, at_start, service.market_data.reason,
          flush=True)
    await service.ensure_market_data()
    print("ccxt.async_support" in sys.modules, flush=True)
    await service.stop()

asyncio.run(main())
"""


def start_in_subprocess(db: Path) -> list[str]:
    code = _START.format(url=f"http://127.0.0.1:{free_port()}", db=str(db))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def test_starting_with_no_positions_does_not_import_ccxt(tmp_path: Path) -> None:
    at_start, later = start_in_subprocess(tmp_path / "jarvis.db")
    assert at_start == "0 False [] market data idle: starts with a position, an order or the signals list"
    assert later == "True"  # the real ccxt path once market data is wanted


async def test_restored_positions_start_market_data_at_once(tmp_path: Path, settings, mexc) -> None:
    seed = TradingService(settings, db_path=tmp_path / "jarvis.db")
    await seed.start(background=False)
    try:
        assert await seed.refresh_once()
        await seed.open_position("BTC", "long")
    finally:
        await seed.stop()
    at_start, later = start_in_subprocess(tmp_path / "jarvis.db")
    assert at_start.startswith("1 True "), at_start  # one position: the start (ccxt import, feeds) is under way
    assert later == "True"


async def test_first_order_fetches_its_price_and_starts_the_feed(tmp_path: Path, settings, mexc) -> None:
    bus = EventBus()
    statuses = bus.subscribe(MarketDataStatus)
    service = TradingService(replace(settings, scan_interval_s=600.0), db_path=tmp_path / "jarvis.db", bus=bus)
    await service.start(background=True)
    try:
        assert not service.market_data.available and "/api/v1/contract/ticker" not in " ".join(mexc.state.paths())
        view = await service.open_position("BTC", "long")  # no quote yet: read once, not refused
        assert view.entry_price == 97_000.0 and not view.stale
        names = {task.get_name() for task in service._tasks if not task.done()}
        assert {"trading-prices", "trading-scanner", "trading-flush"} <= names
        for _ in range(100):  # the feed polls from now on
            if len([p for p in mexc.state.paths() if "ticker" in p]) > 2:
                break
            await asyncio.sleep(0.05)
        assert len([p for p in mexc.state.paths() if "ticker" in p]) > 2
    finally:
        await service.stop()
    statuses.close()
    seen = [(e.available, e.reason) async for e in statuses]
    assert seen[0] == (False, "market data idle: starts with a position, an order or the signals list")
    assert seen[1][0] is True


async def test_scan_at_start_runs_the_scanner_from_the_start(tmp_path: Path, settings, mexc) -> None:
    """The opt-in for signals without asking: the feed and the scanner start with the service."""
    service = TradingService(replace(settings, scan_at_start=True), db_path=tmp_path / "jarvis.db")
    await service.start(background=True)
    try:
        assert service._market_start is not None
        await service.ensure_market_data()  # the start already under way: waits for it, starts nothing new
        names = {task.get_name() for task in service._tasks if not task.done()}
        assert {"trading-prices", "trading-scanner"} <= names
        assert not service.positions()
    finally:
        await service.stop()
