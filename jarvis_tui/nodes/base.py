"""The one small interface every node client speaks, and the timing around it.

A protocol module (openai.py, ollama.py, ...) only knows its wire format: it
implements ``_stream`` yielding text deltas and, last, one ``StreamEnd`` with
what the server reported.  ``NodeClient.chat`` wraps that with the three
deadlines (connect, first token, total), measures TTFT and latency, and turns
every failure into a ``NodeError`` whose ``outcome`` is one of ``Outcome``.
A hung node therefore can never hang the caller.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from jarvis_tui.config import NodeConfig


class Outcome(StrEnum):
    OK = "ok"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    HTTP_ERROR = "http_error"
    BAD_RESPONSE = "bad_response"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # never sent: cooling down, thermal guard, no key


class NodeError(Exception):
    def __init__(self, outcome: Outcome, message: str, *, status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.status = status
        self.retry_after_s = retry_after_s
        self.latency_ms: float | None = None

    @property
    def message(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat message sent to a node."""

    role: str  # system | user | assistant
    content: str


@dataclass(slots=True)
class StreamEnd:
    """What the server said at the end of a stream; every field is optional."""

    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


@dataclass(slots=True)
class ChatResult:
    """A completed chat: the text, timings and usage."""

    node: str
    model: str
    text: str
    ttft_ms: float | None
    latency_ms: float
    tokens_in: int | None
    tokens_out: int | None
    outcome: Outcome = Outcome.OK

    @property
    def tokens_per_s(self) -> float | None:
        if not self.tokens_out or self.ttft_ms is None:
            return None
        generation_s = max((self.latency_ms - self.ttft_ms) / 1000.0, 1e-3)
        return self.tokens_out / generation_s


@dataclass(slots=True)
class HealthResult:
    """The answer to a health check: reachable or not, latency, loaded models."""

    ok: bool
    latency_ms: float
    models: list[str] = field(default_factory=list)
    error: str = ""
    outcome: Outcome = Outcome.OK


DeltaCallback = Callable[[str], None]


