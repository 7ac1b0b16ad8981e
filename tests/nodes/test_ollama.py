"""The native Ollama client: NDJSON streaming, think:false, options, tags."""

from __future__ import annotations

import httpx
import pytest

from jarvis_tui.nodes.base import ChatMessage, NodeError, Outcome
from jarvis_tui.nodes.ollama import OllamaClient

MESSAGES = [ChatMessage("user", "Is the sky blue?")]


async def test_streams_ndjson_with_counts_from_the_done_line(loopback_node, node_config, http) -> None:
    node = loopback_node(reply="Yes, it is.", model="qwen3:1.7b", tokens_per_s=300)
    client = OllamaClient(node_config("ollama", node.url, model="qwen3:1.7b"), http)
    deltas: list[str] = []
    result = await client.chat(MESSAGES, on_delta=deltas.append)
    assert deltas == ["Yes,", " it", " is."]
    assert (result.text, result.model, result.tokens_in, result.tokens_out) == ("Yes, it is.", "qwen3:1.7b", 4, 3)
    assert result.ttft_ms is not None and result.ttft_ms <= result.latency_ms


async def test_think_false_and_options_are_sent(loopback_node, node_config, http) -> None:
    node = loopback_node()
    cfg = node_config("ollama", node.url, model="gpt-oss:120b-cloud", think=False, temperature=0.0, max_tokens=32)
    await OllamaClient(cfg, http).chat(MESSAGES)
    request = node.chat_requests()[-1]
    assert request.path == "/api/chat"
    assert request.json() == {"model": "gpt-oss:120b-cloud", "messages": [{"role": "user", "content": "Is the sky blue?"}],
                              "stream": True, "think": False, "options": {"temperature": 0.0, "num_predict": 32}}


async def test_think_is_left_out_when_not_configured(loopback_node, node_config, http) -> None:
    node = loopback_node()
    await OllamaClient(node_config("ollama", node.url), http).chat(MESSAGES)
    body = node.last_chat_json()
    assert "think" not in body and "options" not in body


async def test_tags_and_health(loopback_node, node_config, http) -> None:
    node = loopback_node(models=("qwen3:1.7b", "llama3.2:3b"))
    client = OllamaClient(node_config("ollama", f"{node.url}/v1"), http)  # the /v1 url is tolerated
    assert await client.models() == ["qwen3:1.7b", "llama3.2:3b"]
    assert (await client.health()).ok
    assert node.requests[-1].path == "/api/tags"


async def test_error_line_and_missing_done_are_bad_responses(node_config) -> None:
    bodies = iter([b'{"error": "model \\"nope\\" not found"}\n',
                   b'{"message": {"content": "par"}, "done": false}\n'])

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=next(bodies), headers={"content-type": "application/x-ndjson"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = OllamaClient(node_config("ollama", "http://ollama:11434"), http)
        with pytest.raises(NodeError) as first:
            await client.chat(MESSAGES)
        with pytest.raises(NodeError) as second:
            await client.chat(MESSAGES)
    assert first.value.outcome is Outcome.BAD_RESPONSE and "not found" in first.value.message
    assert second.value.outcome is Outcome.BAD_RESPONSE and "no done line" in second.value.message


async def test_missing_model_is_a_clear_error(node_config, http) -> None:
    with pytest.raises(NodeError) as caught:
        await OllamaClient(node_config("ollama", "http://127.0.0.1:9", model=""), http).chat(MESSAGES)
    assert "set model" in caught.value.message
