"""A programmable LLM node: real HTTP on 127.0.0.1, speaking the openai, ollama and lmstudio wire formats.

It is the boundary fake for every test and benchmark that needs a node: the
clients under test open real sockets to it.  Each server runs a stdlib
``ThreadingHTTPServer`` in a daemon thread (one thread per connection, HTTP/1.1
keep-alive, chunked streaming, Nagle off so tokens leave one by one).

Endpoints (prefixes before ``/chat/completions`` and ``/models`` are accepted, so
the Gemini compatibility path ``/v1beta/openai/...`` works too):

* openai:   ``GET .../models``, ``POST .../chat/completions`` (SSE when ``stream``, JSON otherwise)
* ollama:   ``GET /api/tags``, ``POST /api/chat`` (NDJSON when ``stream``, JSON otherwise)
* lmstudio: ``GET /api/v1/models``, ``POST /api/v1/chat`` (named SSE events when ``stream``)

Behaviour is set per test (``LoopbackNode(reply=..., fault=Fault.HTTP_500)``) and can
be changed while running with ``node.set(...)``.  Faults: ``REFUSED`` (nothing listens
on the port), ``HANG`` (request read, no answer until stopped), ``HTTP_500``,
``HTTP_429`` (with ``Retry-After``), ``MALFORMED_JSON``, ``CUT_STREAM`` (socket closed
mid-stream), ``ENDLESS_STREAM``, ``UNAUTHORIZED`` (HTTP 401).  ``fault_times`` limits a
fault to the first N chat requests, for fallback and recovery tests.  Every request is
recorded in ``node.requests``.

Usage from a benchmark::

    from tests.fakes.loopback_node import LoopbackNode
    with LoopbackNode(tokens_per_s=200) as node:
        ... node.url ...
"""

from __future__ import annotations

import enum
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_REPLY = "Hello from the loopback node."
HANG_LIMIT_S = 120.0  # a hung request still ends by itself, in case a test forgets to stop the node
_TOKEN = re.compile(r"\s*\S+|\s+")


class Fault(enum.StrEnum):
    REFUSED = "refused"
    HANG = "hang"
    HTTP_500 = "http_500"
    HTTP_429 = "http_429"
    UNAUTHORIZED = "unauthorized"
    MALFORMED_JSON = "malformed_json"
    CUT_STREAM = "cut_stream"
    ENDLESS_STREAM = "endless_stream"


@dataclass(slots=True)
class Behavior:
    reply: str | Callable[[str], str] = DEFAULT_REPLY
    model: str = "loopback-model"
    models: tuple[str, ...] | None = None  # advertised; defaults to (model,)
    first_token_delay_s: float = 0.0  # after the headers, before the first token
    tokens_per_s: float | None = None  # None: as fast as possible
    fault: Fault | None = None
    fault_on_models: bool = False  # apply HTTP/JSON/hang faults to the model lists as well
    fault_times: int | None = None  # only the first N chat requests fail
    retry_after_s: int = 7
    cut_after_tokens: int = 2
    api_key: str | None = None  # require "Authorization: Bearer <api_key>"
    usage: bool = True  # openai: send the usage chunk when asked for it

    def reply_for(self, prompt: str) -> str:
        return self.reply(prompt) if callable(self.reply) else self.reply


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    client_port: int = 0  # the client's side of the TCP connection: equal ports mean a reused connection

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class _Counters:
    chat_requests: int = 0
    faults_served: int = 0
    tokens_sent: int = 0