class NodeClient:
    """Base class: subclasses implement ``_stream``, ``_list_models`` and may override ``health``."""

    kind = "base"

    def __init__(self, config: NodeConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    @property
    def name(self) -> str:
        return self.config.name

    # -- what subclasses implement -------------------------------------------
    def _stream(self, messages: list[ChatMessage]) -> AsyncIterator[str | StreamEnd]:
        raise NotImplementedError

    async def _list_models(self) -> list[str]:
        raise NotImplementedError

    async def _get_json_array(self, url: str, key: str, what: str) -> list[Any]:
        """GET ``url`` and return the ``key`` array of its JSON object (every server's model list)."""
        response = await self.http.get(url, headers=self.headers(), timeout=self.timeout())
        await raise_for_status(response)
        payload = parse_json(response.content)
        items = payload.get(key) if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise NodeError(Outcome.BAD_RESPONSE, f"{what} reply has no '{key}' array")
        return items

    # -- shared behaviour ----------------------------------------------------
    def timeout(self, total: float | None = None) -> httpx.Timeout:
        """httpx timeouts: connect is separate; read covers the wait for the first byte."""
        read = self.config.first_token_deadline_s
        return httpx.Timeout(total or self.config.timeout_s, connect=self.config.connect_timeout_s,
                             read=read, pool=self.config.connect_timeout_s)

    def headers(self) -> dict[str, str]:
        key = self.config.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def models(self) -> list[str]:
        try:
            return await asyncio.wait_for(self._list_models(), self.config.connect_timeout_s + 5)
        except NodeError as exc:
            raise without_secret(exc, self.config) from None
        except BaseException as exc:  # noqa: BLE001 - classified, never leaked
            raise without_secret(classify_exception(exc, self.config), self.config) from None

    async def health(self, timeout_s: float | None = None) -> HealthResult:
        started = time.perf_counter()
        try:
            models = await asyncio.wait_for(self._list_models(), timeout_s or self.config.connect_timeout_s + 2)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001
            error = without_secret(exc if isinstance(exc, NodeError) else classify_exception(exc, self.config),
                                   self.config)
            return HealthResult(False, (time.perf_counter() - started) * 1000, error=error.message,
                                outcome=error.outcome)
        return HealthResult(True, (time.perf_counter() - started) * 1000, models=models)

    async def chat(self, messages: list[ChatMessage], on_delta: DeltaCallback | None = None) -> ChatResult:
        """Stream a reply, calling ``on_delta`` per text delta; raise ``NodeError`` on any failure."""
        started = time.perf_counter()
        first_token_at: float | None = None
        parts: list[str] = []
        end = StreamEnd()
        cfg = self.config
        stream = self._stream(messages)
        try:
            # One deadline, moved once: the first-token deadline (never past the total) until the
            # first token, then the total.  A wait_for per item, as before, started a task per
            # request just to bound the first wait (measured in bench/routing_overhead.py).
            opened = asyncio.get_running_loop().time()
            async with asyncio.timeout_at(opened + cfg.first_token_deadline_s) as deadline:
                async for item in stream:
                    if isinstance(item, StreamEnd):
                        end = item
                        continue
                    if not item:
                        continue
                    if first_token_at is None:
                        first_token_at = time.perf_counter()
                        deadline.reschedule(opened + cfg.timeout_s)
                    parts.append(item)
                    if on_delta is not None:
                        on_delta(item)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            elapsed = time.perf_counter() - started
            phase = "first token" if first_token_at is None else "total"
            limit = cfg.first_token_deadline_s if first_token_at is None else cfg.timeout_s
            raise NodeError(Outcome.TIMEOUT, f"{phase} timeout after {elapsed:.1f}s (limit {limit:g}s)") from None
        except NodeError as exc:
            raise without_secret(exc, cfg) from None
        except BaseException as exc:  # noqa: BLE001
            raise without_secret(classify_exception(exc, cfg), cfg) from None
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                try:
                    await close()
                except BaseException:  # noqa: BLE001 - closing a broken stream must not mask the cause
                    pass
        latency_ms = (time.perf_counter() - started) * 1000
        text = "".join(parts)
        ttft_ms = (first_token_at - started) * 1000 if first_token_at else None
        return ChatResult(node=cfg.name, model=end.model or cfg.model, text=text, ttft_ms=ttft_ms,
                          latency_ms=latency_ms, tokens_in=end.tokens_in,
                          tokens_out=end.tokens_out if end.tokens_out is not None else (len(parts) or None))


def classify_exception(exc: BaseException, config: NodeConfig | None = None) -> NodeError:
    """Map any transport or parse failure to a NodeError without leaking secrets."""
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, (httpx.ConnectError,)):
        return NodeError(Outcome.REFUSED, f"connection refused or unreachable ({_short(exc)})")
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return NodeError(Outcome.TIMEOUT, f"timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.HTTPStatusError):
        return http_status_error(exc.response)
    if isinstance(exc, (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError)):
        return NodeError(Outcome.BAD_RESPONSE, f"malformed response ({type(exc).__name__}: {_short(exc)})")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return NodeError(Outcome.BAD_RESPONSE, f"stream broken ({_short(exc)})")
    if isinstance(exc, httpx.HTTPError):
        return NodeError(Outcome.REFUSED, f"transport error ({_short(exc)})")
    return NodeError(Outcome.BAD_RESPONSE, f"{type(exc).__name__}: {_short(exc)}")


def without_secret(error: NodeError, config: NodeConfig | None) -> NodeError:
    """The error with the node's key blanked out of its message, in case a server echoed it back."""
    key = config.api_key() if config is not None else None
    if not key or key not in error.message:
        return error
    return NodeError(error.outcome, error.message.replace(key, "[redacted]"), status=error.status,
                     retry_after_s=error.retry_after_s)


def http_status_error(response: httpx.Response) -> NodeError:
    retry_after = response.headers.get("retry-after")
    retry_s: float | None = None
    if retry_after:
        try:
            retry_s = float(retry_after)
        except ValueError:
            retry_s = None
    suffix = f", retry after {retry_s:g}s" if retry_s is not None else ""
    return NodeError(Outcome.HTTP_ERROR, f"HTTP {response.status_code}{suffix}", status=response.status_code,
                     retry_after_s=retry_s)


async def raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        try:
            await response.aread()
        except httpx.HTTPError:
            pass
        raise http_status_error(response)


def _short(exc: BaseException, limit: int = 160) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_json(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NodeError(Outcome.BAD_RESPONSE, f"malformed JSON from node ({_short(exc, 80)})") from None


def token_count(value: Any) -> int | None:
    """A token count from a server's usage object; anything but a number is unknown."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
