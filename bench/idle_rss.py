"""Idle RSS of the cockpit (no voice model): `jarvis` on five loopback nodes, after start-up settles.

The process runs on a 160x48 pseudo-terminal; RSS is read from /proc after
``--settle`` seconds (health checks done, GPU monitor and trading service
started, nothing asked).  The minimal 5-pane Textual app is measured the same
way for reference.  Target: <= 150 MB.

With no position the trading service leaves its market data (ccxt) idle;
``--paper-position`` opens one paper position in the store first, so the
cockpit starts the price feed and imports ccxt as it does for a user who has one
(its MEXC classes only: trading/ccxt_lazy.py).  The bench's exchange URL refuses
connections, and the figure is only given once the pane says so ("... reaching MEXC"),
proof that the ccxt client was built and used.

    .venv/bin/python bench/idle_rss.py [--settle 8] [--paper-position]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cockpit_rig import PYTHON, ROOT, LoopbackCluster, PtyProcess, baseline_script, bench_env, temp_folder, \
    write_config  # noqa: E402


def seed_paper_position(folder: Path) -> None:
    """One open paper BTC long in the store the config names (its price handed in: no exchange needed)."""
    sys.path.insert(0, str(ROOT))
    from jarvis_tui.trading.service import TradingService
    from jarvis_tui.trading.settings import TradingSettings

    async def seed() -> None:
        settings = TradingSettings(exchange_base_url="http://127.0.0.1:9",
                                   markets_cache_dir=folder / "cache" / "jarvis-tui")
        service = TradingService(settings, db_path=folder / "jarvis.db")
        await service.start(background=False)
        try:
            await service.on_quote("BTC/USDT:USDT", 97_000.0)
            await service.open_position("BTC", "long")
        finally:
            await service.stop()

    asyncio.run(seed())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settle", type=float, default=8.0)
    parser.add_argument("--paper-position", action="store_true",
                        help="start with one open paper position (market data and ccxt loaded)")
    args = parser.parse_args()
    folder = temp_folder()
    cluster = LoopbackCluster()
    env = bench_env(folder)
    results = {}
    try:
        config = write_config(cluster.urls, folder)
        if args.paper_position:
            seed_paper_position(folder)
        for name, argv, marker in (
            ("jarvis", [str(ROOT / ".venv/bin/jarvis"), "--config", str(config)], b"1 Chat"),
            ("baseline", [PYTHON, str(baseline_script(folder))], b"pane-5"),
        ):
            proc = PtyProcess(argv, env)
            try:
                proc.wait_for(marker)
                proc.drain(args.settle, keep=args.paper_position)
                results[name] = proc.rss_mb()
                if name == "jarvis" and args.paper_position and b"reaching MEXC" not in proc.output:
                    # The figure only counts if the feed really built its ccxt client and tried the exchange.
                    print("the price feed never tried MEXC (ccxt not loaded?): no figure", file=sys.stderr)
                    return 2
            finally:
                proc.stop()
    finally:
        cluster.close()
    print(f"idle RSS after {args.settle:g} s{' with one open paper position' if args.paper_position else ''}: "
          f"jarvis {results['jarvis']:.0f} MB "
          f"(minimal 5-pane Textual app {results['baseline']:.0f} MB), target <= 150 MB")
    return 0 if results["jarvis"] <= 150 else 1


if __name__ == "__main__":
    raise SystemExit(main())
