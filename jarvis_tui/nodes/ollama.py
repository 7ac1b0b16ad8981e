"""Ollama's native API: ``POST /api/chat`` streamed as NDJSON, and ``GET /api/tags``.

Each line of the stream is one JSON object.  Text arrives in
``message.content``; the last line has ``"done": true`` with the model name,
``prompt_eval_count`` (tokens in) and ``eval_count`` (tokens out).  A line with
an ``error`` key is Ollama reporting a failure after the 200 status.  A body
that ends without the ``done`` line was cut.

``think`` is sent whenever the node config sets it: Ollama's cloud models (and
qwen3 locally) think by default and must be told ``"think": false`` to answer
directly.  ``temperature`` and ``max_tokens`` go in ``options`` as
``temperature`` and ``num_predict``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

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


class OllamaClient(NodeClient):
    kind = "ollama"

    def api_base(self) -> str:
        # Someone may paste the OpenAI-compatible url; the native API lives at the root.
        return self.config.url.rstrip("/").removesuffix("/v1")

    def request_body(self, messages: list[ChatMessage]) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
        }
        if cfg.think is not None:
            body["think"] = cfg.think
        options: dict[str, Any] = {}
        if cfg.temperature is not None:
            options["temperature"] = cfg.temperature
        if cfg.max_tokens is not None:
            options["num_predict"] = cfg.max_tokens
        if options:
            body["options"] = options
        return body

    async def _stream(self, messages: list[ChatMessage]) -> AsyncIterator[str | StreamEnd]:
        if not self.config.model:
            raise NodeError(Outcome.BAD_RESPONSE, "ollama needs a model; set model = \"...\" for this node")
        async with self.http.stream("POST", f"{self.api_base()}/api/chat", json=self.request_body(messages),
                                    headers=self.headers(), timeout=self.timeout()) as response:
            await raise_for_status(response)
            end: StreamEnd | None = None
            async for line in response.aiter_lines():
                # After the done line, read on to the end of the body so the connection is reused.
                if end is not None or not line.strip():
                    continue
                chunk = parse_json(line)
                if not isinstance(chunk, dict):
                    raise NodeError(Outcome.BAD_RESPONSE, "stream line is not a JSON object")
                if "error" in chunk:
                    raise NodeError(Outcome.BAD_RESPONSE, f"ollama reported an error: {str(chunk['error'])[:160]}")
                message = chunk.get("message") or {}
                content = message.get("content") if isinstance(message, dict) else None
                if content:
                    yield str(content)
                if chunk.get("done"):
                    end = StreamEnd(model=chunk.get("model"), tokens_in=token_count(chunk.get("prompt_eval_count")),
                                    tokens_out=token_count(chunk.get("eval_count")))
            if end is not None:
                yield end
                return
        raise NodeError(Outcome.BAD_RESPONSE, "stream ended before the reply was complete (no done line)")

    async def _list_models(self) -> list[str]:
        models = await self._get_json_array(f"{self.api_base()}/api/tags", "models", "tags")
        return [str(m.get("name") or m.get("model")) for m in models
                if isinstance(m, dict) and (m.get("name") or m.get("model"))]

