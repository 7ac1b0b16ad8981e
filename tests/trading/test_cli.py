"""`jarvis trade ...` as a subprocess: status (offline too), close, kill, replay, bad input."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jarvis_tui.paths import PROJECT_DIR, data_file
from jarvis_tui.trading.service import TradingService
from tests.conftest import free_port

SAMPLE = data_file("ohlcv/BTC_USDT-1m.csv")


def write_config(tmp_path: Path, base_url: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "jarvis.db"}"\n\n[trading]\nexchange_base_url = "{base_url}"\n'
                      "exchange_timeout_s = 3\n")
    return config


def trade(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "jarvis_tui.trading.cli", "--config", str(config), *args],
                          capture_output=True, text=True, cwd=PROJECT_DIR, env=full_env, timeout=60)


async def seed_position(tmp_path: Path, settings, symbol: str = "BTC") -> None:
    service = TradingService(settings, db_path=tmp_path / "jarvis.db")
    await service.start(background=False)
    try:
        assert await service.refresh_once()
        await service.open_position(symbol, "long")
    finally:
        await service.stop()


def test_status_offline_reports_market_data_unavailable(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    done = trade(config, "status", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["mode"] == "PAPER"
    assert status["market_data"]["available"] is False
    assert status["market_data"]["reason"].startswith("market data unavailable")
    assert status["balance"]["balance"] == 1000.0 and status["positions"] == []
    human = trade(config, "status", "--offline")
    assert human.returncode == 0 and "market data unavailable" in human.stdout and "mode PAPER" in human.stdout


async def test_status_shows_positions_stale_when_exchange_down(tmp_path: Path, settings, mexc) -> None:
    await seed_position(tmp_path, settings)
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    done = trade(config, "status", "--json")
    status = json.loads(done.stdout)
    [position] = status["positions"]
    assert position["symbol"] == "BTC/USDT:USDT" and position["stale"] is True
    assert position["mark_price"] == 97000.0 and position["tp_price"] == 97388.0
    live = trade(write_config(tmp_path, mexc.url), "status")
    assert live.returncode == 0 and "market data: live" in live.stdout and "BTC/USDT:USDT long 10" in live.stdout


async def test_close_symbol(tmp_path: Path, settings, mexc) -> None:
    await seed_position(tmp_path, settings)
    config = write_config(tmp_path, mexc.url)
    mexc.state.prices["BTC_USDT"] = 97_100.0
    done = trade(config, "close", "BTC", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # the config's default 0.02% slippage: a sell at 97100 fills at 97080.58 -> tick 97080.5
    assert result["fully_closed"] and result["price"] == 97_080.5
    assert result["gross_pnl"] == pytest.approx(0.0805)  # 80.5 x 10 x 0.0001
    again = trade(config, "close", "BTC")
    assert again.returncode == 3 and again.stderr.strip() == "jarvis trade: no open paper position for BTC"
    unknown = trade(config, "close", "BTC", "--fraction", "2")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1


async def test_close_refused_on_a_stale_price(tmp_path: Path, settings, mexc) -> None:
    await seed_position(tmp_path, settings)
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}")  # MEXC unreachable: no fresh price
    config.write_text(config.read_text() + "max_price_age_s = 0.5\n")
    await asyncio.sleep(0.6)  # the seeded mark is older than the limit
    done = trade(config, "close", "BTC")
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert re.fullmatch(r"jarvis trade: close refused: the BTC/USDT:USDT price is \d+s old \(limit 0\.5s\); a paper "
                        r"close fills at the current price; wait for market data to return and close again",
                        done.stderr.strip()), done.stderr
    status = json.loads(trade(config, "status", "--json").stdout)
    assert [p["symbol"] for p in status["positions"]] == ["BTC/USDT:USDT"]  # still open


def test_live_close_without_keys_is_refused(tmp_path: Path, mexc) -> None:
    config = write_config(tmp_path, mexc.url)
    done = trade(config, "close", "BTC", "--live", "--confirm", "LIVE")
    assert done.returncode == 3 and "no API credentials" in done.stderr
    assert "Traceback" not in done.stderr


def test_replay_sample(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    done = trade(config, "replay", str(SAMPLE), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["candles"] == 420 and summary["closed"] == {"tp": 3, "sl": 2}
    human = trade(config, "replay", str(SAMPLE), "--speed", "0")
    assert "replayed 420 candles of BTC/USDT:USDT" in human.stdout
    assert not (tmp_path / "jarvis.db").exists()  # the replay never touched the real ledger


@pytest.mark.parametrize("args, code, message", [
    (["replay", "missing.csv"], 2, "file not found"),
    (["replay", str(SAMPLE), "--speed", "-1"], 2, "--speed"),
    (["replay", str(SAMPLE), "--symbol", "FOO"], 2, "unknown pair 'FOO'"),
    (["bogus"], 2, "invalid choice"),
    ([], 2, "missing command"),
    (["kill"], 3, "type KILL"),
])
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    done = trade(config, *args)
    assert done.returncode == code
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("jarvis trade: ")


def test_offline_status_and_settings_stay_light(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    code = ("import sys, io, contextlib\n"
            "import jarvis_tui.trading.settings\n"
            "assert 'jarvis_tui.trading.markets' not in sys.modules\n"
            "from jarvis_tui.config import load_config\n"
            "from jarvis_tui.trading.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    rc = main(['trade', 'status', '--offline'], load_config({str(config)!r}))\n"
            "heavy = [m for m in ('ccxt', 'textual', 'numpy') if m in sys.modules]\n"
            "print(rc, heavy)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR, timeout=60)
    assert done.stdout.strip() == "0 []", done.stderr


def test_through_the_jarvis_entry_point(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    done = subprocess.run([sys.executable, "-m", "jarvis_tui", "trade", "status", "--offline", "--json",
                           "--config", str(config)], capture_output=True, text=True, cwd=PROJECT_DIR, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mode"] == "PAPER"
    bad = subprocess.run([sys.executable, "-m", "jarvis_tui", "trade", "status", "--config", str(tmp_path / "no.toml")],
                         capture_output=True, text=True, cwd=PROJECT_DIR, timeout=60)
    assert bad.returncode == 2 and "config error" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
