"""LM Studio's native REST API v1: loaded instances, Bearer token, input/system_prompt, named SSE events."""

from __future__ import annotations

import httpx
import pytest

from jarvis_tui.nodes.base import ChatMessage, NodeError, Outcome
from jarvis_tui.nodes.lmstudio import LMStudioClient, fold_turns

TOKEN = "lms-token-123"


async def test_streams_message_deltas_and_chat_end_stats(loopback_node, node_config, http, monkeypatch) -> None:
    monkeypatch.setenv("LMS_TOKEN", TOKEN)
    node = loopback_node(reply="Bonjour le monde", model="mistral-7b", api_key=TOKEN, tokens_per_s=300)
    client = LMStudioClient(node_config("lmstudio", node.url, model="mistral-7b", api_key_env="LMS_TOKEN"), http)
    deltas: list[str] = []
    result = await client.chat([ChatMessage("system", "Answer in French."), ChatMessage("user", "Say hello world")],
                               on_delta=deltas.append)
    assert deltas == ["Bonjour", " le", " monde"]
    assert (result.text, result.model, result.tokens_in, result.tokens_out) == ("Bonjour le monde", "mistral-7b", 3, 3)
    request = node.chat_requests()[-1]
    assert request.path == "/api/v1/chat"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {"model": "mistral-7b", "input": "Say hello world", "stream": True, "store": False,
                              "system_prompt": "Answer in French."}


async def test_wrong_or_missing_token_is_http_401(loopback_node, node_config, http) -> None:
    node = loopback_node(api_key=TOKEN)
    with pytest.raises(NodeError) as caught:
        await LMStudioClient(node_config("lmstudio", node.url), http).chat([ChatMessage("user", "hi")])
    assert caught.value.outcome is Outcome.HTTP_ERROR and caught.value.status == 401


async def test_models_reports_only_loaded_instances(loopback_node, node_config, http) -> None:
    node = loopback_node(models=("qwen3-30b", "deepseek-coder"))
    client = LMStudioClient(node_config("lmstudio", node.url), http)
    assert await client.models() == ["qwen3-30b", "deepseek-coder"]  # the unloaded embedder is left out
    health = await client.health()
    assert health.ok and health.models == ["qwen3-30b", "deepseek-coder"]
    assert node.requests[-1].path == "/api/v1/models"


async def test_model_defaults_to_the_first_loaded_instance(loopback_node, node_config, http) -> None:
    node = loopback_node(models=("qwen3-30b",), model="qwen3-30b")
    result = await LMStudioClient(node_config("lmstudio", node.url, model=""), http).chat([ChatMessage("user", "x")])
    assert node.last_chat_json()["model"] == "qwen3-30b" and result.model == "qwen3-30b"


async def test_options_map_to_lmstudio_names(loopback_node, node_config, http) -> None:
    node = loopback_node()
    cfg = node_config("lmstudio", node.url, temperature=0.3, max_tokens=50, think=False)
    await LMStudioClient(cfg, http).chat([ChatMessage("user", "x")])
    body = node.last_chat_json()
    assert (body["temperature"], body["max_output_tokens"], body["reasoning"]) == (0.3, 50, "off")


def test_history_is_folded_into_input() -> None:
    assert fold_turns([ChatMessage("system", "s"), ChatMessage("user", "only")]) == "only"
    folded = fold_turns([ChatMessage("user", "2+2?"), ChatMessage("assistant", "4"), ChatMessage("user", "and 3+3?")])
    assert folded == "User: 2+2?\n\nAssistant: 4\n\nUser: and 3+3?"


async def test_error_event_and_missing_chat_end_are_bad_responses(node_config) -> None:
    bodies = iter([
        b'event: chat.start\ndata: {"type": "chat.start", "model_instance_id": "m"}\n\n'
        b'event: error\ndata: {"type": "error", "error": {"type": "model_not_found", "message": "no such model"}}\n\n',
        b'event: message.delta\ndata: {"type": "message.delta", "content": "part"}\n\n',
    ])

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=next(bodies), headers={"content-type": "text/event-stream"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = LMStudioClient(node_config("lmstudio", "http://lms:1234"), http)
        with pytest.raises(NodeError) as first:
            await client.chat([ChatMessage("user", "x")])
        with pytest.raises(NodeError) as second:
            await client.chat([ChatMessage("user", "x")])
    assert first.value.outcome is Outcome.BAD_RESPONSE and "no such model" in first.value.message
    assert second.value.outcome is Outcome.BAD_RESPONSE and "no chat.end" in second.value.message
