"""Gemini over Google's OpenAI-compatible path, served here by the loopback node at /v1beta/openai."""

from __future__ import annotations

import pytest

from jarvis_tui.config import CLOUD_DEFAULT_URLS
from jarvis_tui.nodes.base import ChatMessage, NodeError, Outcome
from jarvis_tui.nodes.gemini import GeminiClient

KEY = "AIza-loopback-SECRET"


async def test_chat_at_the_compatibility_path_with_bearer_key(loopback_node, node_config, http, monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_TEST_KEY", KEY)
    node = loopback_node(reply="Gemini says hi", model="gemini-2.5-flash", api_key=KEY)
    cfg = node_config("gemini", f"{node.url}/v1beta/openai", model="gemini-2.5-flash", api_key_env="GEMINI_TEST_KEY")
    result = await GeminiClient(cfg, http).chat([ChatMessage("user", "hi")])
    assert (result.text, result.model, result.tokens_out) == ("Gemini says hi", "gemini-2.5-flash", 3)
    request = node.chat_requests()[-1]
    assert request.path == "/v1beta/openai/chat/completions"  # not /v1/...
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json()["stream_options"] == {"include_usage": True}


async def test_models_strip_the_models_prefix(loopback_node, node_config, http, monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    node = loopback_node(models=("models/gemini-2.5-flash", "models/gemini-2.5-pro"))
    client = GeminiClient(node_config("gemini", f"{node.url}/v1beta/openai"), http)
    assert await client.models() == ["gemini-2.5-flash", "gemini-2.5-pro"]
    assert node.requests[-1].path == "/v1beta/openai/models"
    assert node.requests[-1].headers["authorization"] == f"Bearer {KEY}"  # GEMINI_API_KEY is the default


async def test_missing_key_is_skipped_without_any_request(loopback_node, node_config, http, monkeypatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    node = loopback_node()
    client = GeminiClient(node_config("gemini", f"{node.url}/v1beta/openai", api_key_env="NOT_SET_KEY"), http)
    with pytest.raises(NodeError) as caught:
        await client.chat([ChatMessage("user", "hi")])
    assert caught.value.outcome is Outcome.SKIPPED and caught.value.message.startswith("env var NOT_SET_KEY is not set")
    health = await client.health()
    assert not health.ok and health.outcome is Outcome.SKIPPED
    assert node.requests == []


def test_default_url_is_the_openai_compatibility_root(node_config, http) -> None:
    client = GeminiClient(node_config("gemini", CLOUD_DEFAULT_URLS["gemini"]), http)
    assert client.chat_url() == "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"
    assert client.models_url() == "https://generativelanguage.googleapis.com/v1beta/openai/models"
