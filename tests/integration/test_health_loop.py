"""The periodic health monitor, on a short interval, over real loopback nodes and no requests."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from jarvis_tui.config import HealthConfig
from jarvis_tui.core.events import NodeStatusChanged, RequestStarted
from jarvis_tui.core.metrics import BreakerState
from jarvis_tui.core.orchestrator import Orchestrator
from tests.fakes.loopback_node import Fault
from tests.integration.cluster_config import make_config, node_config

INTERVAL_S = 0.2
FAILURES = 2
COOLDOWN_S = 1.0


async def _next_status(events, node: str, status: str, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Wait for ``node`` to change to ``status``; returns when it was seen.  Fails on any other change of it."""
    deadline = time.monotonic() + timeout
    while True:
        event = await asyncio.wait_for(events.get(), max(0.01, deadline - time.monotonic()))
        if event.node == node:
            assert event.status == status, f"{node} went {event.status} ({event.reason}), expected {status}"
            return


async def test_health_loop_marks_a_dead_node_down_cools_it_and_brings_it_back(loopback_node, tmp_path: Path):
    flaky = loopback_node()
    steady = loopback_node()
    config = make_config([node_config("FLAKY", flaky.url), node_config("STEADY", steady.url)], tmp_path / "j.db",
                         {"simple": ("FLAKY", "STEADY")}, failures=FAILURES, cooldown_s=COOLDOWN_S)
    config = dataclasses.replace(config, health=HealthConfig(interval_s=INTERVAL_S, timeout_s=0.5))
    orchestrator = Orchestrator(config)
    await orchestrator.start(bootstrap=False)
    statuses = orchestrator.bus.subscribe(NodeStatusChanged)
    requests = orchestrator.bus.subscribe(RequestStarted)
    state = orchestrator.nodes["FLAKY"]
    try:
        orchestrator.start_health_monitor()
        await _next_status(statuses, "FLAKY", "up", 5)
        assert orchestrator.nodes["STEADY"].status == "up"

        flaky.set(fault=Fault.REFUSED)  # the server goes away: nothing asks it anything but the monitor
        await _next_status(statuses, "FLAKY", "down", 5)
        assert state.breaker.consecutive_failures == 1 and state.breaker.state is BreakerState.CLOSED
        await _next_status(statuses, "FLAKY", "cooldown", 5)
        opened_at = time.monotonic()
        assert state.breaker.consecutive_failures == FAILURES and state.breaker.state is BreakerState.OPEN

        flaky.set(fault=None)  # back at once, on the same port, but it is cooling down: the loop must wait
        probes_before = len(flaky.requests)
        while time.monotonic() - opened_at < COOLDOWN_S * 0.9:
            assert len(flaky.requests) == probes_before, "the monitor probed a node cooling down"
            assert state.status == "cooldown" and state.breaker.state is BreakerState.OPEN
            await asyncio.sleep(0.05)

        await _next_status(statuses, "FLAKY", "up", 5 * INTERVAL_S + 2)
        assert len(flaky.requests) > probes_before  # the half-open probe that brought it back
        assert state.breaker.state is BreakerState.CLOSED and state.breaker.consecutive_failures == 0
        assert orchestrator.nodes["STEADY"].status == "up"
        assert requests.get_nowait() is None, "the monitor alone must do this: no request was sent"
        assert not flaky.chat_requests() and not steady.chat_requests()
    finally:
        await orchestrator.close()
