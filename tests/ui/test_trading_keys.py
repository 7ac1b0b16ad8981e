"""The cockpit's trading actions: kill switch (K / palette), go LIVE (palette), take signal (t on the signals list),
ask the nodes about a signal (c on the signals list).

Real paper TradingService on the app's bus, real loopback nodes; the exchange is a refused loopback URL (paper) or
the loopback MEXC of tests/trading (go LIVE), so nothing leaves the machine.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.widgets import Input

from jarvis_tui.paths import data_file
from jarvis_tui.trading.replay import read_ohlcv_csv
from jarvis_tui.trading.service import TradingService
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.chat_pane import AnswerEntry
from jarvis_tui.ui.key_bar import KeyBar
from jarvis_tui.ui.screens.confirm_screen import ConfirmScreen
from jarvis_tui.ui.screens.help_screen import HelpScreen
from tests.trading.mexc_server import TEST_KEY, TEST_SECRET, MexcServer
from tests.ui.pilot_helpers import wait_for, wait_ready
from tests.ui.test_palette import SIZE, run_palette

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
KILL_TITLE = "Kill switch: close every position, cancel every order"
LIVE_TITLE = "Go LIVE (real orders)"


def trading_cockpit(config: Any, settings: Any, tmp_path: Any, *, live: bool = False,
                    env: dict[str, str] | None = None) -> tuple[JarvisApp, TradingService]:
    service = TradingService(settings, db_path=tmp_path / "jarvis.db", live_flag=live, env=env or {})
    app = JarvisApp(config, live=live, services=frozenset({"trading"}), provided_services={"trading": service})
    service.bus = app.bus
    return app, service


def notified(app: JarvisApp, text: str) -> bool:
    return any(text in str(n.message) for n in app._notifications)


async def confirm_typed(pilot: Any, text: str) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "confirm-input", 5, "input")
    await pilot.press(*text, "enter")
    await pilot.pause(0.1)


async def show_a_btc_signal(pilot: Any, service: TradingService) -> Any:
    """Score the sample CSV's breakout into a signal, then open the signals list on it."""
    candles = read_ohlcv_csv(data_file("ohlcv/BTC_USDT-1m.csv"))[:71]
    await service.on_quote(BTC, candles[-1][4])
    signal = await service.on_candles(BTC, candles)
    assert signal is not None
    signals = pilot.app.query_one("#signals-table")
    await wait_for(pilot, lambda: signals.row_count == 1, 5, "signal row")
    await pilot.press("escape", "5", "g")
    return signal


def badge(app: JarvisApp) -> str:
    return str(app.query_one("#trading-badge").render()).strip()


async def test_kill_switch_needs_typed_kill_then_closes_every_paper_position(cluster, paper_trading, tmp_path):
    config, _ = cluster(count=1)
    app, service = trading_cockpit(config, paper_trading, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        assert app.services.trading is service
        assert "trading" not in app.services.unavailable, app.services.unavailable
        await service.on_quote(BTC, 64000.0)
        await service.on_quote(ETH, 3000.0)
        await service.open_position("BTC", "long")
        await service.open_position("ETH", "short")
        table = app.query_one("#positions-table")
        await wait_for(pilot, lambda: table.row_count == 3, 5, "2 positions + totals row")
        await pilot.press("escape", "5")  # leave the chat input, then the Positions pane
        assert app.focused is table
        await wait_for(pilot, lambda: "Kill all" in app.query_one(KeyBar).render().plain, 5, "K in the key bar")
        await pilot.press("K")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.require == "KILL"
        await confirm_typed(pilot, "kill")  # wrong text: the screen stays and says why
        assert isinstance(app.screen, ConfirmScreen)
        assert notified(app, "Type KILL exactly")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), 5, "cancelled")
        await pilot.pause(0.2)
        assert len(service.positions()) == 2 and table.row_count == 3
        await run_palette(pilot, KILL_TITLE)
        assert isinstance(app.screen, ConfirmScreen)
        await confirm_typed(pilot, "KILL")
        await wait_for(pilot, lambda: not service.positions(), 5, "every position closed")
        await wait_for(pilot, lambda: notified(app, "kill switch (PAPER): closed 2 position(s)"), 5, "report")
        await wait_for(pilot, lambda: table.row_count == 0, 5, "table empty")