def free_port() -> int:
    """A loopback port nothing listens on right now (connecting to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tokenize(text: str) -> list[str]:
    """Word-sized tokens that join back to ``text`` exactly."""
    return _TOKEN.findall(text) or [text]


class LoopbackNode:
    """One programmable server.  ``start()``/``stop()``, or use it as a context manager."""

    def __init__(self, port: int | None = None, **behavior: Any) -> None:
        self.behavior = Behavior(**behavior)
        self.requests: list[RecordedRequest] = []
        self.counters = _Counters()
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the loopback node has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def listening(self) -> bool:
        return self._server is not None

    def start(self) -> LoopbackNode:
        if self._server is not None:
            return self
        self._stopping.clear()
        if self.behavior.fault is Fault.REFUSED:
            self._port = self._port or free_port()  # keep the port closed: connections are refused
            return self
        server = _Server(("127.0.0.1", self._port or 0), _Handler)
        server.node = self
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"loopback-node-{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and end every open request (hung and endless ones included)."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- programming -----------------------------------------------------------
    def set(self, **changes: Any) -> None:
        """Change behaviour while running; ``fault=Fault.REFUSED`` closes the port, clearing it reopens it."""
        valid = {f.name for f in fields(Behavior)}
        unknown = set(changes) - valid
        if unknown:
            raise TypeError(f"unknown behaviour: {', '.join(sorted(unknown))}")
        with self._lock:
            self.behavior = replace(self.behavior, **changes)
            self.counters.faults_served = 0
        if self.behavior.fault is Fault.REFUSED and self._server is not None:
            self.stop()
        elif self.behavior.fault is not Fault.REFUSED and self._server is None and self._port is not None:
            self.start()

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]

    def last_chat_json(self) -> Any:
        posts = self.chat_requests()
        if not posts:
            raise AssertionError("the loopback node received no chat request")
        return posts[-1].json()

    # -- used by the handler ---------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _fault_for(self, is_chat: bool) -> tuple[Behavior, Fault | None]:
        """The behaviour snapshot for one request, and the fault it gets (if any)."""
        with self._lock:
            behavior = self.behavior
            if is_chat:
                self.counters.chat_requests += 1
            fault = behavior.fault
            if fault is None or fault is Fault.REFUSED:
                return behavior, None
            if not is_chat and not behavior.fault_on_models:
                return behavior, None
            if fault in (Fault.CUT_STREAM, Fault.ENDLESS_STREAM) and not is_chat:
                return behavior, None
            if is_chat and behavior.fault_times is not None:
                if self.counters.faults_served >= behavior.fault_times:
                    return behavior, None
                self.counters.faults_served += 1
            return behavior, fault


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 resets connections at concurrency 50
    node: LoopbackNode

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-stream is normal here (timeouts, cancelled requests).
        pass


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    # -- dispatch ----------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        node = self.server.node
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].rstrip("/")
        node._record(RecordedRequest(method, path, {k.lower(): v for k, v in self.headers.items()}, body,
                                     self.client_address[1]))
        route = _route(method, path)
        if route is None:
            self._send_json(404, {"error": {"message": f"no route for {method} {path}"}})
            return
        protocol, endpoint = route
        behavior, fault = node._fault_for(endpoint == "chat")
        try:
            if behavior.api_key is not None and self.headers.get("authorization") != f"Bearer {behavior.api_key}":
                self._send_json(401, {"error": {"message": "missing or wrong API token"}})
                return
            if fault is not None and self._serve_fault(fault, behavior, endpoint):
                return
            if endpoint == "models":
                self._send_json(200, _models_payload(protocol, behavior))
                return
            request = json.loads(body or b"{}")
            streaming = bool(request.get("stream", protocol == "ollama"))  # ollama streams by default
            self._serve_chat(protocol, behavior, request, streaming, fault)
        except _ClientGone:
            self.close_connection = True

    def _serve_fault(self, fault: Fault, behavior: Behavior, endpoint: str) -> bool:
        """Serve a fault that replaces the whole response; False for faults that happen mid-stream."""
        if fault is Fault.HANG:
            self.server.node._stopping.wait(HANG_LIMIT_S)
            self.close_connection = True
            return True
        if fault is Fault.HTTP_500:
            # The body quotes the request's Authorization header: a client must never repeat a body.
            self._send_json(500, {"error": {"message": f"internal error for {self.headers.get('authorization')}"}})
            return True
        if fault is Fault.HTTP_429:
            self._send_json(429, {"error": {"message": "rate limited"}},
                            headers={"Retry-After": str(behavior.retry_after_s)})
            return True
        if fault is Fault.UNAUTHORIZED:
            self._send_json(401, {"error": {"message": "unauthorized"}})
            return True
        if fault is Fault.MALFORMED_JSON and endpoint == "models":
            self._send_raw(200, b'{"data": [{"id": "broken"', "application/json")
            return True
        return False

    # -- chat ----------------------------------------------------------------------
    def _serve_chat(self, protocol: str, behavior: Behavior, request: dict[str, Any], streaming: bool,
                    fault: Fault | None) -> None:
        prompt = _prompt_of(protocol, request)
        text = behavior.reply_for(prompt)
        tokens = tokenize(text)
        tokens_in = len(tokenize(prompt)) if prompt else 0
        if not streaming:
            self._wait(behavior.first_token_delay_s)
            if fault is Fault.MALFORMED_JSON:
                self._send_raw(200, b'{"choices": [', "application/json")
                return
            self._send_json(200, _complete_payload(protocol, behavior, text, tokens_in, len(tokens)))
            return
        content_type = "application/x-ndjson" if protocol == "ollama" else "text/event-stream"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        frames = _Frames(protocol, behavior, request)
        self._write_chunk(frames.start())
        self._wait(behavior.first_token_delay_s)
        if fault is Fault.MALFORMED_JSON:
            self._write_chunk(frames.malformed())
            self._end_chunks()
            return
        token_source: Iterator[str] = _endless(tokens) if fault is Fault.ENDLESS_STREAM else iter(tokens)
        interval = 1.0 / behavior.tokens_per_s if behavior.tokens_per_s else 0.0
        started = time.monotonic()
        for index, token in enumerate(token_source):
            if fault is Fault.CUT_STREAM and index >= behavior.cut_after_tokens:
                self._cut()
                return
            if interval:
                self._wait(started + index * interval - time.monotonic())
            elif self.server.node._stopping.is_set():
                raise _ClientGone
            self._write_chunk(frames.delta(token))
            self.server.node.counters.tokens_sent += 1
        self._write_chunk(frames.finish(text, tokens_in, len(tokens)))
        self._end_chunks()

    # -- low-level writing ---------------------------------------------------------
    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.server.node._stopping.wait(seconds):
            raise _ClientGone

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            raise _ClientGone from exc

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_chunks(self) -> None:
        self._write(b"0\r\n\r\n")

    def _cut(self) -> None:
        """Close the socket with the chunked body unfinished, as a crashing server does."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_raw(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self._write(body)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)


