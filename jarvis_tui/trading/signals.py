"""The signal scanner: a 0-100 score per pair from its recent OHLCV candles.

Three components, computed on closed candles (N = ``lookback``, default 20):

- breakout, 0-40 points.  b = close / (highest high of the N candles before
  this one) - 1.  At or above the high: 25 + 15 x min(1, b / 0.3%).  Within
  0.3% below it: 25 x (1 + b / 0.3%).  Further below: 0.
- volume surge, 0-30 points.  r = this candle's volume / mean volume of the N
  before it; 30 x clamp((r - 1) / 2): 1x gives 0, 3x or more gives 30.
- momentum, 0-30 points.  Wilder's RSI(14) and the 5-candle rate of change:
  20 x clamp((RSI - 50) / 20) + 10 x clamp(ROC5 / 0.5%); an overheated RSI
  above 85 loses 2 points per RSI point.

Shorts are the mirror image (breakdown below the N-candle low, RSI below 50,
falling ROC).  The score is the better side's sum, rounded to 0.1.  A pair
scoring at or above the threshold (70 by default) is an actionable signal.
The scanner only scores; orders go through TradingService.  LLM nodes never
reach this code path: they may comment on a SignalView, nothing more.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import replace

from jarvis_tui.trading.views import SignalView

Candle = tuple[float, float, float, float, float, float]  # (ts_ms, open, high, low, close, volume)

LOOKBACK = 20
RSI_PERIOD = 14
ROC_PERIOD = 5
BREAKOUT_SPAN = 0.003
ROC_SPAN = 0.005


def _clamp(value: float) -> float:
    return 0.0 if value < 0 else 1.0 if value > 1 else value


def rsi(closes: Sequence[float], period: int = RSI_PERIOD) -> float:
    """Wilder's RSI over the whole series (smoothed after the first ``period`` changes)."""
    if len(closes) <= period:
        return 50.0
    gains = losses = 0.0
    for i in range(1, period + 1):
        change = closes[i] - closes[i - 1]
        gains += max(change, 0.0)
        losses += max(-change, 0.0)
    avg_gain, avg_loss = gains / period, losses / period
    for i in range(period + 1, len(closes)):
        change = closes[i] - closes[i - 1]
        avg_gain = (avg_gain * (period - 1) + max(change, 0.0)) / period
        avg_loss = (avg_loss * (period - 1) + max(-change, 0.0)) / period
    if avg_loss == 0:
        return 100.0 if avg_gain > 0 else 50.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


def _breakout_points(b: float) -> float:
    if b >= 0:
        return 25.0 + 15.0 * min(1.0, b / BREAKOUT_SPAN)
    if b > -BREAKOUT_SPAN:
        return 25.0 * (1.0 + b / BREAKOUT_SPAN)
    return 0.0


def _momentum_points(rsi_value: float, roc: float) -> float:
    points = 20.0 * _clamp((rsi_value - 50.0) / 20.0) + 10.0 * _clamp(roc / ROC_SPAN)
    if rsi_value > 85.0:
        points -= 2.0 * (rsi_value - 85.0)
    return max(points, 0.0)


def score_candles(candles: Sequence[Candle], lookback: int = LOOKBACK) -> tuple[str, float, dict[str, float]] | None:
    """(side, score, components) for the last candle, or None without enough history."""
    needed = max(lookback, RSI_PERIOD, ROC_PERIOD) + 1
    if len(candles) < needed:
        return None
    window = candles[-lookback - 1:-1]
    last = candles[-1]
    close, volume = last[4], last[5]
    prior_high = max(c[2] for c in window)
    prior_low = min(c[3] for c in window)
    mean_volume = sum(c[5] for c in window) / len(window)
    ratio = volume / mean_volume if mean_volume > 0 else 1.0
    volume_points = 30.0 * _clamp((ratio - 1.0) / 2.0)
    closes = [c[4] for c in candles[-(RSI_PERIOD * 4):]]
    rsi_value = rsi(closes)
    roc = close / candles[-1 - ROC_PERIOD][4] - 1.0
    long = {"breakout": _breakout_points(close / prior_high - 1.0), "volume": volume_points,
            "momentum": _momentum_points(rsi_value, roc)}
    short = {"breakout": _breakout_points(1.0 - close / prior_low), "volume": volume_points,
             "momentum": _momentum_points(100.0 - rsi_value, -roc)}
    long_score, short_score = sum(long.values()), sum(short.values())
    if short_score > long_score:
        return "short", round(short_score, 1), {k: round(v, 1) for k, v in short.items()}
    return "long", round(long_score, 1), {k: round(v, 1) for k, v in long.items()}


class SignalScanner:
    def __init__(self, threshold: float = 70.0, keep: int = 50, lookback: int = LOOKBACK) -> None:
        self.threshold = threshold
        self.lookback = lookback
        self.recent: deque[SignalView] = deque(maxlen=keep)
        self.latest: dict[str, SignalView] = {}

    def evaluate(self, symbol: str, candles: Sequence[Candle]) -> SignalView | None:
        """Score the newest closed candle; a new actionable signal is returned (once per candle)."""
        scored = score_candles(candles, self.lookback)
        if scored is None:
            return None
        side, score, parts = scored
        last = candles[-1]
        ts = last[0] / 1000.0
        previous = self.latest.get(symbol)
        signal = SignalView(id=f"{symbol.split('/')[0]}-{int(last[0])}", symbol=symbol, side=side, score=score,
                            price=last[4], ts=ts, breakout=parts["breakout"], volume=parts["volume"],
                            momentum=parts["momentum"], actionable=score >= self.threshold)
        self.latest[symbol] = signal
        if not signal.actionable or (previous is not None and previous.id == signal.id and previous.actionable):
            return None
        self.recent.appendleft(signal)
        return signal

    def find(self, signal_id_or_symbol: str) -> SignalView | None:
        for signal in self.recent:
            if signal.id == signal_id_or_symbol:
                return signal
        wanted = signal_id_or_symbol.upper()
        for signal in self.recent:
            if signal.symbol.upper() == wanted or signal.symbol.split("/")[0] == wanted:
                return signal
        return None

    def mark_taken(self, signal_id: str) -> None:
        self.recent = deque((replace(s, taken=True) if s.id == signal_id else s for s in self.recent),
                            maxlen=self.recent.maxlen)

    def recent_views(self) -> tuple[SignalView, ...]:
        return tuple(self.recent)

    def latest_views(self) -> tuple[SignalView, ...]:
        return tuple(sorted(self.latest.values(), key=lambda s: -s.score))
