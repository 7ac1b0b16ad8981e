"""Per-node rolling metrics and the circuit breaker.

The breaker follows the usual three states (LiteLLM's router cooldowns work the
same way): ``closed`` sends traffic; after ``failures`` consecutive failures it
``open``s for ``cooldown_s`` and the node is skipped; then it is ``half_open``:
exactly one probe (a health check or a real request) decides whether it closes
again or re-opens for another cooldown.  Unreachable nodes count as failures,
not only nodes that answer with errors.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock

WINDOW = 100


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Closed, open for a cooldown after N consecutive failures, then one half-open probe."""

    failures_to_open: int = 3
    cooldown_s: float = 30.0
    clock: Clock = SYSTEM_CLOCK
    consecutive_failures: int = 0
    opened_at: float | None = None
    probe_in_flight: bool = False

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.clock.monotonic() - self.opened_at < self.cooldown_s:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def cooldown_left_s(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self.clock.monotonic() - self.opened_at))

    def allow(self) -> bool:
        """May a request go to this node now?  In half-open, only one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self.probe_in_flight:
            return False
        self.probe_in_flight = True
        return True

    def record_success(self) -> bool:
        """Returns True when this success closed an open breaker."""
        was_open = self.opened_at is not None
        self.consecutive_failures = 0
        self.opened_at = None
        self.probe_in_flight = False
        return was_open

    def record_failure(self) -> bool:
        """Returns True when this failure (re-)opened the breaker."""
        self.consecutive_failures += 1
        self.probe_in_flight = False
        if self.opened_at is not None or self.consecutive_failures >= self.failures_to_open:
            self.opened_at = self.clock.monotonic()
            return True
        return False

    def release_probe(self) -> None:
        """A probe ended with no verdict (cancelled)."""
        self.probe_in_flight = False


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    # nearest-rank: p95 of 20 samples is the 19th, never an interpolation past the data
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered) - 1e-9)))
    return ordered[rank - 1]


@dataclass
class NodeMetrics:
    """Rolling windows of one node's latencies, TTFTs, tokens/s and outcomes."""

    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    ttfts_ms: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    tokens_per_s: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=WINDOW))
    requests: int = 0
    errors: int = 0
    quality_score: float | None = None  # set by the commander's verifier / benchmark

    def record(self, ok: bool, latency_ms: float | None, ttft_ms: float | None = None,
               tokens_per_s: float | None = None) -> None:
        self.requests += 1
        self.outcomes.append(ok)
        if not ok:
            self.errors += 1
        if ok and latency_ms is not None:
            self.latencies_ms.append(latency_ms)
        if ok and ttft_ms is not None:
            self.ttfts_ms.append(ttft_ms)
        if ok and tokens_per_s is not None:
            self.tokens_per_s.append(tokens_per_s)

    @property
    def p50_ms(self) -> float | None:
        return percentile(list(self.latencies_ms), 0.50)

    @property
    def p95_ms(self) -> float | None:
        return percentile(list(self.latencies_ms), 0.95)

    @property
    def ttft_p50_ms(self) -> float | None:
        return percentile(list(self.ttfts_ms), 0.50)

    @property
    def tokens_per_s_p50(self) -> float | None:
        return percentile(list(self.tokens_per_s), 0.50)

    @property
    def error_rate(self) -> float | None:
        if not self.outcomes:
            return None
        return 1.0 - sum(self.outcomes) / len(self.outcomes)

    def snapshot(self) -> dict[str, float | int | None]:
        return {
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "ttft_ms": self.ttft_p50_ms,
            "tokens_per_s": self.tokens_per_s_p50,
            "error_rate": self.error_rate,
            "requests": self.requests,
            "quality_score": self.quality_score,
        }
