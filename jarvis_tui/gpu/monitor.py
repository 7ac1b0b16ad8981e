"""GpuMonitor: polls local GPUs (NVML, else nvidia-smi) and remote exporters, keeps
per-GPU temperature history, derives each node's thermal status and publishes
events on the core bus.

- Polls never overlap: a ``poll_once`` called while one runs waits for that one.
- NVML and nvidia-smi block, so they run in a worker thread (``asyncio.to_thread``)
  under a deadline; a wedged local read is never started twice.
- Remote scrapes run concurrently, each under ``scrape_timeout_s``; an exporter that
  is down or hangs marks that node "unknown" and delays nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock
from jarvis_tui.core.events import ErrorRaised, EventBus
from jarvis_tui.core.thermal import (
    CRITICAL,
    NORMAL,
    UNKNOWN,
    ThermalStatus,
    ThermalThresholds,
    evaluate_node,
    unknown_status,
)
from jarvis_tui.gpu.events import GpuReadingsUpdated, GpuThresholdCrossed, ThermalStatusChanged
from jarvis_tui.gpu.nvml import NvmlReader
from jarvis_tui.gpu.prometheus import ScrapeError, scrape_gpu_metrics
from jarvis_tui.gpu.readings import (
    STATE_DISABLED,
    STATE_NO_GPU,
    STATE_OK,
    STATE_PENDING,
    STATE_UNKNOWN,
    GpuReading,
    LocalRead,
    NodeGpuState,
)
from jarvis_tui.gpu.settings import GpuSettings
from jarvis_tui.gpu.smi import SmiRunner, find_nvidia_smi, read_smi

log = logging.getLogger(__name__)

# A local read gets this long beyond nvidia-smi's own timeout before the poll stops waiting.
LOCAL_READ_GRACE_S = 2.0
# asyncio's deadline sits just past httpx's own, which normally fires first with a clearer error.
SCRAPE_GRACE_S = 0.25


class GpuMonitor:
    def __init__(
        self,
        settings: GpuSettings,
        nodes: Iterable[Any],
        bus: EventBus,
        http: Any = None,
        clock: Clock = SYSTEM_CLOCK,
        nvml_lib: Any = None,
        smi_runner: SmiRunner | None = None,
        smi_binary: str | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.clock = clock
        self.thresholds = ThermalThresholds.from_settings(settings)
        self.local_node = settings.local_node_name
        self._local_enabled = settings.enabled and settings.local_source != "off"
        nodes = list(nodes)
        # The node the local GPUs belong to is read locally, never scraped as well.
        self._remote = [n for n in nodes if getattr(n, "gpu_metrics_url", None) and getattr(n, "enabled", True)
                        and not (self._local_enabled and n.name == self.local_node)] if settings.enabled else []
        self._http = http
        self._owns_http = False
        self._nvml = NvmlReader(nvml_lib, node=self.local_node, clock=clock.time)
        self._smi_runner = smi_runner
        self._smi_binary = smi_binary
        self._use_smi = settings.local_source == "smi"
        self._local_final: LocalRead | None = None  # a permanent local outcome: reported once, not retried
        self._local_future: asyncio.Future[LocalRead] | None = None

        self._states: dict[str, NodeGpuState] = {}
        self._thermal: dict[str, ThermalStatus] = {}
        self._history: dict[tuple[str, int], deque[tuple[float, float]]] = {}
        self._inflight: asyncio.Task[None] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self.polls = 0
        self.last_poll_ms: float | None = None

        initial = STATE_PENDING if settings.enabled else STATE_DISABLED
        if self._local_enabled or not settings.enabled:
            self._states[self.local_node] = NodeGpuState(node=self.local_node, state=initial,
                                                         message="" if settings.enabled else "GPU telemetry off")
        for node in self._remote:
            self._states[node.name] = NodeGpuState(node=node.name, state=initial, url=node.gpu_metrics_url)

    # ------------------------------------------------------------------ queries
    @property
    def node_names(self) -> list[str]:
        """Nodes with a GPU source: the local node first, then remote nodes in config order."""
        return list(self._states)

    def readings(self) -> dict[str, list[GpuReading]]:
        return {name: list(state.readings) for name, state in self._states.items()}

    def states(self) -> dict[str, NodeGpuState]:
        return dict(self._states)

    def state(self, node: str) -> NodeGpuState | None:
        return self._states.get(node)

    def thermal_status(self, node: str) -> ThermalStatus:
        """The node's status; "unknown" when it has no GPU source or no fresh data."""
        status = self._thermal.get(node)
        if status is not None:
            return status
        state = self._states.get(node)
        if state is None:
            return unknown_status(node, "no GPU telemetry configured")
        return unknown_status(node, state.message or state.state)

    def thermal_statuses(self) -> dict[str, ThermalStatus]:
        return {name: self.thermal_status(name) for name in self._states}

    @property
    def local_state(self) -> str:
        """One line about the local GPUs: "no local NVIDIA GPU (...)", "2 GPUs via nvml", ..."""
        if not self.settings.enabled:
            return "GPU telemetry disabled ([gpu] enabled = false)"
        if not self._local_enabled:
            return "local GPUs not read ([gpu] local_source = \"off\")"
        state = self._states[self.local_node]
        if state.state == STATE_OK:
            count = len(state.readings)
            errored = sum(1 for r in state.readings if r.error)
            lost = f", {errored} errored" if errored else ""
            return f"{count} GPU{'s' if count != 1 else ''} via {state.source}{lost}"
        if state.state == STATE_PENDING:
            return "not polled yet"
        return state.message or state.state

    def temperature_history(self, node: str, index: int) -> list[float]:
        """Temperatures of one GPU over the last ``history_s``, oldest first (for sparklines)."""
        points = self._history.get((node, index))
        if not points:
            return []
        horizon = self.clock.monotonic() - self.settings.history_s
        return [temp for ts, temp in points if ts >= horizon]

    def history(self) -> dict[tuple[str, int], list[float]]:
        return {key: self.temperature_history(*key) for key in self._history}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if not self.settings.enabled or self._loop_task is not None:
            return
        self._loop_task = asyncio.create_task(self._run(), name="gpu-monitor")

    async def stop(self) -> None:
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        inflight, self._inflight = self._inflight, None
        if inflight is not None and not inflight.done():
            inflight.cancel()
            await asyncio.gather(inflight, return_exceptions=True)
        local = self._local_future
        if local is not None and not local.done():
            # A read is inside the library (stop came mid-poll): give it a moment to return.
            await asyncio.wait({local}, timeout=LOCAL_READ_GRACE_S)
        if local is None or local.done():
            await asyncio.to_thread(self._nvml.close)
        # else: a wedged NVML call still holds the library; shutting it down under it could crash.
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None
            self._owns_http = False

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in one poll must not end telemetry
                log.exception("GPU poll failed")
                self.bus.publish(ErrorRaised(source="gpu", message=f"GPU poll failed: {exc}"))
            await asyncio.sleep(max(0.0, self.settings.poll_interval_s - (loop.time() - started)))

    # ------------------------------------------------------------------ polling
    async def poll_once(self) -> None:
        """Poll every source once.  If a poll is already running, wait for it instead."""
        if not self.settings.enabled:
            return
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._poll())
        await asyncio.shield(self._inflight)

    async def _poll(self) -> None:
        started = time.perf_counter()
        jobs: list[Any] = [self._scrape(node) for node in self._remote]
        if self._local_enabled:
            jobs.insert(0, self._poll_local())
        new_states: list[NodeGpuState] = await asyncio.gather(*jobs)
        now_mono = self.clock.monotonic()
        for state in new_states:
            self._states[state.node] = state
            self._record_history(state, now_mono)
            self._update_thermal(state)
        self.polls += 1
        self.last_poll_ms = (time.perf_counter() - started) * 1000.0
        self.bus.publish(GpuReadingsUpdated(
            readings={name: s.readings for name, s in self._states.items()},
            states=dict(self._states),
            thermal=dict(self._thermal),
            poll_ms=self.last_poll_ms,
        ))

    async def _poll_local(self) -> NodeGpuState:
        node = self.local_node
        if self._local_final is not None:
            return self._state_from_local(self._local_final)
        timeout = self.settings.smi_timeout_s + LOCAL_READ_GRACE_S
        if self._local_future is None or self._local_future.done():
            self._local_future = asyncio.ensure_future(asyncio.to_thread(self._read_local))
        else:
            # The previous read is still stuck in the driver: never start a second one beside it.
            return NodeGpuState(node=node, state=STATE_UNKNOWN, source=self._states[node].source,
                                message="local GPU read still blocked in the driver", ts=self.clock.time())
        done, _ = await asyncio.wait({self._local_future}, timeout=timeout)
        if not done:
            return NodeGpuState(node=node, state=STATE_UNKNOWN, source="nvml" if not self._use_smi else "smi",
                                message=f"local GPU read did not finish within {timeout:g} s", ts=self.clock.time())
        try:
            result = self._local_future.result()
        except Exception as exc:  # the library raised something that is not an NVML error
            log.warning("local GPU read failed: %s", exc)
            result = LocalRead(STATE_UNKNOWN, "smi" if self._use_smi else "nvml", (),
                               f"local GPU read failed: {type(exc).__name__}: {exc}")
        if result.permanent and self._local_final is None:
            self._local_final = result
            log.info("%s", result.message)  # said once; later polls reuse it without touching the driver
        return self._state_from_local(result)

    def _read_local(self) -> LocalRead:
        """Runs in a worker thread."""
        if not self._use_smi:
            result = self._nvml.read()
            if not (result.state == STATE_NO_GPU and result.permanent):
                return result
            if self.settings.local_source == "nvml" or not self._smi_available():
                return result
            # NVML cannot load here but nvidia-smi exists: use it from now on.
            log.info("NVML unavailable (%s); reading local GPUs with nvidia-smi", result.message)
            self._use_smi = True
        return read_smi(node=self.local_node, timeout=self.settings.smi_timeout_s, runner=self._smi_runner,
                        binary=self._smi_binary)

    def _smi_available(self) -> bool:
        if self._smi_runner is not None:
            return True
        if self._smi_binary:
            return os.access(self._smi_binary, os.X_OK)
        return find_nvidia_smi() is not None

    def _state_from_local(self, result: LocalRead) -> NodeGpuState:
        return NodeGpuState(node=self.local_node, state=result.state, source=result.source,
                            readings=result.readings, message=result.message, ts=self.clock.time())

    async def _scrape(self, node: Any) -> NodeGpuState:
        url = node.gpu_metrics_url
        timeout = self.settings.scrape_timeout_s
        try:
            result = await asyncio.wait_for(
                scrape_gpu_metrics(self._client(), url, node.name, timeout), timeout + SCRAPE_GRACE_S)
        except ScrapeError as exc:
            return NodeGpuState(node=node.name, state=STATE_UNKNOWN, message=str(exc), url=url, ts=self.clock.time())
        except asyncio.TimeoutError:
            return NodeGpuState(node=node.name, state=STATE_UNKNOWN, url=url, ts=self.clock.time(),
                                message=f"exporter did not answer within {timeout:g} s")
        except Exception as exc:  # never let one exporter break the poll
            log.warning("GPU scrape of %s failed: %r", url, exc)
            return NodeGpuState(node=node.name, state=STATE_UNKNOWN, url=url, ts=self.clock.time(),
                                message=f"scrape failed: {type(exc).__name__}")
        if not result.readings:
            return NodeGpuState(node=node.name, state=STATE_NO_GPU, source=result.source, url=url,
                                message="exporter lists no GPUs", ts=self.clock.time())
        return NodeGpuState(node=node.name, state=STATE_OK, source=result.source, readings=result.readings,
                            url=url, ts=self.clock.time())

    def _client(self) -> Any:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(follow_redirects=False)
            self._owns_http = True
        return self._http

    # ------------------------------------------------------------------ derived state
    def _record_history(self, state: NodeGpuState, now: float) -> None:
        maxlen = self.settings.history_points
        for reading in state.readings:
            if reading.error is not None or reading.temperature_c is None:
                continue
            points = self._history.get((state.node, reading.index))
            if points is None:
                points = self._history[(state.node, reading.index)] = deque(maxlen=maxlen)
            points.append((now, reading.temperature_c))

    def _update_thermal(self, state: NodeGpuState) -> None:
        previous = self._thermal.get(state.node)
        if state.state == STATE_OK:
            status = evaluate_node(state.node, state.readings, self.thresholds,
                                   previous.gpu_levels if previous else None)
        else:
            status = unknown_status(state.node, state.message or state.state)
        self._thermal[state.node] = status
        self._publish_gpu_crossings(state, previous.gpu_levels if previous else {}, status)
        old = previous.status if previous else UNKNOWN
        if status.status != old:
            if status.status == "critical":
                log.warning("GPU critical on %s: %s", state.node, status.recommendation)
            self.bus.publish(ThermalStatusChanged(node=state.node, old=old, new=status.status, status=status))

    def _publish_gpu_crossings(self, state: NodeGpuState, before: dict[int, str], status: ThermalStatus) -> None:
        """A ``GpuThresholdCrossed`` per GPU whose level changed since the last poll that read it."""
        for reading in state.readings:
            new = status.gpu_levels.get(reading.index)
            if new is None:
                continue  # errored or no temperature: the node's status says so
            old = before.get(reading.index, UNKNOWN)
            if new == old or (old == UNKNOWN and new == NORMAL):
                continue
            if new == CRITICAL:
                log.warning("GPU%d (%s) on %s critical at %.0f °C", reading.index, reading.name, state.node,
                            reading.temperature_c or 0.0)
            self.bus.publish(GpuThresholdCrossed(node=state.node, index=reading.index, name=reading.name,
                                                 old=old, new=new, temperature_c=float(reading.temperature_c or 0.0),
                                                 status=status))