# ---------------------------------------------------------------- wire formats


def _route(method: str, path: str) -> tuple[str, str] | None:
    if path == "/api/v1/models" and method == "GET":
        return "lmstudio", "models"
    if path == "/api/v1/chat" and method == "POST":
        return "lmstudio", "chat"
    if path == "/api/tags" and method == "GET":
        return "ollama", "models"
    if path == "/api/chat" and method == "POST":
        return "ollama", "chat"
    if path.endswith("/chat/completions") and method == "POST":
        return "openai", "chat"
    if path.endswith("/models") and method == "GET":
        return "openai", "models"
    return None


def _prompt_of(protocol: str, request: dict[str, Any]) -> str:
    if protocol == "lmstudio":
        return str(request.get("input") or "")
    for message in reversed(request.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _endless(tokens: list[str]) -> Iterator[str]:
    while True:
        yield from tokens


def _models_payload(protocol: str, behavior: Behavior) -> dict[str, Any]:
    names = behavior.models or (behavior.model,)
    if protocol == "ollama":
        return {"models": [{"name": n, "model": n, "modified_at": "2026-01-01T00:00:00Z", "size": 1_000_000,
                            "digest": "0" * 64, "details": {"format": "gguf", "family": "loopback"}}
                           for n in names]}
    if protocol == "lmstudio":
        loaded = [{"type": "llm", "publisher": "loopback", "key": n, "display_name": n, "architecture": "llama",
                   "quantization": {"name": "Q4_0", "bits_per_weight": 4}, "size_bytes": 1_000_000,
                   "params_string": "1B", "max_context_length": 4096, "format": "gguf",
                   "loaded_instances": [{"id": n, "config": {"context_length": 4096}}],
                   "capabilities": {"vision": False, "trained_for_tool_use": False}, "description": None}
                  for n in names]
        not_loaded = {"type": "embedding", "publisher": "loopback", "key": "loopback-embed-unloaded",
                      "display_name": "Unloaded embedder", "quantization": None, "size_bytes": 1,
                      "params_string": None, "loaded_instances": [], "max_context_length": 2048,
                      "format": "gguf"}
        return {"models": [*loaded, not_loaded]}
    return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "loopback"}
                                        for n in names]}


