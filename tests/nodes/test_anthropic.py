"""Claude through the real anthropic SDK, its HTTP client built on httpx2.MockTransport.

The SDK (2.x) talks through httpx2, so the mock transport is httpx2's: the SDK's own
request building, SSE decoding and error mapping all run; only the socket is replaced.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx2
import pytest

from jarvis_tui.nodes.anthropic import AnthropicClient
from jarvis_tui.nodes.base import ChatMessage, NodeError, Outcome

KEY = "sk-ant-loopback-SECRET-0001"
MESSAGES = [ChatMessage("system", "Be terse."), ChatMessage("user", "What is 2+2?")]


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def message_stream(texts: list[str], *, model: str = "claude-loopback-1", input_tokens: int = 12,
                   output_tokens: int = 5, stop: bool = True) -> list[bytes]:
    frames = [
        sse("message_start", {"type": "message_start", "message": {
            "id": "msg_01", "type": "message", "role": "assistant", "content": [], "model": model,
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
        sse("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": {"type": "text", "text": ""}}),
        sse("ping", {"type": "ping"}),
    ]
    frames += [sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": t}}) for t in texts]
    frames.append(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    frames.append(sse("message_delta", {"type": "message_delta",
                                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                        "usage": {"output_tokens": output_tokens}}))
    if stop:
        frames.append(sse("message_stop", {"type": "message_stop"}))
    return frames


async def slowly(frames: list[bytes], delay_s: float, first_delay_s: float = 0.0) -> AsyncIterator[bytes]:
    await asyncio.sleep(first_delay_s)
    for frame in frames:
        yield frame
        await asyncio.sleep(delay_s)


Handler = Callable[[httpx2.Request], object]


@pytest.fixture
def claude(node_config, http, monkeypatch):
    monkeypatch.setenv("CLAUDE_TEST_KEY", KEY)
    seen: list[httpx2.Request] = []

    def build(handler: Handler, **overrides) -> AnthropicClient:
        async def recording(request: httpx2.Request):
            seen.append(request)
            result = handler(request)
            return await result if asyncio.iscoroutine(result) else result

        sdk_http = httpx2.AsyncClient(transport=httpx2.MockTransport(recording))  # no sockets to close
        settings = {"model": "claude-loopback-1", "api_key_env": "CLAUDE_TEST_KEY", "timeout_s": 2.0,
                    "first_token_timeout_s": 0.5, **overrides}
        cfg = node_config("anthropic", "https://api.anthropic.test", **settings)
        return AnthropicClient(cfg, http, sdk_http_client=sdk_http)

    build.seen = seen
    yield build


def stream_response(frames, status: int = 200) -> httpx2.Response:
    content = frames if not isinstance(frames, list) else b"".join(frames)
    return httpx2.Response(status, headers={"content-type": "text/event-stream"}, content=content)


async def test_streams_text_deltas_with_usage(claude) -> None:
    client = claude(lambda request: stream_response(slowly(message_stream(["2 + 2", " = ", "4"]), 0.01)),
                    max_tokens=100, temperature=0.0)
    deltas: list[str] = []
    result = await client.chat(MESSAGES, on_delta=deltas.append)
    assert deltas == ["2 + 2", " = ", "4"]
    assert (result.text, result.model, result.tokens_in, result.tokens_out) == ("2 + 2 = 4", "claude-loopback-1", 12, 5)
    assert result.ttft_ms is not None and result.ttft_ms <= result.latency_ms
    request = claude.seen[-1]
    assert request.url == "https://api.anthropic.test/v1/messages"
    # SDK 2.x sends the key as a Bearer token (1.x used x-api-key); either way it is the env var's value.
    assert KEY in (request.headers.get("x-api-key"), request.headers.get("authorization", "").removeprefix("Bearer "))
    body = json.loads(request.content)
    assert body == {"model": "claude-loopback-1", "max_tokens": 100, "stream": True, "system": "Be terse.",
                    "messages": [{"role": "user", "content": "What is 2+2?"}], "temperature": 0.0}


async def test_models_and_health(claude) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/models"
        return httpx2.Response(200, json={"data": [
            {"type": "model", "id": "claude-loopback-1", "display_name": "Sonnet", "created_at": "2025-01-01T00:00:00Z"},
            {"type": "model", "id": "claude-loopback-2", "display_name": "Haiku", "created_at": "2025-01-01T00:00:00Z"}],
            "has_more": False, "first_id": "claude-loopback-1", "last_id": "claude-loopback-2"})

    client = claude(handler)
    assert await client.models() == ["claude-loopback-1", "claude-loopback-2"]
    health = await client.health()
    assert health.ok and health.models == ["claude-loopback-1", "claude-loopback-2"]


@pytest.mark.parametrize("status, outcome", [(429, Outcome.HTTP_ERROR), (500, Outcome.HTTP_ERROR),
                                             (401, Outcome.HTTP_ERROR), (529, Outcome.HTTP_ERROR)])
async def test_http_errors_keep_status_and_retry_after_but_not_the_body(claude, status, outcome) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        # A body that quotes the key: it must not reach the error message.
        return httpx2.Response(status, headers={"retry-after": "11"},
                               json={"type": "error", "error": {"type": "x", "message": f"bad key {KEY}"}})

    with pytest.raises(NodeError) as caught:
        await claude(handler).chat(MESSAGES)
    error = caught.value
    assert (error.outcome, error.status, error.retry_after_s) == (outcome, status, 11.0)
    assert KEY not in error.message and KEY not in repr(error)
    assert error.__cause__ is None and error.__suppress_context__


async def test_connection_error_is_refused(claude) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(NodeError) as caught:
        await claude(handler).chat(MESSAGES)
    assert caught.value.outcome is Outcome.REFUSED


async def test_hang_is_a_first_token_timeout(claude) -> None:
    async def handler(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    with pytest.raises(NodeError) as caught:
        await claude(handler, first_token_timeout_s=0.3).chat(MESSAGES)
    assert caught.value.outcome is Outcome.TIMEOUT and "first token" in caught.value.message


async def test_endless_stream_hits_the_total_deadline(claude) -> None:
    async def endless() -> AsyncIterator[bytes]:
        for frame in message_stream([])[:3]:
            yield frame
        while True:
            yield sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": "la "}})
            await asyncio.sleep(0.02)

    with pytest.raises(NodeError) as caught:
        await claude(lambda request: stream_response(endless()), timeout_s=0.6).chat(MESSAGES)
    assert caught.value.outcome is Outcome.TIMEOUT and "total" in caught.value.message


async def test_stream_without_message_stop_is_bad_response(claude) -> None:
    client = claude(lambda request: stream_response(message_stream(["half"], stop=False)))
    with pytest.raises(NodeError) as caught:
        await client.chat(MESSAGES)
    assert caught.value.outcome is Outcome.BAD_RESPONSE and "message_stop" in caught.value.message


async def test_error_event_mid_stream_is_bad_response(claude) -> None:
    frames = message_stream(["partial"])[:4] + [sse("error", {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}})]
    with pytest.raises(NodeError) as caught:
        await claude(lambda request: stream_response(frames)).chat(MESSAGES)
    assert caught.value.outcome is Outcome.BAD_RESPONSE and "overloaded_error" in caught.value.message


async def test_missing_key_is_skipped_without_a_request(claude, monkeypatch) -> None:
    monkeypatch.delenv("CLAUDE_TEST_KEY")
    client = claude(lambda request: pytest.fail("no request may be sent without a key"))
    with pytest.raises(NodeError) as caught:
        await client.chat(MESSAGES)
    assert caught.value.outcome is Outcome.SKIPPED
    assert caught.value.message.startswith("env var CLAUDE_TEST_KEY is not set")
    assert (await client.health()).outcome is Outcome.SKIPPED
    assert claude.seen == []


def test_default_key_env_name(node_config) -> None:
    cfg = node_config("anthropic", "https://api.anthropic.com", api_key_env=None)
    assert AnthropicClient(cfg, None).key_env() == "ANTHROPIC_API_KEY"  # type: ignore[arg-type]


async def test_sdk_not_installed_is_skipped_with_the_install_hint(claude, monkeypatch) -> None:
    import types

    import jarvis_tui.nodes.anthropic as module

    def missing(name: str):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(module, "_sdk_loaded", False)
    monkeypatch.setattr(module, "importlib", types.SimpleNamespace(import_module=missing))
    client = claude(lambda request: pytest.fail("no request without the SDK"))
    with pytest.raises(NodeError) as caught:
        await client.chat(MESSAGES)
    assert caught.value.outcome is Outcome.SKIPPED and "jarvis-tui[cloud]" in caught.value.message
    health = await client.health()
    assert health.outcome is Outcome.SKIPPED and "not installed" in health.error
