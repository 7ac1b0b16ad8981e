"""The OpenAI-compatible client against the loopback node: streaming, usage, models, request shape."""

from __future__ import annotations

import httpx
import pytest

from jarvis_tui.nodes.base import ChatMessage, NodeError, Outcome
from jarvis_tui.nodes.openai import OpenAIClient

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is 2+2?")]


async def test_streams_deltas_usage_and_timings(loopback_node, node_config, http) -> None:
    node = loopback_node(reply="The answer is 4.", model="qwen3-30b", tokens_per_s=200, first_token_delay_s=0.05)
    client = OpenAIClient(node_config("openai", node.url, model="qwen3-30b"), http)
    deltas: list[str] = []
    result = await client.chat(MESSAGES, on_delta=deltas.append)
    assert deltas == ["The", " answer", " is", " 4."]
    assert result.text == "The answer is 4."
    assert (result.node, result.model, result.outcome) == ("T-openai", "qwen3-30b", Outcome.OK)
    assert result.tokens_out == 4 and result.tokens_in == 3  # from the usage chunk, not counted deltas
    assert result.ttft_ms is not None and 50 <= result.ttft_ms < result.latency_ms
    assert result.latency_ms >= 50 + 3 * 5  # three inter-token gaps at 200 tokens/s
    assert result.tokens_per_s is not None and result.tokens_per_s > 0


async def test_request_body_and_headers(loopback_node, node_config, http, monkeypatch) -> None:
    monkeypatch.setenv("M2_KEY", "sk-m2")
    node = loopback_node()
    cfg = node_config("openai", node.url, model="deepseek-coder", max_tokens=64, temperature=0.2,
                      api_key_env="M2_KEY")
    await OpenAIClient(cfg, http).chat(MESSAGES)
    request = node.chat_requests()[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-m2"
    assert request.json() == {
        "model": "deepseek-coder",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 64,
        "temperature": 0.2,
    }


async def test_no_key_no_authorization_header_and_no_model_when_unset(loopback_node, node_config, http) -> None:
    node = loopback_node()
    await OpenAIClient(node_config("openai", node.url, model=""), http).chat(MESSAGES)
    request = node.chat_requests()[-1]
    assert "authorization" not in request.headers
    assert "model" not in request.json()


async def test_url_that_already_ends_in_v1(loopback_node, node_config, http) -> None:
    node = loopback_node()
    client = OpenAIClient(node_config("openai", f"{node.url}/v1/"), http)
    assert (await client.chat(MESSAGES)).text
    assert await client.models() == ["loopback-model"]
    assert {r.path for r in node.requests} == {"/v1/chat/completions", "/v1/models"}


async def test_without_usage_tokens_out_falls_back_to_delta_count(loopback_node, node_config, http) -> None:
    node = loopback_node(reply="one two three", usage=False)
    result = await OpenAIClient(node_config("openai", node.url), http).chat(MESSAGES)
    assert result.tokens_in is None and result.tokens_out == 3


async def test_models_and_health(loopback_node, node_config, http) -> None:
    node = loopback_node(models=("smollm2", "mistral-7b"))
    client = OpenAIClient(node_config("openai", node.url), http)
    assert await client.models() == ["smollm2", "mistral-7b"]
    health = await client.health()
    assert health.ok and health.models == ["smollm2", "mistral-7b"] and health.outcome is Outcome.OK
    assert 0 < health.latency_ms < 1000


async def test_non_streamed_json_answer_is_accepted(node_config) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"model": "vllm-model", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "whole answer"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        result = await OpenAIClient(node_config("openai", "http://node:8000"), http).chat(MESSAGES)
    assert (result.text, result.model, result.tokens_in, result.tokens_out) == ("whole answer", "vllm-model", 9, 2)


@pytest.mark.parametrize("body, needle", [
    (b"data: {\"choices\": [{\"delta\": {\"content\": \"Hi\"}, \"finish_reason\": null}]}\n\n", "no [DONE]"),
    (b"data: {\"error\": {\"message\": \"model crashed\"}}\n\n", "model crashed"),
    (b"data: [1, 2]\n\n", "not a JSON object"),
])
async def test_broken_streams_are_bad_responses(node_config, body, needle) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(NodeError) as caught:
            await OpenAIClient(node_config("openai", "http://node:8000"), http).chat(MESSAGES)
    assert caught.value.outcome is Outcome.BAD_RESPONSE and needle in caught.value.message


async def test_finish_reason_without_done_counts_as_complete(node_config) -> None:
    body = (b"data: {\"model\": \"m\", \"choices\": [{\"delta\": {\"content\": \"Hi\"}, \"finish_reason\": null}]}\n\n"
            b"data: {\"model\": \"m\", \"choices\": [{\"delta\": {}, \"finish_reason\": \"stop\"}]}\n\n")

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        result = await OpenAIClient(node_config("openai", "http://node:8000"), http).chat(MESSAGES)
    assert result.text == "Hi"


async def test_a_key_echoed_by_the_server_is_redacted(node_config, monkeypatch) -> None:
    secret = "sk-echoed-SECRET-77"
    monkeypatch.setenv("ECHO_KEY", secret)

    async def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["authorization"]
        return httpx.Response(200, content=f'data: {{"error": {{"message": "bad {echoed}"}}}}\n\n'.encode(),
                              headers={"content-type": "text/event-stream"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = OpenAIClient(node_config("openai", "http://node:8000", api_key_env="ECHO_KEY"), http)
        with pytest.raises(NodeError) as caught:
            await client.chat(MESSAGES)
    assert secret not in caught.value.message and "[redacted]" in caught.value.message