def _complete_payload(protocol: str, behavior: Behavior, text: str, tokens_in: int, tokens_out: int) -> dict:
    if protocol == "ollama":
        return {"model": behavior.model, "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": text}, "done": True, "done_reason": "stop",
                "prompt_eval_count": tokens_in, "eval_count": tokens_out}
    if protocol == "lmstudio":
        return _lmstudio_result(behavior, text, tokens_in, tokens_out)
    return {"id": "chatcmpl-loopback", "object": "chat.completion", "created": 0, "model": behavior.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                      "total_tokens": tokens_in + tokens_out}}


def _lmstudio_result(behavior: Behavior, text: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {"model_instance_id": behavior.model, "output": [{"type": "message", "content": text}],
            "stats": {"input_tokens": tokens_in, "total_output_tokens": tokens_out, "reasoning_output_tokens": 0,
                      "tokens_per_second": behavior.tokens_per_s or 1000.0,
                      "time_to_first_token_seconds": behavior.first_token_delay_s}}


@dataclass(slots=True)
class _Frames:
    """The bytes of one streamed reply in a protocol's framing."""

    protocol: str
    behavior: Behavior
    request: dict[str, Any]
    created: int = field(default_factory=lambda: int(time.time()))

    def _sse(self, data: Any, event: str | None = None) -> bytes:
        head = f"event: {event}\n" if event else ""
        return f"{head}data: {json.dumps(data)}\n\n".encode()

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self._sse({"id": "chatcmpl-loopback", "object": "chat.completion.chunk", "created": self.created,
                          "model": self.behavior.model,
                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    def start(self) -> bytes:
        if self.protocol == "openai":
            return self._chunk({"role": "assistant", "content": ""})
        if self.protocol == "lmstudio":
            model = self.behavior.model
            return (self._sse({"type": "chat.start", "model_instance_id": model}, "chat.start")
                    + self._sse({"type": "prompt_processing.start"}, "prompt_processing.start")
                    + self._sse({"type": "prompt_processing.end"}, "prompt_processing.end")
                    + self._sse({"type": "message.start"}, "message.start"))
        return b""

    def delta(self, token: str) -> bytes:
        if self.protocol == "ollama":
            return (json.dumps({"model": self.behavior.model, "created_at": "2026-01-01T00:00:00Z",
                                "message": {"role": "assistant", "content": token}, "done": False}) + "\n").encode()
        if self.protocol == "lmstudio":
            return self._sse({"type": "message.delta", "content": token}, "message.delta")
        return self._chunk({"content": token})

    def malformed(self) -> bytes:
        if self.protocol == "ollama":
            return b'{"model": "loopback", "message": {"content": "Hel\n'
        if self.protocol == "lmstudio":
            return b'event: message.delta\ndata: {"type": "message.delta", "content": \n\n'
        return b'data: {"choices": [{"delta": {"content": "Hel\n\n'

    def finish(self, text: str, tokens_in: int, tokens_out: int) -> bytes:
        if self.protocol == "ollama":
            return (json.dumps({"model": self.behavior.model, "created_at": "2026-01-01T00:00:00Z",
                                "message": {"role": "assistant", "content": ""}, "done": True,
                                "done_reason": "stop", "total_duration": 1, "prompt_eval_count": tokens_in,
                                "eval_count": tokens_out}) + "\n").encode()
        if self.protocol == "lmstudio":
            return (self._sse({"type": "message.end"}, "message.end")
                    + self._sse({"type": "chat.end",
                                 "result": _lmstudio_result(self.behavior, text, tokens_in, tokens_out)},
                                "chat.end"))
        frames = self._chunk({}, finish="stop")
        wants_usage = bool((self.request.get("stream_options") or {}).get("include_usage"))
        if wants_usage and self.behavior.usage:
            frames += self._sse({"id": "chatcmpl-loopback", "object": "chat.completion.chunk",
                                 "created": self.created, "model": self.behavior.model, "choices": [],
                                 "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                                           "total_tokens": tokens_in + tokens_out}})
        return frames + b"data: [DONE]\n\n"
