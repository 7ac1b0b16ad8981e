"""Generate data/ohlcv/BTC_USDT-1m.csv: a deterministic, realistic-looking BTC 1m series.

Quiet ranging stretches (small moves, ordinary volume) alternate with breakouts
on 2.5-4x volume; some breakouts follow through (the +0.4% TP is hit), some
fail and reverse (the -0.25% SL is hit), and one breakdown goes short.  The
seed is fixed, so the file is byte-identical on every run:

    python -m jarvis_tui.trading.sample_ohlcv [--out PATH] [--rows N]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from jarvis_tui.paths import data_file

START_MS = 1_767_571_200_000  # 2026-01-05 00:00 UTC
HEADER = "timestamp,open,high,low,close,volume"


def generate(rows: int = 420, seed: int = 7, start_price: float = 97_000.0) -> list[tuple[int, float, float, float, float, float]]:
    rng = random.Random(seed)
    candles = []
    price = start_price
    # (candle index, direction, follow-through) of the scripted events
    events = {70: (1, True), 140: (1, False), 215: (-1, True), 290: (1, True), 360: (-1, False)}
    drift_left, drift = 0, 0.0
    for i in range(rows):
        open_ = price
        volume = rng.uniform(38, 62)
        if i in events:
            direction, follow = events[i]
            move = direction * rng.uniform(0.0035, 0.0045)
            volume *= rng.uniform(2.8, 4.0)
            drift_left, drift = 6, direction * (0.0011 if follow else -0.0012)
        elif drift_left:
            move = drift + rng.gauss(0, 0.0002)
            volume *= rng.uniform(1.3, 1.9)
            drift_left -= 1
        else:
            move = rng.gauss(0, 0.00045) - (price / start_price - 1) * 0.02  # mean-reverting range
        close = open_ * (1 + move)
        wick = abs(rng.gauss(0, 0.00025))
        high = max(open_, close) * (1 + wick)
        low = min(open_, close) * (1 - abs(rng.gauss(0, 0.00025)))
        candles.append((START_MS + i * 60_000, round(open_, 1), round(high, 1), round(low, 1), round(close, 1),
                        round(volume, 3)))
        price = close
    return candles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jarvis_tui.trading.sample_ohlcv")
    parser.add_argument("--out", default=str(data_file("ohlcv/BTC_USDT-1m.csv")))
    parser.add_argument("--rows", type=int, default=420)
    args = parser.parse_args(argv)
    lines = [HEADER] + [",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in c)
                        for c in generate(args.rows)]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", "utf-8")
    print(f"wrote {len(lines) - 1} candles to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
