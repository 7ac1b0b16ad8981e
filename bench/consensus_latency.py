"""Consensus wall time against the latency of the node that decided it.

The user's cluster (M2 1.4 / 1.3 s, OL1 1.3 / 0.5 s, M3 1.0 / 2.5 s, M1 0.7 / 12 s,
GEMINI 1.1 / 75 s) as real loopback HTTP nodes with latencies scaled by --scale
(0.1 by default), queried through the real core (Orchestrator + Commander, SQLite
store on).  Three scenarios, each --runs times:

  agree      every node gives the same answer        -> decided at M3
  dissent    M3 dissents                              -> decided at M1
  no-early   as "agree" with early_decision = false   -> waits for GEMINI (baseline)

For each: median wall time of ``Commander.consensus`` and median latency of the
deciding node's own request; target wall <= 1.1 x deciding + 50 ms.

    .venv/bin/python bench/consensus_latency.py [--scale 0.1] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jarvis_tui.core.commander import Commander
from jarvis_tui.core.commander_settings import CommanderSettings
from tests.fakes.loopback_node import LoopbackNode
from tests.integration.commander_cluster import CONSENSUS_ROUTE, USER_PROFILE, cluster

SCENARIOS = {
    "agree": ({}, True),
    "dissent": ({"M3": "ANSWER: 5"}, True),
    "no-early": ({}, False),
}


async def scenario(name: str, scale: float, runs: int) -> dict[str, float | str]:
    replies, early = SCENARIOS[name]
    servers = {n: LoopbackNode(reply=replies.get(n, "ANSWER: 4"), first_token_delay_s=lat * scale).start()
               for n, _w, lat in USER_PROFILE}
    walls, deciding, nodes = [], [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            spec = [(n, servers[n], {"weight": w, "timeout_s": 120.0}) for n, w, _ in USER_PROFILE]
            settings = CommanderSettings(early_decision=early, consensus_deadline_s=120.0)
            async with cluster(spec, Path(tmp), {"consensus": CONSENSUS_ROUTE}, settings) as orch:
                commander = Commander(orch)
                await commander.consensus("warm-up: What is 2+2?")  # connections in the pool, like a live cockpit
                for _ in range(runs):
                    started = time.perf_counter()
                    round_ = await commander.consensus("What is 2+2?")
                    walls.append((time.perf_counter() - started) * 1000)
                    deciding.append(round_.deciding_latency_ms or 0.0)
                    nodes.append(round_.deciding_node or "-")
    finally:
        for server in servers.values():
            server.stop()
    wall, decided = statistics.median(walls), statistics.median(deciding)
    target = 1.1 * decided + 50
    return {"scenario": name, "deciding_node": max(set(nodes), key=nodes.count), "deciding_ms": decided,
            "wall_ms": wall, "ratio": wall / decided if decided else float("nan"), "target_ms": target,
            "meets": "yes" if wall <= target else "NO"}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = [await scenario(name, args.scale, args.runs) for name in SCENARIOS]
    print(f"scale {args.scale}, {args.runs} runs each (medians)")
    print("| scenario | deciding node | deciding node latency | consensus wall | wall / deciding | target "
          "(1.1x + 50 ms) | meets |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scenario']} | {r['deciding_node']} | {r['deciding_ms']:.0f} ms | {r['wall_ms']:.0f} ms | "
              f"{r['ratio']:.3f}x | {r['target_ms']:.0f} ms | {r['meets']} |")


if __name__ == "__main__":
    asyncio.run(main())
