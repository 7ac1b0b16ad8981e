"""Claude through the official ``anthropic`` SDK, streamed.

The SDK costs ~2 s to import, so it is imported inside the calls: ``jarvis --once``
on any other node never loads it.  Version 2.x speaks HTTP through its own
``httpx2`` fork and rejects plain httpx objects, so the pooled client it gets is
the process's shared ``httpx2`` client (``shared_sdk_http_client``); tests inject
one built on ``httpx2.MockTransport`` through ``sdk_http_client``.

We read the raw event stream (``messages.create(stream=True)``):
``message_start`` (model, input tokens), ``content_block_delta`` with
``text_delta`` (the text), ``message_delta`` (output tokens), ``message_stop``.
A stream that ends before ``message_stop`` was cut.  The SDK's own retries are
off: falling back to another node is the orchestrator's job, and a retry would
blow the node's deadlines.  ``temperature`` goes through ``extra_body`` because
this SDK's ``create`` has no such keyword.

The key comes from the env var named by ``api_key_env`` (``ANTHROPIC_API_KEY``
when unset) at the moment of the call; without it the call is skipped.  SDK
errors are reduced to their status or class name: their messages quote
response bodies, which we do not pass on.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from jarvis_tui.nodes.base import (
    ChatMessage,
    ChatResult,
    DeltaCallback,
    HealthResult,
    NodeClient,
    NodeError,
    Outcome,
    StreamEnd,
    classify_exception,
    http_status_error,
    token_count,
)
from jarvis_tui.nodes.http import shared_sdk_http_client

if TYPE_CHECKING:
    from jarvis_tui.config import NodeConfig

DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
DEFAULT_MAX_TOKENS = 1024


class AnthropicClient(NodeClient):
    kind = "anthropic"

    def __init__(self, config: NodeConfig, http: httpx.AsyncClient, sdk_http_client: Any = None) -> None:
        super().__init__(config, http)
        self._sdk_http_client = sdk_http_client

    def key_env(self) -> str:
        return self.config.api_key_env or DEFAULT_KEY_ENV

    def api_key_or_skip(self) -> str:
        name = self.key_env()
        key = os.environ.get(name, "")
        if not key:
            raise NodeError(Outcome.SKIPPED, f"env var {name} is not set; export the Anthropic API key there")
        return key

    # The key is checked before the SDK is loaded, so a node without a key never costs the import.
    # The import (~2 s) runs in a worker thread before the deadlines start: on the loop it would
    # freeze the cockpit, and inside them it would turn the first call into a timeout.
    async def chat(self, messages: list[ChatMessage], on_delta: DeltaCallback | None = None) -> ChatResult:
        self.api_key_or_skip()
        await load_sdk()
        return await super().chat(messages, on_delta)

    async def models(self) -> list[str]:
        self.api_key_or_skip()
        await load_sdk()
        return await super().models()

    async def health(self, timeout_s: float | None = None) -> HealthResult:
        try:
            self.api_key_or_skip()
            await load_sdk()
        except NodeError as exc:
            return HealthResult(False, 0.0, error=exc.message, outcome=exc.outcome)
        return await super().health(timeout_s)

    def _sdk(self) -> Any:
        """A configured ``AsyncAnthropic`` (the SDK is already loaded by then)."""
        import anthropic

        return anthropic.AsyncAnthropic(api_key=self.api_key_or_skip(), base_url=self.config.url, max_retries=0,
                                        timeout=self._sdk_timeout(),
                                        http_client=self._sdk_http_client or shared_sdk_http_client())

    def _sdk_timeout(self) -> Any:
        import httpx2

        cfg = self.config
        return httpx2.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s, read=cfg.first_token_deadline_s,
                              pool=cfg.connect_timeout_s)

    def request_args(self, messages: list[ChatMessage]) -> dict[str, Any]:
        cfg = self.config
        if not cfg.model:
            raise NodeError(Outcome.BAD_RESPONSE, "anthropic needs a model; set model = \"claude-...\" for this node")
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        args: dict[str, Any] = {
            "model": cfg.model,
            "max_tokens": cfg.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": [{"role": m.role, "content": m.content} for m in messages if m.role != "system"],
        }
        if system:
            args["system"] = system
        if cfg.temperature is not None:
            args["extra_body"] = {"temperature": cfg.temperature}
        return args

    async def _stream(self, messages: list[ChatMessage]) -> AsyncIterator[str | StreamEnd]:
        args = self.request_args(messages)
        client = self._sdk()
        end = StreamEnd()
        finished = False
        try:
            stream = await client.messages.create(stream=True, **args)
            try:
                async for event in stream:
                    kind = getattr(event, "type", "")
                    if kind == "message_start":
                        end.model = event.message.model
                        end.tokens_in = token_count(getattr(event.message.usage, "input_tokens", None))
                    elif kind == "content_block_delta":
                        if getattr(event.delta, "type", "") == "text_delta" and event.delta.text:
                            yield event.delta.text
                    elif kind == "message_delta":
                        usage = getattr(event, "usage", None)
                        if usage is not None:
                            end.tokens_out = token_count(getattr(usage, "output_tokens", None))
                    elif kind == "message_stop":
                        finished = True
                        break
            finally:
                await stream.close()
        except Exception as exc:  # noqa: BLE001 - every SDK error becomes a NodeError
            raise sdk_error(exc) from None
        if not finished:
            raise NodeError(Outcome.BAD_RESPONSE, "stream ended before the reply was complete (no message_stop)")
        yield end

    async def _list_models(self) -> list[str]:
        client = self._sdk()
        try:
            page = await client.models.list(limit=100)
        except Exception as exc:  # noqa: BLE001
            raise sdk_error(exc) from None
        return [model.id for model in page.data]


async def load_sdk() -> None:
    """Import the anthropic SDK (and its httpx2) off the event loop, once."""
    global _sdk_loaded
    if _sdk_loaded:
        return
    try:
        await asyncio.to_thread(importlib.import_module, "anthropic")
    except ImportError:
        raise NodeError(Outcome.SKIPPED, "the anthropic SDK is not installed; "
                                         "install it with: pip install 'jarvis-tui[cloud]'") from None
    _sdk_loaded = True


_sdk_loaded = False


def sdk_error(exc: BaseException) -> NodeError:
    """An anthropic SDK (or httpx2) exception as a NodeError, without quoting any body."""
    if isinstance(exc, NodeError):
        return exc
    import anthropic
    import httpx2

    if isinstance(exc, anthropic.APITimeoutError):
        return NodeError(Outcome.TIMEOUT, "timed out (anthropic API)")
    if isinstance(exc, anthropic.APIConnectionError):
        return NodeError(Outcome.REFUSED, "connection refused or unreachable (anthropic API)")
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code >= 400:
            return http_status_error(exc.response)  # reads only status and headers, as httpx2 has them
        error_type = (exc.body or {}).get("error", {}).get("type") if isinstance(exc.body, dict) else None
        return NodeError(Outcome.BAD_RESPONSE, f"error event mid-stream ({error_type or type(exc).__name__})")
    if isinstance(exc, anthropic.APIError):
        return NodeError(Outcome.BAD_RESPONSE, f"malformed response ({type(exc).__name__})")
    if isinstance(exc, httpx2.TimeoutException):
        return NodeError(Outcome.TIMEOUT, f"timed out ({type(exc).__name__})")
    if isinstance(exc, httpx2.ConnectError):
        return NodeError(Outcome.REFUSED, "connection refused or unreachable")
    if isinstance(exc, (httpx2.RemoteProtocolError, httpx2.ReadError)):
        return NodeError(Outcome.BAD_RESPONSE, f"stream broken ({type(exc).__name__})")
    return classify_exception(exc)
