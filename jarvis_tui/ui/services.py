"""The optional subsystems the cockpit shows: GPU monitor, trading, voice, commander.

Each is imported and started only here, inside the core-start worker, and each
may be missing or fail: the pane then shows an empty state with the reason and
the rest of the cockpit keeps working.  ``enabled`` lets tests and benchmarks
choose which subsystems run.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock
from jarvis_tui.core.text import one_line

ALL_SERVICES = frozenset({"gpu", "trading", "voice", "commander"})
STOP_TIMEOUT_S = 5.0


class CockpitServices:
    def __init__(self, config: Any, bus: Any, *, live: bool = False, clock: Clock = SYSTEM_CLOCK,
                 enabled: frozenset[str] = ALL_SERVICES, provided: dict[str, Any] | None = None) -> None:
        self.config = config
        self.bus = bus
        self.live = live
        self.clock = clock
        self.enabled = enabled
        self.gpu: Any = None
        self.trading: Any = None
        self.voice: Any = None
        self.commander: Any = None
        self.unavailable: dict[str, str] = {}
        self.provided = dict(provided or {})  # ready-made subsystems (tests, benchmarks): started and stopped here
        self._owned: set[str] = set()  # started here, so stopped here (not the orchestrator's own)
        self.started = False  # start() has returned: every enabled subsystem is up or listed in unavailable

    async def start(self, orchestrator: Any) -> None:
        for name in ("commander", "gpu", "trading", "voice"):
            if name not in self.enabled:
                self.unavailable[name] = "not enabled in this session"
                continue
            try:
                await getattr(self, f"_start_{name}")(orchestrator)
            except ImportError as exc:
                self.unavailable[name] = f"not installed ({one_line(str(exc), 120)})"
            except Exception as exc:  # noqa: BLE001 - a subsystem must never take the cockpit down
                self.unavailable[name] = one_line(f"{type(exc).__name__}: {exc}", 200)
        self.started = True

    async def _start_gpu(self, orchestrator: Any) -> None:
        from jarvis_tui.gpu.monitor import GpuMonitor

        existing = getattr(orchestrator, "gpu", None)
        if existing is not None:  # the orchestrator owns a monitor already: show that one
            self.gpu = existing
            if not existing.settings.enabled:
                self.unavailable["gpu"] = "GPU telemetry disabled ([gpu] enabled = false)"
            return
        if "gpu" in self.provided:
            self.gpu = self.provided["gpu"]
            await self.gpu.start()
            self._owned.add("gpu")
            orchestrator.thermal = self.gpu.thermal_status
            return
        settings = orchestrator.config.section("gpu")
        self.gpu = GpuMonitor(settings, orchestrator.config.nodes, self.bus, http=getattr(orchestrator, "_http", None),
                              clock=self.clock)
        await self.gpu.start()
        self._owned.add("gpu")
        orchestrator.thermal = self.gpu.thermal_status
        if not settings.enabled:
            self.unavailable["gpu"] = "GPU telemetry disabled ([gpu] enabled = false)"

    async def _start_trading(self, orchestrator: Any) -> None:
        from jarvis_tui.trading.service import TradingService

        existing = getattr(orchestrator, "trading", None)
        if existing is not None:
            self.trading = existing
            return
        if "trading" in self.provided:
            self.trading = self.provided["trading"]
            self._owned.add("trading")
            await self.trading.start()
            return
        self.trading = TradingService(orchestrator.config.section("trading"), db_path=orchestrator.config.store.path,
                                      bus=self.bus, clock=self.clock, live_flag=self.live)
        self._owned.add("trading")
        await self.trading.start()

    async def _start_voice(self, orchestrator: Any) -> None:
        settings = orchestrator.config.section("voice")
        if not settings.enabled:
            self.unavailable["voice"] = "voice off ([voice] enabled = false; the talk key turns it on)"
            return
        await self.start_voice(orchestrator)

    async def start_voice(self, orchestrator: Any) -> bool:
        from jarvis_tui.voice.llm import node_steps
        from jarvis_tui.voice.service import VoiceService

        if self.voice is None:
            settings = orchestrator.config.section("voice")
            self.voice = VoiceService(settings, self.bus, clock=self.clock, **node_steps(orchestrator, settings))
            self._owned.add("voice")
        self.unavailable.pop("voice", None)
        return await self.voice.start()

    async def _start_commander(self, orchestrator: Any) -> None:
        existing = getattr(orchestrator, "commander", None)
        if existing is not None:
            self.commander = existing
            return
        from jarvis_tui.core import commander as commander_module

        factory = getattr(commander_module, "Commander", None)
        if factory is None:
            raise ImportError("jarvis_tui.core.commander has no Commander")
        self.commander = factory(orchestrator)

    async def stop(self) -> None:
        for name, method in (("voice", "aclose"), ("trading", "stop"), ("gpu", "stop")):
            service = getattr(self, name)
            if service is None or name not in self._owned:
                continue
            try:
                await asyncio.wait_for(getattr(service, method)(), STOP_TIMEOUT_S)
            except (Exception, asyncio.CancelledError):  # noqa: BLE001 - shutting down: best effort, bounded
                pass
