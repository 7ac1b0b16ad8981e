"""Live balance: MEXC's swap account (``GET /api/v1/private/account/assets``) through ccxt ``fetch_balance``.

The loopback server checks MEXC's HMAC signature, so these go through ccxt's real signing path.  Paper
mode keeps the paper ledger's balance; the keys never reach stdout, stderr, logs, SQLite or --json.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jarvis_tui.paths import PROJECT_DIR
from jarvis_tui.trading.exchange import ExchangeGateway, ExchangeRejected
from jarvis_tui.trading.guards import Credentials, TradingRefused
from tests.conftest import free_port
from tests.trading.mexc_server import TEST_KEY, TEST_SECRET
from tests.trading.test_cli import trade, write_config

ASSETS = "/api/v1/private/account/assets"


async def test_gateway_reads_the_swap_account_balance(mexc) -> None:
    gw = ExchangeGateway(pairs=("BTC/USDT:USDT",), credentials=Credentials(TEST_KEY, TEST_SECRET),
                         base_url=mexc.url, timeout_s=3.0)
    try:
        balance = await gw.fetch_account_balance()
        assert (balance.available, balance.equity, balance.position_margin, balance.unrealized_pnl,
                balance.cash, balance.frozen) == (812.3456, 822.5, 9.7, 0.4544, 822.0456, 0.0)
        assert mexc.state.paths() == [ASSETS]
        assert mexc.state.headers_seen[-1]["ApiKey"] == TEST_KEY  # signed, and the server verified it
        mexc.state.assets = [a for a in mexc.state.assets if a["currency"] != "USDT"]
        assert (await gw.fetch_account_balance()).equity == 0.0  # no USDT row: the account holds none
        wrong = ExchangeGateway(pairs=("BTC/USDT:USDT",), credentials=Credentials(TEST_KEY, "not-the-secret"),
                                base_url=mexc.url, timeout_s=3.0)
        try:
            with pytest.raises(ExchangeRejected, match="fetch_balance") as rejected:
                await wrong.fetch_account_balance()
            assert "not-the-secret" not in str(rejected.value)
        finally:
            await wrong.close()
    finally:
        await gw.close()


async def test_live_balance_is_the_exchange_balance(make_service, mexc) -> None:
    svc = await make_service()
    assert svc.balance().balance == 1000.0  # paper: the ledger
    await svc.enable_live("LIVE")
    balance = svc.balance()
    assert balance.mode == "LIVE"
    assert (balance.balance, balance.equity, balance.margin_used, balance.unrealized_pnl) == (
        812.3456, 822.5, 9.7, 0.4544)
    mexc.state.assets[0].update(availableBalance=700.0, equity=710.25)
    await svc.refresh_live()
    assert (svc.balance().balance, svc.balance().equity) == (700.0, 710.25)
    await svc.disable_live()
    assert svc.balance().balance == 1000.0 and svc.balance().mode == "PAPER"


async def test_read_only_live_view_refuses_every_order(make_service, mexc) -> None:
    svc = await make_service()
    await svc.view_live()  # the flag and the keys, no confirmation
    assert svc.mode == "LIVE" and svc.live_read_only and svc.balance().balance == 812.3456
    assert await svc.refresh_once()
    for action in (lambda: svc.open_position("BTC", "long"), lambda: svc.close_position("BTC"),
                   lambda: svc.kill("KILL")):
        with pytest.raises(TradingRefused, match="read-only") as refused:
            await action()
        assert refused.value.code == "read-only"
    assert not [p for p in mexc.state.paths("POST")]  # nothing was sent that could trade


async def test_live_view_refused_when_the_account_check_fails(make_service, mexc) -> None:
    svc = await make_service()
    mexc.state.down = True
    with pytest.raises(TradingRefused, match="MEXC did not answer the account check") as refused:
        await svc.view_live()
    assert refused.value.code == "exchange" and svc.mode == "PAPER" and svc.live_balance is None


def test_status_live_shows_the_exchange_balance(tmp_path: Path, mexc, live_env) -> None:
    config = write_config(tmp_path, mexc.url)
    done = trade(config, "status", "--live", "--json", env=live_env)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["mode"] == "LIVE" and status["read_only"] is True and status["balance_source"] == "exchange"
    assert status["balance"]["balance"] == 812.3456 and status["balance"]["equity"] == 822.5
    assert status["balance"]["margin_used"] == 9.7 and status["market_data"]["available"] is True
    assert ASSETS in mexc.state.paths("GET") and not mexc.state.paths("POST")
    human = trade(config, "status", "--live", env=live_env)
    assert human.returncode == 0, human.stderr
    assert "mode LIVE (read-only)" in human.stdout
    assert "balance 812.35 USDT (MEXC swap account) · equity 822.50" in human.stdout
    for text in (done.stdout, done.stderr, human.stdout, human.stderr):
        assert TEST_KEY not in text and TEST_SECRET not in text


def test_status_without_live_keeps_the_paper_balance(tmp_path: Path, mexc, live_env) -> None:
    done = trade(write_config(tmp_path, mexc.url), "status", "--json", env=live_env)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["mode"] == "PAPER" and status["balance_source"] == "paper ledger"
    assert status["balance"]["balance"] == 1000.0 and ASSETS not in mexc.state.paths()


@pytest.mark.parametrize("args, env, code, message", [
    (["status", "--live"], {}, 3, "no API credentials; set the environment variable(s) MEXC_API_KEY, MEXC_SECRET"),
    (["status", "--live", "--offline"], None, 2, "cannot be combined with --offline"),
])
def test_status_live_bad_input_is_one_line(tmp_path: Path, mexc, live_env, args, env, code, message) -> None:
    done = trade(write_config(tmp_path, mexc.url), *args, env=live_env if env is None else env)
    assert done.returncode == code
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jarvis trade: ") and message in lines[0]
    assert done.stdout == ""


def test_status_live_with_the_exchange_down_is_one_line(tmp_path: Path, live_env) -> None:
    done = trade(write_config(tmp_path, f"http://127.0.0.1:{free_port()}"), "status", "--live", env=live_env)
    assert done.returncode == 3
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("jarvis trade: live trading refused: MEXC did not answer the account check")


def test_keys_stay_out_of_logs_sqlite_and_json(tmp_path: Path, mexc, live_env) -> None:
    """ccxt logs request headers (ApiKey) at DEBUG: run status --live with DEBUG logging on and look everywhere."""
    config = write_config(tmp_path, mexc.url)
    code = ("import logging, sys\n"
            "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"
            "from jarvis_tui.config import load_config\n"
            "from jarvis_tui.trading.cli import main\n"
            f"sys.exit(main(['trade', 'status', '--live', '--json'], load_config({str(config)!r})))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR,
                          env={**os.environ, **live_env}, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "account/assets" in done.stderr  # the DEBUG log did record the signed request...
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("jarvis.db*"))
    assert stored  # ...and the ledger was written
    for secret in (TEST_KEY, TEST_SECRET):
        assert secret not in done.stdout and secret not in done.stderr and secret.encode() not in stored
    assert any(h.get("ApiKey") == TEST_KEY for h in mexc.state.headers_seen)  # the exchange did get the key


async def test_credentials_debug_log_is_redacted_in_process(caplog, mexc) -> None:
    caplog.set_level(logging.DEBUG)
    gw = ExchangeGateway(pairs=("BTC/USDT:USDT",), credentials=Credentials(TEST_KEY, TEST_SECRET),
                         base_url=mexc.url, timeout_s=3.0)
    try:
        await gw.fetch_account_balance()
    finally:
        await gw.close()
    assert "account/assets" in caplog.text and TEST_KEY not in caplog.text and TEST_SECRET not in caplog.text


async def test_live_account_is_re_read_on_a_timer(make_service, mexc) -> None:
    svc = await make_service(live_refresh_s=15.0, exchange_timeout_s=1.0)
    assert await svc.maybe_refresh_live() is False  # paper: nothing to read
    await svc.enable_live("LIVE")
    reads = mexc.state.paths().count(ASSETS)
    mexc.state.assets[0].update(availableBalance=650.0)
    svc.clock.advance(14.0)
    assert await svc.maybe_refresh_live() is False and svc.balance().balance == 812.3456  # not due yet
    svc.clock.advance(1.0)
    assert await svc.maybe_refresh_live() is True and svc.balance().balance == 650.0
    assert mexc.state.paths().count(ASSETS) == reads + 1
    mexc.state.assets[0].update(availableBalance=600.0)
    mexc.state.down = True  # the exchange stops answering: keep the last balance, retry later
    svc.clock.advance(15.0)
    assert await svc.maybe_refresh_live() is False and svc.balance().balance == 650.0
