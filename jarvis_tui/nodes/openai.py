"""OpenAI-compatible chat: ``POST /v1/chat/completions`` streamed as SSE, and ``GET /v1/models``.

Spoken by LM Studio, llama.cpp's llama-server, vLLM and Ollama's ``/v1``.  The
node url is the server root (``http://127.0.0.1:1234``); a url that already
ends in ``/v1`` is accepted as is.

Usage only arrives in a stream when asked for with
``stream_options: {"include_usage": true}``: a last chunk with empty
``choices`` and a ``usage`` object.  A stream is complete at ``data: [DONE]``
or once a choice reported a ``finish_reason``; a body that ends before either
was cut, and is reported as ``bad_response`` rather than passed off as an answer.
A server that ignores ``stream`` and answers with one JSON body is accepted too.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import httpx

from jarvis_tui.nodes.base import (
    ChatMessage,
    NodeClient,
    NodeError,
    Outcome,
    StreamEnd,
    parse_json,
    raise_for_status,
    token_count,
)
from jarvis_tui.nodes.http import iter_sse

SSE_DONE = "[DONE]"


class OpenAIClient(NodeClient):
    kind = "openai"

    # -- endpoints (the gemini client overrides these) -------------------------
    def api_base(self) -> str:
        url = self.config.url.rstrip("/")
        return url if url.endswith("/v1") else f"{url}/v1"

    def chat_url(self) -> str:
        return f"{self.api_base()}/chat/completions"

    def models_url(self) -> str:
        return f"{self.api_base()}/models"

    @functools.cached_property
    def _parsed_chat_url(self) -> httpx.URL:
        # Parsed once per client: httpx parses a str url on every request (~40 us here, 2% of an
        # instant request's CPU in bench/routing_overhead.py); the config is frozen.
        return httpx.URL(self.chat_url())

    # -- request ---------------------------------------------------------------
    def request_body(self, messages: list[ChatMessage]) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if cfg.model:  # llama-server and LM Studio answer with the loaded model when none is named
            body["model"] = cfg.model
        if cfg.max_tokens is not None:
            body["max_tokens"] = cfg.max_tokens
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        return body

    async def _stream(self, messages: list[ChatMessage]) -> AsyncIterator[str | StreamEnd]:
        body = self.request_body(messages)
        async with self.http.stream("POST", self._parsed_chat_url, json=body, headers=self.headers(),
                                    timeout=self.timeout()) as response:
            await raise_for_status(response)
            if "text/event-stream" not in response.headers.get("content-type", ""):
                # Not streamed after all: one chat.completion object.
                payload = parse_json(await response.aread())
                text, end = parse_completion(payload)
                if text:
                    yield text
                yield end
                return
            async for item in stream_chat_completion(response):
                yield item

    async def _list_models(self) -> list[str]:
        data = await self._get_json_array(self.models_url(), "data", "models")
        return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]


async def stream_chat_completion(response: Any) -> AsyncIterator[str | StreamEnd]:
    """Text deltas, then one ``StreamEnd``, from a chat.completion.chunk SSE stream."""
    end = StreamEnd()
    finished = done = False
    async for event in iter_sse(response):
        if done:
            continue  # past [DONE]: read on to the end of the body so the connection is reused
        if event.data.strip() == SSE_DONE:
            # Not break: a body left unread closes the connection, and every request
            # would pay a new TCP handshake.
            finished = done = True
            continue
        chunk = parse_json(event.data)
        if not isinstance(chunk, dict):
            raise NodeError(Outcome.BAD_RESPONSE, "stream chunk is not a JSON object")
        if "error" in chunk:
            raise NodeError(Outcome.BAD_RESPONSE, f"node reported an error mid-stream: {_error_text(chunk['error'])}")
        if chunk.get("model"):
            end.model = str(chunk["model"])
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            end.tokens_in = token_count(usage.get("prompt_tokens"))
            end.tokens_out = token_count(usage.get("completion_tokens"))
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                yield str(content)
            if choice.get("finish_reason"):
                finished = True
    if not finished:
        raise NodeError(Outcome.BAD_RESPONSE, "stream ended before the reply was complete (no [DONE])")
    yield end


def parse_completion(payload: Any) -> tuple[str, StreamEnd]:
    """The text and usage of a non-streamed chat.completion object."""
    if not isinstance(payload, dict):
        raise NodeError(Outcome.BAD_RESPONSE, "reply is not a JSON object")
    if "error" in payload:
        raise NodeError(Outcome.BAD_RESPONSE, f"node reported an error: {_error_text(payload['error'])}")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices:
        raise NodeError(Outcome.BAD_RESPONSE, "reply has no choices")
    message = choices[0].get("message") or {}
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    return str(message.get("content") or ""), StreamEnd(
        model=payload.get("model"),
        tokens_in=token_count(usage.get("prompt_tokens")),
        tokens_out=token_count(usage.get("completion_tokens")),
    )


def _error_text(error: Any, limit: int = 160) -> str:
    text = str(error.get("message") or error) if isinstance(error, dict) else str(error)
    return text if len(text) <= limit else text[: limit - 1] + "…"

