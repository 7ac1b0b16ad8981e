"""Snapshots of the whole cockpit at 160x48 and 80x24 (pytest-textual-snapshot).

The data is real and deterministic: five loopback nodes answer a fixed reply
through the real orchestrator; the GPU pane reads the user's M1 (six GPUs)
through the real GpuMonitor over an injected NVML library object; the consensus
and positions panes receive fixed commander and trading events on the real bus.
Measured durations and rates vary from run to run, so the app masks them
(``mask_volatile``); everything else is what the user sees.
"""

from __future__ import annotations

import pytest

from jarvis_tui.core.commander_events import ConsensusDecided, ConsensusStarted, VoteCast
from jarvis_tui.gpu.monitor import GpuMonitor
from jarvis_tui.gpu.settings import GpuSettings
from jarvis_tui.trading.events import MarketDataStatus, PositionsUpdated
from jarvis_tui.trading.views import BalanceView, PositionView
from jarvis_tui.ui.app import JarvisApp
from tests.gpu.gpu_fakes import FakeNvml, m1_gpus
from tests.ui.pilot_helpers import ask, wait_for, wait_ready

ANSWER = "Paris is the capital of **France**.\n\n- population: 2.1 M\n- river: the Seine"


def position(pid: str, symbol: str, side: str, entry: float, mark: float, pnl: float) -> PositionView:
    return PositionView(id=pid, symbol=symbol, side=side, contracts=12.0, contract_size=0.0001, entry_price=entry,
                        mark_price=mark, mark_ts=1_700_000_000.0, stale=False, leverage=10, margin=10.0,
                        notional=100.0, liquidation_price=None, tp_price=entry * (1.004 if side == "long" else 0.996),
                        sl_price=entry * (0.9975 if side == "long" else 1.0025), unrealized_pnl=pnl,
                        realized_pnl=0.0, fees_paid=0.06, roe_pct=pnl * 10, opened_at=1_700_000_000.0)


def feed_panes(app: JarvisApp) -> None:
    bus = app.bus
    bus.publish(ConsensusStarted(round_id="r1", prompt="What is the capital of France?",
                                 nodes=("M2", "OL1", "M3", "M1", "GEMINI"), weights=(1.4, 1.3, 1.0, 0.7, 1.1),
                                 deadlines_s=(10, 10, 10, 10, 10)))
    votes = (("M2", "deepseek-coder-v2-lite", 1.4, "answered", "Paris", 0, 1300.0),
             ("OL1", "qwen3:1.7b", 1.3, "answered", "Paris.", 0, 500.0),
             ("M3", "mistral-7b-instruct", 1.0, "answered", "Lyon", 1, 2500.0),
             ("M1", "qwen3-30b-a3b", 0.7, "cancelled", "", None, None),
             ("GEMINI", "gemini-2.5-flash", 1.1, "failed", "", None, None))
    for node, model, weight, status, answer, cluster, latency in votes:
        bus.publish(VoteCast(round_id="r1", node=node, model=model, weight=weight, status=status, answer=answer,
                             cluster=cluster, latency_ms=latency, error="refused" if status == "failed" else ""))
    bus.publish(ConsensusDecided(round_id="r1", verdict="Paris", confidence=0.73, flags=("DECISION ANTICIPEE",),
                                 disagreements=("[M3/mistral-7b-instruct] (1.0) Lyon",), winning_nodes=("M2", "OL1"),
                                 deciding_node="OL1", early=True, wall_ms=2500.0))
    positions = (position("p1", "BTC/USDT:USDT", "long", 64250.0, 64410.5, 1.93),
                 position("p2", "SOL/USDT:USDT", "short", 148.20, 148.95, -0.61))
    balance = BalanceView(mode="PAPER", balance=980.0, equity=981.32, unrealized_pnl=1.32, realized_pnl=0.0,
                          margin_used=20.0, open_positions=2, total_notional=200.0)
    bus.publish(MarketDataStatus(available=True, source="replay"))
    bus.publish(PositionsUpdated(mode="PAPER", positions=positions, balance=balance))


@pytest.fixture
def cockpit(cluster, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative database path keeps the status bar the same in every run
    config, _nodes = cluster(db_path="jarvis.db", reply=ANSWER)
    monitor_settings = GpuSettings(poll_interval_s=0.2)

    def build() -> JarvisApp:
        monitor = GpuMonitor(monitor_settings, [], app_bus_holder["bus"], nvml_lib=FakeNvml(m1_gpus()))
        return monitor

    app_bus_holder: dict = {}
    app = JarvisApp(config, services=frozenset({"gpu"}), mask_volatile=True, provided_services={})
    app_bus_holder["bus"] = app.bus
    app.provided_services["gpu"] = build()
    return app


async def settle(pilot) -> None:
    app = pilot.app
    await wait_ready(pilot)
    await ask(pilot, "What is the capital of France?")
    feed_panes(app)
    await wait_for(pilot, lambda: app.query_one("#positions-table").row_count == 3, 10, "positions")
    await wait_for(pilot, lambda: len(app.query(".gpu-card")) == 6, 10, "gpu cards")
    await wait_for(pilot, lambda: app.query_one("#consensus-votes").row_count == 5, 10, "votes")
    app.clear_notifications()
    app.set_focus(None)
    await pilot.pause(0.5)


def test_cockpit_160x48(snap_compare, cockpit):
    assert snap_compare(cockpit, terminal_size=(160, 48), run_before=settle)


def test_cockpit_80x24(snap_compare, cockpit):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("2")
        await pilot.pause(0.3)

    assert snap_compare(cockpit, terminal_size=(80, 24), run_before=run_before)
