"""The one object every face talks to.

It owns the node registry, the event bus, the health monitor, per-node metrics
and circuit breakers, and the store.  Nothing else talks to nodes.  It is plain
asyncio: importing it never imports Textual, and node clients with heavy SDKs
(anthropic) are created only for nodes that use them.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, Protocol

import httpx

from jarvis_tui.config import Config, NodeConfig
from jarvis_tui.core.bus import EventBus
from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock
from jarvis_tui.core.metrics import BreakerState, CircuitBreaker, NodeMetrics
from jarvis_tui.core.store import NewMessage, Redactor, RequestRow, Store
from jarvis_tui.core.text import one_line
from jarvis_tui.nodes.base import ChatMessage, ChatResult, HealthResult, NodeClient, NodeError, Outcome


REQUEST_ROW_FLUSH_S = 0.05


def _events() -> ModuleType:
    """The event classes, imported when an event first has a subscriber to go to.

    Events published with no subscriber are dropped by the bus, so the orchestrator does not
    build them then: a headless ``--once`` neither defines the classes nor makes one per token.
    """
    from jarvis_tui.core import events

    return events


class NoNodeAvailable(Exception):
    """Every node on the route failed or was skipped."""

    def __init__(self, message: str, attempts: list[Attempt], task_type: str = "") -> None:
        super().__init__(message)
        self.attempts = attempts
        self.task_type = task_type


class ThermalView(Protocol):
    """What routing needs from GPU telemetry (``core.thermal.ThermalStatus`` satisfies it)."""

    status: str  # normal | warning | critical | unknown
    max_temp: float | None


@dataclass(slots=True)
class Attempt:
    """One node tried (or skipped) for an ask, and how it went."""

    node: str
    outcome: str
    latency_ms: float | None = None
    error: str = ""
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "outcome": self.outcome,
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
                "error": self.error or None}


@dataclass(slots=True)
class AskResult:
    """The answer to an ask, where it came from, and every attempt it took."""

    answer: str
    node: str
    model: str
    task_type: str
    latency_ms: float
    ttft_ms: float | None
    tokens_in: int | None
    tokens_out: int | None
    tokens_per_s: float | None
    attempts: list[Attempt]
    request_id: str
    conversation_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {
            "answer": self.answer,
            "node": self.node,
            "model": self.model,
            "task_type": self.task_type,
            "latency_ms": round(self.latency_ms, 1),
            "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 1),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "tokens_per_s": None if self.tokens_per_s is None else round(self.tokens_per_s, 1),
            "attempts": [a.to_dict() for a in self.attempts],
            "conversation_id": self.conversation_id,
        }
        out.update(self.extra)
        return out


@dataclass
class NodeState:
    """A registered node: its client, metrics, breaker, status and concurrency slots."""

    config: NodeConfig
    client: NodeClient
    metrics: NodeMetrics
    breaker: CircuitBreaker
    status: str = "unknown"  # up | down | cooldown | unknown
    models: list[str] = field(default_factory=list)
    last_health_ms: float | None = None
    last_errors: deque[str] = field(default_factory=lambda: deque(maxlen=10))
    latency_history: deque[float] = field(default_factory=lambda: deque(maxlen=60))
    # Local servers run a few parallel slots (llama-server, Ollama's NUM_PARALLEL); queueing
    # here instead of on the socket also keeps httpx's pool small, which is much faster.
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))

    @property
    def name(self) -> str:
        return self.config.name


ClientFactory = Callable[[NodeConfig, httpx.AsyncClient], NodeClient]


class Orchestrator:
    def __init__(self, config: Config, *, bus: EventBus | None = None, clock: Clock = SYSTEM_CLOCK,
                 http: httpx.AsyncClient | None = None, client_factory: ClientFactory | None = None,
                 store: Store | None = None, classifier: Callable[[str], str] | None = None) -> None:
        self.config = config
        self.bus = bus or EventBus()
        self.clock = clock
        self._http = http
        self._owns_http = http is None
        self._client_factory = client_factory
        self.redactor = Redactor(_configured_secrets(config))
        self.store = store
        self._owns_store = store is None
        self._classifier = classifier
        self.nodes: dict[str, NodeState] = {}
        self.embedded: Any = None  # EmbeddedServer when the embedded node was started
        self.thermal: Callable[[str], ThermalView | None] = lambda _node: None
        self.gpu: Any = None  # GpuMonitor, once GPU telemetry is started
        self._health_task: asyncio.Task[None] | None = None
        self._request_ids = itertools.count(1)
        self._session = f"{os.getpid():x}{int(time.time()) & 0xFFFF:04x}"
        self._started = False
        self._request_rows: list[RequestRow] = []
        self._rows_flush: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, open_store: bool = True, monitor: bool = False, bootstrap: bool = True) -> None:
        """Create clients (discovering or embedding a node if the config has none) and open the store."""
        if self._http is None:
            from jarvis_tui.nodes.http import shared_http_client

            self._http = shared_http_client(tls=_needs_tls(self.config))
        if bootstrap and not self.config.nodes:
            from jarvis_tui.core.bootstrap import bootstrap_nodes

            self.config, self.embedded = await bootstrap_nodes(self.config, self._http)
        for node_config in self.config.nodes:
            if node_config.name not in self.nodes:
                self._add_node(node_config)
        if open_store and self.store is None:
            self.store = Store(self.config.store.path, self.redactor)
        if open_store and self.store is not None and self.store._db is None:
            await self.store.open()
        self._started = True
        if monitor:
            self.start_health_monitor()
            await self.create_gpu_monitor().start()

    def _add_node(self, node_config: NodeConfig) -> None:
        factory = self._client_factory
        if factory is None:
            from jarvis_tui.nodes.factory import make_client

            factory = make_client
        assert self._http is not None
        breaker = CircuitBreaker(self.config.breaker.failures, self.config.breaker.cooldown_s, self.clock)
        self.nodes[node_config.name] = NodeState(node_config, factory(node_config, self._http), NodeMetrics(),
                                                 breaker, slots=asyncio.Semaphore(node_config.max_concurrency))

    def create_gpu_monitor(self, *, local: bool = True) -> Any:
        """The GPU monitor (created once); its thermal status feeds routing from then on.

        ``local=False`` reads only the nodes' remote exporters, never NVML.
        """
        if self.gpu is None:
            import dataclasses

            from jarvis_tui.gpu.monitor import GpuMonitor

            settings = self.config.section("gpu")
            if not local:
                settings = dataclasses.replace(settings, local_source="off")
            self.gpu = GpuMonitor(settings, self.config.nodes, self.bus, http=self._http, clock=self.clock)
            self.thermal = self.gpu.thermal_status
        return self.gpu

    async def prime_thermal(self) -> None:
        """One GPU poll before a headless dispatch, only when some node has a GPU source.

        Remote exporters are scraped (with their timeouts); local NVML is read only
        when ``[gpu] local_node`` ties the local GPUs to a node that may be routed to.
        """
        remote = any(n.gpu_metrics_url for n in self.config.nodes)
        if not remote and "gpu" not in self.config.sections:
            return  # no exporter and no [gpu] table, so no local_node either: nothing to read
        settings = self.config.section("gpu")
        local = bool(settings.local_node) and settings.local_node in self.nodes
        if settings.enabled and (remote or local):
            await self.create_gpu_monitor(local=local).poll_once()

    def start_health_monitor(self) -> None:
        if self._health_task is None:
            self._health_task = asyncio.create_task(self._health_loop(), name="jarvis-health")

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            try:
                await self._health_task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._health_task = None
        if self.gpu is not None:
            await self.gpu.stop()
        if self._rows_flush is not None:
            self._rows_flush.cancel()
        await self.flush_request_rows()
        if self.store is not None and self._owns_store:
            await self.store.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None
        if self._owns_http and self._http is not None:
            from jarvis_tui.nodes.http import close_shared_http_client

            await close_shared_http_client()
            self._http = None
        self.bus.close()

    async def __aenter__(self) -> Orchestrator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ routing

    def classify(self, prompt: str) -> str:
        if self._classifier is not None:
            return self._classifier(prompt)
        from jarvis_tui.core.classify import classify

        return classify(prompt)

    def route(self, task_type: str) -> list[str]:
        """Ordered node names for a task type: its route, else [routing] default, else every node."""
        routing = self.config.routing
        names = routing.get(task_type) or routing.get("default") or tuple(self.nodes)
        return [n for n in names if n in self.nodes]

    def skip_reason(self, name: str) -> str | None:
        """Why a node must not be sent a request now, or None when it may."""
        state = self.nodes[name]
        cfg = state.config
        if not cfg.enabled:
            return "disabled in config"
        if cfg.api_key_env and cfg.kind in ("anthropic", "gemini") and not cfg.api_key():
            return f"no API key: environment variable {cfg.api_key_env} is not set"
        thermal = self.thermal(name)
        if thermal is not None and thermal.status == "critical":
            return f"thermal guard: GPU at {thermal.max_temp:.0f} °C (critical)"
        if state.breaker.state is BreakerState.OPEN:
            return f"cooling down ({state.breaker.cooldown_left_s():.0f}s left after "\
                   f"{state.breaker.consecutive_failures} failures)"
        return None

    def order_by_thermal(self, names: list[str]) -> list[str]:
        """Warning-hot nodes drop behind cool ones; the order is otherwise kept."""
        if len(names) < 2:  # nothing to reorder (a routed task type often has one node)
            return list(names)

        def hot(name: str) -> int:
            view = self.thermal(name)
            return 1 if view is not None and view.status == "warning" else 0
        return sorted(names, key=hot)

    # ------------------------------------------------------------------ dispatch

    def next_request_id(self) -> str:
        return f"{self._session}-{next(self._request_ids)}"

    async def dispatch(self, name: str, messages: list[ChatMessage], *, task_type: str = "",
                       request_id: str | None = None, conversation_id: int | None = None,
                       on_delta: Callable[[str], None] | None = None, force: bool = False) -> ChatResult:
        """One request to one node, with metrics, breaker, events and a request row.  Raises NodeError.

        ``force`` (``--node NAME``) sends even to a node whose breaker is open.
        """
        state = self.nodes[name]
        request_id = request_id or self.next_request_id()
        if not state.breaker.allow() and not force:
            raise NodeError(Outcome.SKIPPED, "cooling down")
        if self.bus.subscriber_count:
            self.bus.publish(_events().RequestStarted(request_id=request_id, node=name, model=state.config.model,
                                                      task_type=task_type, conversation_id=conversation_id))

        def forward(delta: str) -> None:
            if self.bus.subscriber_count:
                self.bus.publish(_events().TokenDelta(request_id=request_id, node=name, text=delta))
            if on_delta is not None:
                on_delta(delta)

        started = time.perf_counter()
        try:
            async with state.slots:
                result = await state.client.chat(messages, on_delta=forward)
        except asyncio.CancelledError:
            state.breaker.release_probe()
            latency = (time.perf_counter() - started) * 1000
            if self.bus.subscriber_count:
                self.bus.publish(_events().RequestFinished(request_id=request_id, node=name, model=state.config.model,
                                                           outcome=Outcome.CANCELLED, latency_ms=latency,
                                                           error="cancelled"))
            raise
        except NodeError as error:
            latency = (time.perf_counter() - started) * 1000
            message = self.redactor(error.message) or ""
            self._record_failure(state, error, message)
            if self.bus.subscriber_count:
                self.bus.publish(_events().RequestFinished(request_id=request_id, node=name, model=state.config.model,
                                                           outcome=error.outcome, latency_ms=latency, error=message))
            self._record_request(request_id, name, state.config.model, task_type, error.outcome, latency,
                                       None, None, None, message)
            failure = NodeError(error.outcome, message, status=error.status, retry_after_s=error.retry_after_s)
            failure.latency_ms = latency
            raise failure from None
        self._record_success(state, result)
        if self.bus.subscriber_count:
            self.bus.publish(_events().RequestFinished(
                request_id=request_id, node=name, model=result.model, outcome=Outcome.OK,
                latency_ms=result.latency_ms, ttft_ms=result.ttft_ms, tokens_in=result.tokens_in,
                tokens_out=result.tokens_out, tokens_per_s=result.tokens_per_s, text=result.text))
        self._record_request(request_id, name, result.model, task_type, Outcome.OK, result.latency_ms,
                                   result.ttft_ms, result.tokens_in, result.tokens_out, None)
        return result

    def _record_success(self, state: NodeState, result: ChatResult) -> None:
        state.metrics.record(True, result.latency_ms, result.ttft_ms, result.tokens_per_s)
        state.latency_history.append(result.latency_ms)
        state.breaker.record_success()
        self._set_status(state, "up", latency_ms=result.latency_ms)

    def _record_failure(self, state: NodeState, error: NodeError, message: str) -> None:
        state.metrics.record(False, None)
        state.last_errors.append(f"{time.strftime('%H:%M:%S')} {error.outcome}: {message}")
        opened = state.breaker.record_failure()
        if error.retry_after_s:
            # A 429 with Retry-After is an explicit cooldown request: honour it.
            state.breaker.opened_at = self.clock.monotonic()
            state.breaker.cooldown_s = max(self.config.breaker.cooldown_s, error.retry_after_s)
            opened = True
        elif opened:
            state.breaker.cooldown_s = self.config.breaker.cooldown_s
        self._set_status(state, "cooldown" if opened else "down", reason=f"{error.outcome}: {message}")

    def _set_status(self, state: NodeState, status: str, *, reason: str = "", latency_ms: float | None = None) -> None:
        if status != state.status:
            state.status = status
            if self.bus.subscriber_count:
                self.bus.publish(_events().NodeStatusChanged(node=state.name, status=status, reason=reason,
                                                             latency_ms=latency_ms))

    def _record_request(self, request_id: str, node: str, model: str | None, task_type: str, outcome: str,
                        latency_ms: float | None, ttft_ms: float | None, tokens_in: int | None,
                        tokens_out: int | None, error: str | None) -> None:
        """Queue a metrics row; rows are written in batches so the store never paces dispatch.

        Messages are still committed one by one (durability); a kill -9 can lose at most
        REQUEST_ROW_FLUSH_S worth of metrics rows.
        """
        if self.store is None or self.store._db is None:
            return
        self._request_rows.append(RequestRow(request_id, node, model, task_type, str(outcome), latency_ms, ttft_ms,
                                             tokens_in, tokens_out, error, time.time()))
        if self._rows_flush is None or self._rows_flush.done():
            self._rows_flush = asyncio.create_task(self.flush_request_rows(REQUEST_ROW_FLUSH_S))

    async def flush_request_rows(self, delay_s: float = 0.0) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        rows, self._request_rows = self._request_rows, []
        if not rows or self.store is None or self.store._db is None:
            return
        try:
            await self.store.record_requests(rows)
        except Exception as exc:  # noqa: BLE001 - metrics rows must never fail a request
            self.bus.publish(_events().ErrorRaised(source="store", message=one_line(str(exc))))

    async def conversation_turns(self, conversation_id: int | None) -> list[ChatMessage]:
        """The conversation's stored user/assistant turns, oldest first (none without a store or an id)."""
        store = self.store
        if conversation_id is None or store is None or store._db is None:
            return []
        return [ChatMessage(m.role, m.content) for m in await store.messages(conversation_id)
                if m.role in ("user", "assistant")]

    async def ask(self, prompt: str, *, node: str | None = None, task_type: str | None = None,
                  conversation_id: int | None = None, persist: bool = True, system: str | None = None,
                  on_delta: Callable[[str], None] | None = None, candidates: list[str] | None = None,
                  history: list[ChatMessage] | None = None) -> AskResult:
        """Classify, route, and try nodes in order until one answers.  Raises NoNodeAvailable.

        ``history`` (earlier user/assistant turns) is for a caller that keeps the conversation itself
        (``persist=False``); with ``persist`` the turns come from the store.  ``conversation_id`` tags the
        request events either way, so the cockpit streams them into the right conversation.
        """
        task_type = task_type or self.classify(prompt)
        if node is not None:
            if node not in self.nodes:
                raise KeyError(node)
            names = [node]
        else:
            names = self.order_by_thermal(candidates if candidates is not None else self.route(task_type))
        messages: list[ChatMessage] = [ChatMessage("system", system)] if system else []
        messages.extend(history or ())
        store = self.store if persist and self.store is not None and self.store._db is not None else None
        if store is not None:
            if conversation_id is not None:
                messages.extend(await self.conversation_turns(conversation_id))
            # One write (one group commit) creates the conversation if needed and stores the prompt.
            conversation_id, _ids = await store.add_messages(conversation_id,
                                                             [NewMessage("user", prompt, task_type=task_type)])
        messages.append(ChatMessage("user", prompt))

        attempts: list[Attempt] = []
        request_id = self.next_request_id()
        for name in names:
            reason = self.skip_reason(name)
            if node is not None and reason and reason.startswith("cooling down"):
                reason = None  # a forced node is tried even while it cools down
            if reason:
                attempts.append(Attempt(name, Outcome.SKIPPED, None, reason))
                continue
            try:
                result = await self.dispatch(name, messages, task_type=task_type, request_id=f"{request_id}.{name}",
                                             conversation_id=conversation_id, on_delta=on_delta,
                                             force=node is not None)
            except NodeError as error:
                attempts.append(Attempt(name, error.outcome, getattr(error, "latency_ms", None), error.message))
                continue
            attempts.append(Attempt(name, Outcome.OK, result.latency_ms, "", result.model))
            if store is not None and conversation_id is not None:
                await store.add_message(conversation_id, "assistant", result.text, node=name, model=result.model,
                                        task_type=task_type, latency_ms=result.latency_ms, ttft_ms=result.ttft_ms,
                                        tokens_in=result.tokens_in, tokens_out=result.tokens_out)
            return AskResult(answer=result.text, node=name, model=result.model, task_type=task_type,
                             latency_ms=result.latency_ms, ttft_ms=result.ttft_ms, tokens_in=result.tokens_in,
                             tokens_out=result.tokens_out, tokens_per_s=result.tokens_per_s, attempts=attempts,
                             request_id=request_id, conversation_id=conversation_id)
        if not names:
            message = f"no node is routed for task type '{task_type}'"
        else:
            message = "no node could answer: " + "; ".join(f"{a.node} {a.outcome} ({a.error})" for a in attempts)
        raise NoNodeAvailable(message, attempts, task_type)

    # ------------------------------------------------------------------ health

    async def health_check(self, names: list[str] | None = None) -> dict[str, HealthResult]:
        """Check nodes concurrently; each check is bounded by [health] timeout_s."""
        targets = [self.nodes[n] for n in (names or list(self.nodes))]
        timeout = self.config.health.timeout_s

        async def check(state: NodeState) -> HealthResult:
            try:
                return await asyncio.wait_for(state.client.health(timeout), timeout + 0.5)
            except TimeoutError:
                return HealthResult(False, timeout * 1000, error=f"no answer within {timeout:g}s",
                                    outcome=Outcome.TIMEOUT)

        results = await asyncio.gather(*(check(s) for s in targets))
        for state, result in zip(targets, results, strict=True):
            state.last_health_ms = result.latency_ms
            if result.ok:
                state.models = result.models
                state.breaker.record_success()
                self._set_status(state, "up", latency_ms=result.latency_ms)
            else:
                message = self.redactor(result.error) or ""
                state.last_errors.append(f"{time.strftime('%H:%M:%S')} health {result.outcome}: {message}")
                opened = state.breaker.record_failure()
                self._set_status(state, "cooldown" if opened else "down", reason=message)
        return dict(zip((s.name for s in targets), results, strict=True))

    async def _health_loop(self) -> None:
        while True:
            due = [s.name for s in self.nodes.values() if s.breaker.state is not BreakerState.OPEN]
            if due:
                try:
                    await self.health_check(due)
                except Exception as exc:  # noqa: BLE001 - the monitor must keep running
                    self.bus.publish(_events().ErrorRaised(source="health", message=one_line(str(exc))))
            await asyncio.sleep(self.config.health.interval_s)

    # ------------------------------------------------------------------ views

    def node_rows(self) -> list[dict[str, Any]]:
        rows = []
        for state in self.nodes.values():
            cfg = state.config
            rows.append({
                "node": cfg.name, "kind": cfg.kind, "url": cfg.url, "model": cfg.model, "weight": cfg.weight,
                "status": state.status, "breaker": str(state.breaker.state),
                "cooldown_s": round(state.breaker.cooldown_left_s(), 1), "models": list(state.models),
                "last_errors": list(state.last_errors), **state.metrics.snapshot(),
            })
        return rows

    def healthy_count(self) -> int:
        return sum(1 for s in self.nodes.values() if s.status == "up")


def _needs_tls(config: Config) -> bool:
    """Does any node or exporter speak https?  (With no nodes yet, bootstrap finds loopback ones.)"""
    urls = [n.url for n in config.nodes] + [n.gpu_metrics_url or "" for n in config.nodes]
    return any(url.startswith("https:") for url in urls)


def _configured_secrets(config: Config) -> list[str]:
    values = []
    for node in config.nodes:
        key = node.api_key()
        if key:
            values.append(key)
    return values


def attempts_to_dicts(attempts: list[Attempt]) -> list[dict[str, Any]]:
    return [asdict(a) for a in attempts]
