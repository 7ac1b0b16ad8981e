"""The orchestrator against real loopback nodes: every fault ends in a fallback or a clear error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jarvis_tui.core.clock import ManualClock
from jarvis_tui.core.events import NodeStatusChanged, RequestFinished, TokenDelta
from jarvis_tui.core.orchestrator import NoNodeAvailable, Orchestrator
from tests.fakes.loopback_node import Fault
from tests.integration.cluster_config import make_config, node_config

FAULTS = [Fault.REFUSED, Fault.HANG, Fault.HTTP_500, Fault.HTTP_429, Fault.MALFORMED_JSON, Fault.CUT_STREAM,
          Fault.ENDLESS_STREAM]
EXPECTED_OUTCOME = {Fault.REFUSED: "refused", Fault.HANG: "timeout", Fault.HTTP_500: "http_error",
                    Fault.HTTP_429: "http_error", Fault.MALFORMED_JSON: "bad_response",
                    Fault.CUT_STREAM: "bad_response", Fault.ENDLESS_STREAM: "timeout"}


async def _orchestrator(config, **kwargs) -> Orchestrator:  # type: ignore[no-untyped-def]
    orchestrator = Orchestrator(config, **kwargs)
    await orchestrator.start(bootstrap=False)
    return orchestrator


@pytest.mark.parametrize("kind", ["openai", "ollama", "lmstudio"])
@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
async def test_every_fault_falls_back_to_the_next_node(loopback_node, tmp_path: Path, fault: Fault,
                                                       kind: str) -> None:
    broken = loopback_node(fault=fault, tokens_per_s=200)
    healthy = loopback_node(reply="The answer is 4.", model="good-model")
    config = make_config([node_config("BROKEN", broken.url, kind=kind, timeout_s=1.5, first_token_timeout_s=0.8),
                          node_config("GOOD", healthy.url, kind=kind, model="good-model")],
                         tmp_path / "j.db", {"simple": ("BROKEN", "GOOD")})
    orchestrator = await _orchestrator(config)
    try:
        result = await asyncio.wait_for(orchestrator.ask("What is 2+2?"), 10)
    finally:
        await orchestrator.close()
    assert result.answer == "The answer is 4."
    assert result.node == "GOOD"
    assert [a.node for a in result.attempts] == ["BROKEN", "GOOD"]
    assert result.attempts[0].outcome == EXPECTED_OUTCOME[fault]
    assert result.attempts[0].error
    assert result.attempts[1].outcome == "ok"


async def test_429_retry_after_cools_the_node_for_that_long(loopback_node, tmp_path: Path) -> None:
    limited = loopback_node(fault=Fault.HTTP_429, retry_after_s=45)
    healthy = loopback_node(reply="ok")
    clock = ManualClock()
    config = make_config([node_config("LIMITED", limited.url), node_config("GOOD", healthy.url)], tmp_path / "j.db",
                         {"simple": ("LIMITED", "GOOD")}, cooldown_s=10)
    orchestrator = await _orchestrator(config, clock=clock)
    try:
        first = await orchestrator.ask("hi")
        assert first.attempts[0].outcome == "http_error" and "retry after 45s" in first.attempts[0].error
        clock.advance(30)  # past the configured cooldown, still inside Retry-After
        second = await orchestrator.ask("hi")
        assert second.attempts[0].outcome == "skipped" and "cooling down" in second.attempts[0].error
        assert len(limited.chat_requests()) == 1
    finally:
        await orchestrator.close()


async def test_breaker_skips_a_failing_node_then_probes_it_after_cooldown(loopback_node, tmp_path: Path) -> None:
    flaky = loopback_node(fault=Fault.HTTP_500)
    healthy = loopback_node(reply="ok")
    clock = ManualClock()
    config = make_config([node_config("FLAKY", flaky.url), node_config("GOOD", healthy.url)], tmp_path / "j.db",
                         {"simple": ("FLAKY", "GOOD")}, failures=2, cooldown_s=20)
    orchestrator = await _orchestrator(config, clock=clock)
    statuses = orchestrator.bus.subscribe(NodeStatusChanged)
    try:
        for _ in range(2):
            await orchestrator.ask("hi")
        assert orchestrator.nodes["FLAKY"].status == "cooldown"
        skipped = await orchestrator.ask("hi")
        assert skipped.attempts[0].outcome == "skipped"
        assert len(flaky.chat_requests()) == 2  # the open breaker sent nothing
        flaky.set(fault=None, reply="recovered")
        clock.advance(21)
        probed = await orchestrator.ask("hi")
        assert probed.node == "FLAKY" and probed.answer == "recovered"
        assert orchestrator.nodes["FLAKY"].status == "up"
        seen = []
        while (event := statuses.get_nowait()) is not None:
            seen.append((event.node, event.status))
        assert ("FLAKY", "cooldown") in seen and seen[-1] == ("FLAKY", "up")
    finally:
        await orchestrator.close()


async def test_unreachable_nodes_cool_down_through_health_checks(loopback_node, refused_url: str,
                                                                 tmp_path: Path) -> None:
    config = make_config([node_config("GONE", refused_url)], tmp_path / "j.db", failures=2)
    orchestrator = await _orchestrator(config)
    try:
        for _ in range(2):
            results = await orchestrator.health_check()
            assert results["GONE"].ok is False and results["GONE"].outcome == "refused"
        assert orchestrator.nodes["GONE"].status == "cooldown"
        assert orchestrator.skip_reason("GONE").startswith("cooling down")
    finally:
        await orchestrator.close()


async def test_all_nodes_failing_is_a_clear_error_listing_every_attempt(loopback_node, refused_url: str,
                                                                       tmp_path: Path) -> None:
    broken = loopback_node(fault=Fault.HTTP_500)
    config = make_config([node_config("A", refused_url), node_config("B", broken.url)], tmp_path / "j.db")
    orchestrator = await _orchestrator(config)
    try:
        with pytest.raises(NoNodeAvailable) as caught:
            await orchestrator.ask("hi")
    finally:
        await orchestrator.close()
    assert [(a.node, a.outcome) for a in caught.value.attempts] == [("A", "refused"), ("B", "http_error")]
    assert "A refused" in str(caught.value) and "B http_error (HTTP 500)" in str(caught.value)


async def test_a_hung_node_never_hangs_the_caller(loopback_node, tmp_path: Path) -> None:
    hung = loopback_node(fault=Fault.HANG)
    config = make_config([node_config("HUNG", hung.url, timeout_s=0.6)], tmp_path / "j.db")
    orchestrator = await _orchestrator(config)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(NoNodeAvailable):
            await orchestrator.ask("hi")
        assert loop.time() - started < 2.0
    finally:
        await orchestrator.close()


async def test_events_and_stored_exchange_for_a_streamed_answer(loopback_node, tmp_path: Path) -> None:
    node = loopback_node(reply="one two three four", tokens_per_s=400)
    config = make_config([node_config("A", node.url)], tmp_path / "j.db")
    orchestrator = await _orchestrator(config)
    deltas = orchestrator.bus.subscribe(TokenDelta)
    finished = orchestrator.bus.subscribe(RequestFinished)
    try:
        result = await orchestrator.ask("count")
        streamed = []
        while (event := deltas.get_nowait()) is not None:
            streamed.append(event.text)
        assert "".join(streamed) == "one two three four"
        done = finished.get_nowait()
        assert done.outcome == "ok" and done.tokens_out == result.tokens_out and done.ttft_ms is not None
        messages = await orchestrator.store.messages(result.conversation_id)
        assert [(m.role, m.content) for m in messages] == [("user", "count"), ("assistant", "one two three four")]
        await orchestrator.flush_request_rows()
        rows = await orchestrator.store.request_rows("A")
        assert rows[0]["outcome"] == "ok" and rows[0]["tokens_out"] == result.tokens_out
        assert orchestrator.nodes["A"].metrics.p50_ms is not None
    finally:
        await orchestrator.close()


async def test_conversation_history_is_sent_on_the_next_turn(loopback_node, tmp_path: Path) -> None:
    node = loopback_node(reply="noted")
    config = make_config([node_config("A", node.url)], tmp_path / "j.db")
    orchestrator = await _orchestrator(config)
    try:
        first = await orchestrator.ask("my name is Tony")
        await orchestrator.ask("what is my name?", conversation_id=first.conversation_id)
    finally:
        await orchestrator.close()
    sent = node.last_chat_json()["messages"]
    assert [m["content"] for m in sent] == ["my name is Tony", "noted", "what is my name?"]
