"""Events the GPU monitor publishes on the core bus."""

from __future__ import annotations

from dataclasses import dataclass, field

from jarvis_tui.core.events import Event
from jarvis_tui.core.thermal import ThermalStatus
from jarvis_tui.gpu.readings import GpuReading, NodeGpuState


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuReadingsUpdated(Event):
    """After every poll: a snapshot of every node's GPUs (the cockpit's GPU pane renders this)."""

    readings: dict[str, tuple[GpuReading, ...]] = field(default_factory=dict)
    states: dict[str, NodeGpuState] = field(default_factory=dict)
    thermal: dict[str, ThermalStatus] = field(default_factory=dict)
    poll_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ThermalStatusChanged(Event):
    """A node's thermal level changed (normal / warning / critical / unknown).

    The router uses it (critical: skip, warning: lower priority); the cockpit
    raises a notification when ``new == "critical"``.
    """

    node: str
    old: str
    new: str
    status: ThermalStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuThresholdCrossed(Event):
    """One GPU changed thermal level (normal / warning / critical), hysteresis applied.

    Published for each GPU that crosses, so a second card of an already critical node
    is reported too; ``ThermalStatusChanged`` says what that does to the node's routing.
    A GPU's first reading is a crossing only when it is already warning or critical.
    """

    node: str
    index: int
    name: str
    old: str  # "unknown" for a GPU's first reading
    new: str
    temperature_c: float
    status: ThermalStatus  # the node's status after this poll
