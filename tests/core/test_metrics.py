"""Rolling metrics and the circuit breaker, driven by a manual clock."""

from __future__ import annotations

from jarvis_tui.core.clock import ManualClock
from jarvis_tui.core.metrics import BreakerState, CircuitBreaker, NodeMetrics, percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 0.5) == 10.0
    assert percentile(values, 0.95) == 19.0
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None


def test_metrics_window_and_error_rate() -> None:
    metrics = NodeMetrics()
    for latency in (100.0, 200.0, 300.0):
        metrics.record(True, latency, ttft_ms=latency / 10, tokens_per_s=50.0)
    metrics.record(False, None)
    assert metrics.p50_ms == 200.0
    assert metrics.p95_ms == 300.0
    assert metrics.ttft_p50_ms == 20.0
    assert metrics.error_rate == 0.25
    assert metrics.requests == 4 and metrics.errors == 1


def test_breaker_opens_after_n_failures_then_half_opens_for_one_probe() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failures_to_open=3, cooldown_s=30, clock=clock)
    assert breaker.record_failure() is False
    assert breaker.record_failure() is False
    assert breaker.state is BreakerState.CLOSED
    assert breaker.record_failure() is True
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.advance(29.9)
    assert breaker.state is BreakerState.OPEN
    clock.advance(0.2)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() is True  # the one probe
    assert breaker.allow() is False  # no second probe while the first is out
    assert breaker.record_failure() is True  # failed probe re-opens for a full cooldown
    assert breaker.state is BreakerState.OPEN
    clock.advance(30.1)
    assert breaker.allow()
    assert breaker.record_success() is True
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0


def test_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker(failures_to_open=2, cooldown_s=5, clock=ManualClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
