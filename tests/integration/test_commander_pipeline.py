"""The ask pipeline over loopback nodes: TaskUnits, fallback, thermal guard, verification loop,
classifier node and the Claude synthesis."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx2
import pytest

from jarvis_tui.core.commander import Commander
from jarvis_tui.core.commander_events import (
    Classified,
    SynthesisFinished,
    SynthesisStarted,
    TaskUnitChanged,
    VerificationScored,
)
from jarvis_tui.core.commander_settings import CommanderSettings
from jarvis_tui.core.events import TokenDelta
from jarvis_tui.core.orchestrator import NoNodeAvailable
from jarvis_tui.core.thermal import ThermalStatus
from jarvis_tui.nodes.anthropic import AnthropicClient
from jarvis_tui.nodes.factory import make_client
from tests.fakes.loopback_node import Fault
from tests.integration.cluster_config import write_toml
from tests.integration.commander_cluster import cluster
from tests.integration.test_cli_headless import run_cli

CODE = "```python\ndef add(a, b):\n    return a + b\n```"
CODE_PROMPT = "Write a python function add(a, b)"


def _user_prompts(server) -> list[str]:
    return [next(m["content"] for m in r.json()["messages"] if m["role"] == "user") for r in server.chat_requests()]


@pytest.fixture
def coders(loopback_node):
    m2 = loopback_node(reply=CODE, model="m2-model")
    m3 = loopback_node(reply="Looks correct; add a docstring.", model="m3-model")
    return m2, m3


def _nodes(m2, m3, **extra):
    return [("M2", m2, {"model": "m2-model", "weight": 1.4, **extra}), ("M3", m3, {"model": "m3-model"})]


async def test_code_runs_a_coder_then_a_reviewer_that_sees_the_code(coders, tmp_path: Path) -> None:
    m2, m3 = coders
    async with cluster(_nodes(m2, m3), tmp_path, {"code": ("M2", "M3")}) as orch:
        events = orch.bus.subscribe(TaskUnitChanged, Classified)
        result = await Commander(orch).ask(CODE_PROMPT)
        events.close()
        seen = [e async for e in events]
    assert result.task_type == "code"
    units = result.extra["units"]
    assert [(u["id"], u["role"], u["node"], u["status"], u["depends_on"]) for u in units] == [
        ("t1", "coder", "M2", "done", []), ("t2", "reviewer", "M3", "done", ["t1"])]
    assert "def add(a, b)" in _user_prompts(m3)[0] and "Proposed solution from [M2/m2-model]" in _user_prompts(m3)[0]
    # no commander node: the best-scored answer (the heavier coder) with the review attributed under it
    assert result.node == "M2" and result.answer.startswith(CODE)
    assert "Review [M3/m3-model]:\nLooks correct" in result.answer
    assert [(a.node, a.outcome) for a in result.attempts] == [("M2", "ok"), ("M3", "ok")]
    assert isinstance(seen[0], Classified) and seen[0].keyword == "python"
    assert [(e.unit_id, e.status) for e in seen if isinstance(e, TaskUnitChanged)] == [
        ("t1", "running"), ("t1", "done"), ("t2", "running"), ("t2", "done")]


async def test_a_failing_node_is_replaced_and_the_substitution_recorded(coders, tmp_path: Path) -> None:
    m2, m3 = coders
    m2.set(fault=Fault.HTTP_500)
    async with cluster(_nodes(m2, m3), tmp_path, {"code": ("M2", "M3")}) as orch:
        result = await Commander(orch).ask(CODE_PROMPT)
    t1, t2 = result.extra["units"]
    assert t1["node"] == "M3" and [(a["node"], a["outcome"]) for a in t1["attempts"]] == [
        ("M2", "http_error"), ("M3", "ok")]
    assert t2["node"] == "M3" and t2["status"] == "done"
    assert [(a.node, a.outcome) for a in result.attempts][:2] == [("M2", "http_error"), ("M3", "ok")]


async def test_every_node_failing_raises_with_all_attempts(loopback_node, tmp_path: Path) -> None:
    a, b = loopback_node(fault=Fault.REFUSED), loopback_node(fault=Fault.CUT_STREAM)
    async with cluster([("A", a, {}), ("B", b, {})], tmp_path, {"simple": ("A", "B")}) as orch:
        with pytest.raises(NoNodeAvailable) as info:
            await Commander(orch).ask("hello there")
    assert [(x.node, x.outcome) for x in info.value.attempts] == [("A", "refused"), ("B", "bad_response")]


async def test_thermal_guard_skips_critical_and_demotes_warning(coders, tmp_path: Path) -> None:
    m2, m3 = coders
    async with cluster(_nodes(m2, m3), tmp_path, {"code": ("M2", "M3")}) as orch:
        orch.thermal = lambda n: ThermalStatus(n, "critical", 87.0) if n == "M2" else None
        result = await Commander(orch).ask(CODE_PROMPT)
        skipped = result.extra["units"][0]["attempts"][0]
        assert (skipped["node"], skipped["outcome"]) == ("M2", "skipped")
        assert "thermal guard: GPU at 87 °C" in skipped["error"]
        assert not m2.chat_requests()

        orch.thermal = lambda n: ThermalStatus(n, "warning", 79.0) if n == "M2" else ThermalStatus(n, "normal", 50.0)
        result = await Commander(orch).ask(CODE_PROMPT)
        t1, t2 = result.extra["units"]
        # warning-hot M2 drops behind cool M3 in every candidate list: it is lightened, not skipped
        assert (t1["role"], t1["node"]) == ("coder", "M3") and (t2["role"], t2["node"]) == ("reviewer", "M3")
        assert t1["priority"] == 10 and not m2.chat_requests()

        orch.thermal = lambda n: ThermalStatus(n, "unknown")
        result = await Commander(orch).ask(CODE_PROMPT)
        assert result.extra["units"][0]["node"] == "M2"


def _scoring_verifier(scores: dict[str, float]):
    """A verifier reply: the score of the first marker found in the answer it is shown."""
    def reply(prompt: str) -> str:
        answer = prompt.split("ANSWER:", 1)[1]
        for marker, score in scores.items():
            if marker in answer:
                return json.dumps({"score": score, "issues": [f"{marker} is weak"], "recommendation": "do better"})
        return json.dumps({"score": 0.0, "issues": ["unrecognised"], "recommendation": "?"})
    return reply


async def test_a_weak_answer_is_redispatched_with_its_issues(loopback_node, tmp_path: Path) -> None:
    worker = loopback_node(reply=lambda p: "draft v2" if "scored 0.30" in p else "draft v1", model="w")
    verifier = loopback_node(reply=_scoring_verifier({"v2": 0.9, "v1": 0.3}), model="v")
    async with cluster([("W", worker, {"model": "w"}), ("V", verifier, {"model": "v"})], tmp_path,
                       {"simple": ("W",), "validation": ("V",)}) as orch:
        events = orch.bus.subscribe(VerificationScored)
        result = await Commander(orch).ask("Tell me something", verify=True)
        events.close()
        scored = [e async for e in events]
        assert orch.nodes["W"].metrics.quality_score is not None
    assert result.answer == "draft v2" and result.extra["verification"] == {"t1": 0.9}
    assert [(e.cycle, e.score, e.ok) for e in scored] == [(0, 0.3, True), (1, 0.9, True)]
    redispatch = _user_prompts(worker)[1]
    assert redispatch.startswith("Tell me something") and "- v1 is weak" in redispatch and "do better" in redispatch


async def test_at_most_two_redispatches_and_the_best_answer_is_kept(loopback_node, tmp_path: Path) -> None:
    counter = {"n": 0}

    def attempt(_prompt: str) -> str:
        counter["n"] += 1
        return f"attempt-{counter['n']}"

    worker = loopback_node(reply=attempt)
    verifier = loopback_node(reply=_scoring_verifier({"attempt-1": 0.5, "attempt-2": 0.6, "attempt-3": 0.4}))
    async with cluster([("W", worker, {}), ("V", verifier, {})], tmp_path,
                       {"simple": ("W",), "validation": ("V",)}) as orch:
        result = await Commander(orch).ask("Tell me something", verify=True)
    assert counter["n"] == 3 and len(verifier.chat_requests()) == 3
    assert result.answer == "attempt-2" and result.extra["verification"] == {"t1": 0.6}


async def test_a_non_json_verifier_is_a_failed_verification_not_a_crash(loopback_node, tmp_path: Path) -> None:
    worker = loopback_node(reply="an answer")
    verifier = loopback_node(reply="Looks great to me! 10/10")
    async with cluster([("W", worker, {}), ("V", verifier, {})], tmp_path,
                       {"simple": ("W",), "validation": ("V",)}) as orch:
        events = orch.bus.subscribe(VerificationScored)
        result = await Commander(orch).ask("Tell me something", verify=True)
        events.close()
        scored = [e async for e in events]
    assert result.answer == "an answer" and len(worker.chat_requests()) == 1
    assert len(scored) == 1 and not scored[0].ok and "reply is not JSON" in scored[0].error


async def test_verification_follows_the_config_per_task_type(loopback_node, tmp_path: Path) -> None:
    worker = loopback_node(reply="an answer")
    verifier = loopback_node(reply='{"score": 0.95, "issues": [], "recommendation": ""}')
    settings = CommanderSettings(verify=("code",))
    async with cluster([("W", worker, {}), ("V", verifier, {})], tmp_path,
                       {"simple": ("W",), "code": ("W",), "validation": ("V",)}, settings) as orch:
        await Commander(orch).ask("hello")
        assert not verifier.chat_requests()
        result = await Commander(orch).ask("write a python script")
        assert len(verifier.chat_requests()) == 1 and result.extra["verification"] == {"t1": 0.95}


async def test_classifier_node_is_used_only_within_its_budget(loopback_node, tmp_path: Path) -> None:
    classifier = loopback_node(reply="trading")
    worker = loopback_node(reply="ok")
    settings = CommanderSettings(classifier_node="CLS", classifier_budget_ms=200)
    async with cluster([("CLS", classifier, {}), ("W", worker, {})], tmp_path, {"default": ("W",)}, settings) as orch:
        fast = await Commander(orch).classify("hello there")
        assert (fast.task_type, fast.source, fast.node) == ("trading", "node", "CLS")
        classifier.set(first_token_delay_s=3.0)
        slow = await Commander(orch).classify("hello there")
        assert (slow.task_type, slow.source) == ("simple", "heuristic") and "within 200 ms" in slow.note
        assert slow.latency_ms < 1500  # the budget, not the node's 3 s
        classifier.set(first_token_delay_s=0.0, reply="no idea, maybe cooking")
        odd = await Commander(orch).classify("debug this")
        assert (odd.task_type, odd.source) == ("code", "heuristic")


# ---------------------------------------------------------------- Claude writes the synthesis


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _claude_stream(texts: list[str]) -> bytes:
    frames = [_sse("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude-test",
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 30, "output_tokens": 1}}}),
        _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}})]
    frames += [_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": t}}) for t in texts]
    frames += [_sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
               _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                         "stop_sequence": None},
                                      "usage": {"output_tokens": len(texts)}}),
               _sse("message_stop", {"type": "message_stop"})]
    return b"".join(frames)


@pytest.fixture
def claude_factory(monkeypatch):
    monkeypatch.setenv("CLAUDE_TEST_KEY", "sk-ant-test-0123456789")
    seen: list[dict] = []
    behaviour = {"status": 200}

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        if behaviour["status"] != 200:
            return httpx2.Response(behaviour["status"], json={"type": "error", "error": {"type": "overloaded_error",
                                                                                         "message": "busy"}})
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=_claude_stream(
            ["add(a, b) returns the sum ", "[M2/m2-model]; ", "the review found no bug [M3/m3-model]."]))

    def factory(cfg, http):
        if cfg.kind == "anthropic":
            return AnthropicClient(cfg, http, sdk_http_client=httpx2.AsyncClient(
                transport=httpx2.MockTransport(handler)))
        return make_client(cfg, http)

    factory.seen = seen
    factory.behaviour = behaviour
    return factory


def _with_claude(m2, m3):
    return [*_nodes(m2, m3), ("CLAUDE", None, {"kind": "anthropic", "url": "https://api.anthropic.test",
                                               "model": "claude-test", "api_key_env": "CLAUDE_TEST_KEY"})]


async def test_claude_streams_the_synthesis_with_attributions(coders, claude_factory, tmp_path: Path) -> None:
    m2, m3 = coders
    settings = CommanderSettings(commander_node="CLAUDE")
    async with cluster(_with_claude(m2, m3), tmp_path, {"code": ("M2", "M3")}, settings,
                       client_factory=claude_factory) as orch:
        events = orch.bus.subscribe(SynthesisStarted, SynthesisFinished, TokenDelta)
        streamed: list[str] = []
        result = await Commander(orch).ask(CODE_PROMPT, on_delta=streamed.append)
        events.close()
        seen = [e async for e in events]
    started = next(e for e in seen if isinstance(e, SynthesisStarted))
    deltas = [e.text for e in seen if isinstance(e, TokenDelta) and e.request_id == started.request_id]
    assert "".join(deltas) == "".join(streamed) == result.answer
    assert result.node == "CLAUDE" and re.findall(r"\[(M2|M3)/", result.answer) == ["M2", "M3"]
    assert next(e for e in seen if isinstance(e, SynthesisFinished)).streamed
    sent = claude_factory.seen[0]["messages"][-1]["content"]
    assert "[M2/m2-model] (coder):" in sent and "[M3/m3-model] (reviewer):" in sent


async def test_a_failing_claude_falls_back_to_the_best_scored_answer(coders, claude_factory, tmp_path: Path) -> None:
    m2, m3 = coders
    claude_factory.behaviour["status"] = 529
    settings = CommanderSettings(commander_node="CLAUDE")
    async with cluster(_with_claude(m2, m3), tmp_path, {"code": ("M2", "M3")}, settings,
                       client_factory=claude_factory) as orch:
        result = await Commander(orch).ask(CODE_PROMPT)
    assert result.node == "M2" and result.answer.startswith(CODE)
    assert "commander node CLAUDE failed" in result.extra["synthesis"]["error"]


async def test_claude_writes_the_consensus_detail(loopback_node, claude_factory, tmp_path: Path) -> None:
    a, b = loopback_node(reply="ANSWER: 4", model="a"), loopback_node(reply="4", model="b")
    nodes = [("A", a, {"model": "a"}), ("B", b, {"model": "b"}),
             ("CLAUDE", None, {"kind": "anthropic", "url": "https://api.anthropic.test", "model": "claude-test",
                               "api_key_env": "CLAUDE_TEST_KEY"})]
    async with cluster(nodes, tmp_path, {"consensus": ("A", "B")}, CommanderSettings(commander_node="CLAUDE"),
                       client_factory=claude_factory) as orch:
        commander = Commander(orch)
        round_ = await commander.consensus("What is 2+2?")
        synthesis = await commander.synthesize_round(round_)
        assert synthesis is not None and synthesis.streamed and round_.synthesis_node == "CLAUDE"
        rows = await orch.store.db.execute_fetchall("SELECT synthesis_node FROM consensus_rounds")
    assert [tuple(r) for r in rows] == [("CLAUDE",)]


# ---------------------------------------------------------------- the CLI


def test_cli_once_verify_json(loopback_node, tmp_path: Path) -> None:
    worker = loopback_node(reply=lambda p: "better" if "scored" in p else "rough", model="w")
    verifier = loopback_node(reply=_scoring_verifier({"better": 0.8, "rough": 0.2}), model="v")
    config = write_toml(tmp_path / "c.toml", [
        {"name": "W", "kind": "openai", "url": worker.url, "model": "w", "timeout_s": 5},
        {"name": "V", "kind": "openai", "url": verifier.url, "model": "v", "timeout_s": 5},
    ], {"simple": ["W"], "validation": ["V"]}, tmp_path / "j.db")
    done = run_cli(["--config", str(config), "--once", "Say something", "--verify", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["answer"] == "better" and result["node"] == "W" and result["verification"] == {"t1": 0.8}
    assert [(a["node"], a["outcome"]) for a in result["attempts"]] == [("W", "ok"), ("W", "ok")]
