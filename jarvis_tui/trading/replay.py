"""Replay an OHLCV CSV as a price source, at a chosen speed.

CSV: a header ``timestamp,open,high,low,close,volume``; timestamp in epoch
milliseconds (or seconds, or ISO-8601).  Each candle becomes four ticks in the
order the price most plausibly travelled: open, low, high, close for a rising
candle; open, high, low, close for a falling one.  That is what lets TP and SL
trigger inside a candle.  After the close tick the candle is handed to the
candle callback (the signal scanner).

``speed`` is market seconds per wall second: 60 plays a 1m candle per second;
0 plays as fast as possible.  A ``ReplayClock`` follows the candles, so the
engine's timestamps and the stale-price guard see market time, not wall time.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jarvis_tui.core.clock import Clock
from jarvis_tui.trading.signals import Candle

REQUIRED = ("timestamp", "open", "high", "low", "close", "volume")


class ReplayError(Exception):
    """The CSV cannot be replayed; the message names the file and line."""


class ReplayClock(Clock):
    """Wall time follows the replayed candles; monotonic follows it too."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def set(self, wall_ts: float) -> None:
        self._now = wall_ts

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now


def _timestamp_ms(text: str) -> float:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000.0
    return value * 1000.0 if value < 1e11 else value  # seconds -> ms


def read_ohlcv_csv(path: Path | str) -> list[Candle]:
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise ReplayError(f"{path}: file not found") from None
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read ({exc.strerror or exc})") from None
    candles: list[Candle] = []
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise ReplayError(f"{path}:1: the header needs the columns {','.join(REQUIRED)} "
                                  f"(missing {','.join(missing)})")
            reader.fieldnames = header
            previous = None
            for row in reader:
                line = reader.line_num
                try:
                    ts = _timestamp_ms(row["timestamp"])
                    o, h, l, c, v = (float(row[k]) for k in ("open", "high", "low", "close", "volume"))
                except (TypeError, ValueError):
                    raise ReplayError(f"{path}:{line}: not a number in this row") from None
                if min(o, h, l, c) <= 0 or v < 0 or h < max(o, c, l) or l > min(o, c):
                    raise ReplayError(f"{path}:{line}: impossible candle (need 0 < low <= open,close <= high "
                                      "and volume >= 0)")
                if previous is not None and ts <= previous:
                    raise ReplayError(f"{path}:{line}: timestamps must increase")
                previous = ts
                candles.append((ts, o, h, l, c, v))
        except UnicodeDecodeError:
            raise ReplayError(f"{path}: not UTF-8 CSV text") from None
        except csv.Error as exc:
            raise ReplayError(f"{path}: malformed CSV ({exc})") from None
    if not candles:
        raise ReplayError(f"{path}: no candles after the header")
    return candles


def candle_ticks(candle: Candle) -> list[float]:
    _, o, h, l, c, _ = candle
    return [o, l, h, c] if c >= o else [o, h, l, c]


@dataclass
class ReplayStats:
    candles: int = 0
    ticks: int = 0


async def play(candles: list[Candle], *, symbol: str, speed: float, clock: ReplayClock | None,
               on_tick: Callable[[str, float, float], Awaitable[object]],
               on_candle: Callable[[str, list[Candle]], Awaitable[object]] | None = None,
               sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> ReplayStats:
    stats = ReplayStats()
    if speed < 0:
        raise ReplayError("speed must be >= 0 (0 = as fast as possible)")
    interval_s = (candles[1][0] - candles[0][0]) / 1000.0 if len(candles) > 1 else 60.0
    for index, candle in enumerate(candles):
        start_s = candle[0] / 1000.0
        ticks = candle_ticks(candle)
        for step, price in enumerate(ticks):
            ts = start_s + interval_s * step / (len(ticks) - 1)  # the close tick lands at the candle's end
            if clock is not None:
                clock.set(ts)
            await on_tick(symbol, price, ts)
            stats.ticks += 1
        if on_candle is not None:
            await on_candle(symbol, candles[: index + 1])
        stats.candles += 1
        if speed > 0:
            await sleep(interval_s / speed)
        elif index % 50 == 49:
            await asyncio.sleep(0)  # let the bus and other tasks breathe on a fast replay
    return stats
