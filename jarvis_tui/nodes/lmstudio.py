"""LM Studio's native REST API (v1, LM Studio 0.4+): ``GET /api/v1/models`` and ``POST /api/v1/chat``.

Shapes as documented by LM Studio (lmstudio-ai/docs, ``1_developer/_2_rest/``:
``list.md``, ``chat.md``, ``streaming-events.md``; https://lmstudio.ai/docs/developer/rest):

* ``GET /api/v1/models`` -> ``{"models": [{"type": "llm"|"embedding", "key", "display_name",
  "loaded_instances": [{"id", "config": {"context_length", ...}}], ...}]}``.  We report
  the ids of the loaded instances: that is what can answer without a model load.
* ``POST /api/v1/chat`` with ``{"model", "input": str, "system_prompt"?, "stream": true,
  "temperature"?, "max_output_tokens"?, "reasoning"?: "off"|"on"|..., "store"?}`` and
  ``Authorization: Bearer <token>``.  Streamed as named SSE events (``event: <type>`` /
  ``data: <json>``): ``chat.start`` {model_instance_id}, ``model_load.*``,
  ``prompt_processing.*``, ``reasoning.*``, ``tool_call.*``, ``message.start``,
  ``message.delta`` {content}, ``message.end``, ``error`` {error: {type, message}}, and
  last ``chat.end`` {result: {model_instance_id, output, stats: {input_tokens,
  total_output_tokens, reasoning_output_tokens, tokens_per_second,
  time_to_first_token_seconds}}}.

The endpoint takes one ``input`` string, not a message list (history lives server-side
behind ``previous_response_id``).  We keep history ourselves, so system messages become
``system_prompt`` and earlier turns are folded into ``input`` as a plain transcript;
``store`` is false so LM Studio keeps nothing.  ``reasoning`` is sent only when the node
config sets ``think``: LM Studio rejects the field for models that cannot reason.
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
from jarvis_tui.nodes.http import iter_sse

_ROLE_LABELS = {"user": "User", "assistant": "Assistant"}


class LMStudioClient(NodeClient):
    kind = "lmstudio"

    def api_base(self) -> str:
        url = self.config.url.rstrip("/")
        for suffix in ("/api/v1", "/v1"):
            url = url.removesuffix(suffix)
        return f"{url}/api/v1"

    def request_body(self, messages: list[ChatMessage], model: str) -> dict[str, Any]:
        cfg = self.config
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        body: dict[str, Any] = {"model": model, "input": fold_turns(messages), "stream": True, "store": False}
        if system:
            body["system_prompt"] = system
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        if cfg.max_tokens is not None:
            body["max_output_tokens"] = cfg.max_tokens
        if cfg.think is not None:
            body["reasoning"] = "on" if cfg.think else "off"
        return body

    async def _stream(self, messages: list[ChatMessage]) -> AsyncIterator[str | StreamEnd]:
        model = self.config.model or await self._first_loaded_model()
        async with self.http.stream("POST", f"{self.api_base()}/chat", json=self.request_body(messages, model),
                                    headers=self.headers(), timeout=self.timeout()) as response:
            await raise_for_status(response)
            end: StreamEnd | None = None
            async for event in iter_sse(response):
                if end is not None:
                    continue  # read on to the end of the body so the connection is reused
                data = parse_json(event.data)
                if not isinstance(data, dict):
                    raise NodeError(Outcome.BAD_RESPONSE, "stream event is not a JSON object")
                kind = data.get("type") or event.event
                if kind == "message.delta":
                    content = data.get("content")
                    if content:
                        yield str(content)
                elif kind == "error":
                    error = data.get("error") or {}
                    message = error.get("message") if isinstance(error, dict) else error
                    raise NodeError(Outcome.BAD_RESPONSE, f"LM Studio reported an error: {str(message)[:160]}")
                elif kind == "chat.end":
                    result = data.get("result") or {}
                    stats = result.get("stats") or {}
                    end = StreamEnd(model=result.get("model_instance_id") or model,
                                    tokens_in=token_count(stats.get("input_tokens")),
                                    tokens_out=token_count(stats.get("total_output_tokens")))
            if end is not None:
                yield end
                return
        raise NodeError(Outcome.BAD_RESPONSE, "stream ended before the reply was complete (no chat.end)")

    async def _list_models(self) -> list[str]:
        models = await self._get_json_array(f"{self.api_base()}/models", "models", "models")
        loaded: list[str] = []
        for model in models:
            if not isinstance(model, dict):
                continue
            for instance in model.get("loaded_instances") or ():
                if isinstance(instance, dict) and instance.get("id"):
                    loaded.append(str(instance["id"]))
        return loaded

    async def _first_loaded_model(self) -> str:
        loaded = await self._list_models()
        if not loaded:
            raise NodeError(Outcome.BAD_RESPONSE, "no model is loaded in LM Studio and the node config names none; "
                                                  "set model = \"...\" or load one")
        return loaded[0]


def fold_turns(messages: list[ChatMessage]) -> str:
    """The conversation as one ``input`` string: the last user turn alone when there is no history."""
    turns = [m for m in messages if m.role != "system"]
    if len(turns) == 1:
        return turns[0].content
    return "\n\n".join(f"{_ROLE_LABELS.get(m.role, m.role.title())}: {m.content}" for m in turns)