async def test_kill_switch_refused_while_trading_is_unavailable(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await run_palette(pilot, KILL_TITLE)
        assert not isinstance(app.screen, ConfirmScreen)
        assert notified(app, "Trading is unavailable: not enabled in this session")


async def test_go_live_without_the_live_flag_refuses_and_stays_paper(cluster, paper_trading, tmp_path):
    config, _ = cluster(count=1)
    app, service = trading_cockpit(config, paper_trading, tmp_path,
                                   env={"MEXC_API_KEY": TEST_KEY, "MEXC_SECRET": TEST_SECRET})
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await wait_for(pilot, lambda: badge(app) == "PAPER", 5, "paper badge")
        await run_palette(pilot, LIVE_TITLE)
        assert not isinstance(app.screen, ConfirmScreen)  # refused before asking for LIVE
        await wait_for(pilot, lambda: notified(app, "start jarvis with --live"), 5, "refusal")
        assert service.mode == "PAPER" and app.status_bar.state.trading_mode == "PAPER" and badge(app) == "PAPER"


async def test_go_live_with_the_flag_and_keys_turns_the_badge_live(cluster, tmp_path, paper_trading):
    config, _ = cluster(count=1)
    with MexcServer() as mexc:
        settings = replace(paper_trading, exchange_base_url=mexc.url, exchange_timeout_s=3.0)
        app, service = trading_cockpit(config, settings, tmp_path, live=True,
                                       env={"MEXC_API_KEY": TEST_KEY, "MEXC_SECRET": TEST_SECRET})
        async with app.run_test(size=SIZE) as pilot:
            await wait_ready(pilot)
            await run_palette(pilot, LIVE_TITLE)
            assert isinstance(app.screen, ConfirmScreen) and app.screen.require == "LIVE"
            await confirm_typed(pilot, "LIVE")
            await wait_for(pilot, lambda: service.mode == "LIVE", 10, "live")
            await wait_for(pilot, lambda: app.status_bar.state.trading_mode == "LIVE" and badge(app) == "LIVE", 5,
                           "LIVE badge")


async def test_take_signal_opens_a_paper_position_and_refuses_below_threshold(cluster, paper_trading, tmp_path):
    config, _ = cluster(count=1)
    app, service = trading_cockpit(config, paper_trading, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        signal = await show_a_btc_signal(pilot, service)
        assert not service.positions()  # auto_trade is off
        pane = app.query_one("#positions")
        signals = app.query_one("#signals-table")
        assert app.focused is signals
        await wait_for(pilot, lambda: "Take signal" in app.query_one(KeyBar).render().plain, 5, "t in the key bar")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        help_text = "\n".join(str(w.render()) for w in app.screen.query(".help-section"))
        assert "Take signal" in help_text and "Kill all" in help_text
        await pilot.press("escape")
        assert app.focused is signals
        threshold = service.settings.signal_threshold
        service.settings = replace(service.settings, signal_threshold=signal.score + 1)
        await pilot.press("t")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.require is None
        await pilot.press("y")
        await wait_for(pilot, lambda: notified(app, "below the threshold"), 5, "below-threshold refusal")
        assert not service.positions()
        service.settings = replace(service.settings, signal_threshold=threshold)
        await pilot.press("t")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing opens
        await pilot.pause(0.2)
        assert not service.positions()
        await pilot.press("t", "y")
        await wait_for(pilot, lambda: len(service.positions()) == 1, 5, "position opened")
        assert service.positions()[0].side == signal.side and service.signals()[0].taken
        table = app.query_one("#positions-table")
        await wait_for(pilot, lambda: table.row_count == 2 and not pane.showing_signals, 5, "positions shown")
        assert notified(app, f"signal taken: PAPER {BTC} {signal.side}")


async def test_nodes_comment_on_a_signal_in_the_chat_and_place_no_order(cluster, paper_trading, tmp_path):
    config, nodes = cluster(count=1, reply="The breakout looks sound; the main risk is a fake-out below the high.")
    app, service = trading_cockpit(config, paper_trading, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        signal = await show_a_btc_signal(pilot, service)
        await wait_for(pilot, lambda: "Ask nodes" in app.query_one(KeyBar).render().plain, 5, "c in the key bar")
        await pilot.press("c")
        await wait_for(pilot, lambda: app.query(AnswerEntry) and not app.asking, 10, "the nodes' comment")
        sent = nodes[0].last_chat_json()["messages"][-1]["content"]
        assert sent.startswith(f"Comment on this PAPER trading signal") and BTC in sent
        assert f"score {signal.score:.0f}/100" in sent and "cannot place" in sent
        assert app.active_pane == "chat"
        entry = app.query_one(AnswerEntry)
        assert "fake-out" in entry.body.source and "[M2/" in str(entry.label.render())
        assert not service.positions()  # advice only: the LLM never places an order


async def test_the_signals_list_starts_the_idle_market_data(cluster, paper_trading, tmp_path):
    """No position: the price feed and the scanner (ccxt) wait until the signals list is opened."""
    config, _ = cluster(count=1)
    app, service = trading_cockpit(config, paper_trading, tmp_path)

    def running() -> set[str]:
        return {task.get_name() for task in service._tasks if not task.done()}

    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        market = app.query_one("#trading-market")
        await wait_for(pilot, lambda: "market data idle" in str(market.render()), 5, "idle market data shown")
        assert "trading-prices" not in running() and "trading-scanner" not in running()
        await pilot.press("escape", "5", "g")
        await wait_for(pilot, lambda: {"trading-prices", "trading-scanner"} <= running(), 10, "feed and scanner")
