"""Regenerates docs/screenshot.png: the real cockpit at 160x48, as the README shows it.

    .venv/bin/python docs/make_screenshot.py        # needs rsvg-convert (librsvg2-bin)

Everything on screen comes through the production code (JarvisApp, orchestrator, commander, GPU monitor):

- five loopback LLM nodes (tests/fakes/loopback_node.py) with different speeds; GEMINI points at a closed port;
- a chat question, then a consensus round asked through the command palette (M3 disagrees);
- the local GPUs are the user's M1 (six cards) through an injected NVML library object, since this machine has
  no GPU; one card runs warm;
- two paper positions are published on the bus the way the trading service publishes them (no exchange can be
  reached from here).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jarvis_tui.gpu.monitor import GpuMonitor
from jarvis_tui.gpu.settings import GpuSettings
from jarvis_tui.trading.events import MarketDataStatus, PositionsUpdated
from jarvis_tui.trading.views import BalanceView
from jarvis_tui.ui.app import JarvisApp
from tests.fakes.loopback_node import LoopbackNode
from tests.gpu.gpu_fakes import FakeNvml, m1_gpus
from tests.ui.conftest import NODE_SPECS, make_config
from tests.ui.pilot_helpers import ask, wait_for, wait_ready
from tests.ui.test_palette import run_palette
from tests.ui.test_snapshots import position

SIZE = (160, 48)
QUESTION = "Why does asyncio need an event loop? Two lines."
ANSWER = ("The event loop is the scheduler: it runs one coroutine until it awaits, then switches to another "
          "that is ready.\n\n- **I/O** waits cost nothing while other tasks run\n- **one thread**: no locks "
          "around shared state")
CONSENSUS = "What is the capital of Australia?"


def replying(consensus_answer: str):  # type: ignore[no-untyped-def]
    """A node's reply: the consensus answer to the consensus question, the chat answer otherwise."""
    return lambda prompt: consensus_answer if "Australia" in prompt else ANSWER


REPLIES = {"M2": (replying("ANSWER: Canberra\nIt was chosen in 1908 as a compromise."), 120.0, 0.15),
           "OL1": (replying("ANSWER: Canberra"), 300.0, 0.05),
           "M3": (replying("ANSWER: Sydney\nIt is the largest city."), 90.0, 0.1),
           "M1": (replying("ANSWER: Canberra"), 40.0, 0.9)}


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def main() -> str:
    folder = Path(tempfile.mkdtemp(prefix="jarvis-shot-"))
    nodes, specs = [], []
    for name, kind, model, weight in NODE_SPECS:
        if name in REPLIES:
            reply, rate, delay = REPLIES[name]
            node = LoopbackNode(model=model, reply=reply, tokens_per_s=rate, first_token_delay_s=delay).start()
            nodes.append(node)
            url = node.url
        else:
            url = closed_port_url()
        specs.append((name, kind, model, weight, url))
    config = make_config(specs, folder / "jarvis.db")
    config = dataclasses.replace(config, routing={**config.routing, "simple": ("M2", "OL1"),
                                                  "consensus": ("M2", "OL1", "M3", "M1")})
    gpus = m1_gpus()
    gpus[5].temperature_c = 78  # the RTX 3080 runs warm: amber
    app = JarvisApp(config, services=frozenset({"gpu", "commander"}), provided_services={})
    app.provided_services["gpu"] = GpuMonitor(GpuSettings(poll_interval_s=0.2), [], app.bus,
                                              nvml_lib=FakeNvml(gpus))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_ready(pilot)
            await ask(pilot, QUESTION, timeout=30)
            app.chat.input.load_text(CONSENSUS)
            await run_palette(pilot, "Ask with consensus")
            await wait_for(pilot, lambda: not app.asking, 30, "the consensus answer")
            balance = BalanceView(mode="PAPER", balance=980.0, equity=981.32, unrealized_pnl=1.32,
                                  realized_pnl=0.0, margin_used=20.0, open_positions=2, total_notional=200.0)
            app.bus.publish(MarketDataStatus(available=True, source="replay"))
            app.bus.publish(PositionsUpdated(mode="PAPER", balance=balance, positions=(
                position("p1", "BTC/USDT:USDT", "long", 64250.0, 64410.5, 1.93),
                position("p2", "SOL/USDT:USDT", "short", 148.20, 148.95, -0.61))))
            await wait_for(pilot, lambda: app.query_one("#positions-table").row_count == 3, 10, "positions")
            await pilot.pause(3.0)  # a few GPU polls for the sparklines
            app.clear_notifications()
            app.focus_pane("chat")
            await pilot.pause(0.5)
            return app.save_screenshot(filename="screenshot.svg", path=str(folder))
    finally:
        for node in nodes:
            node.stop()


if __name__ == "__main__":
    out = ROOT / "docs" / "screenshot.png"
    svg = asyncio.run(main())
    subprocess.run(["rsvg-convert", "--zoom", "1.0", "-o", str(out), svg], check=True)
    print(f"wrote {out} (from {svg})")
