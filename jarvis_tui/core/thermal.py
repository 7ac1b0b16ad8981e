"""Thermal status of a node from its GPU readings: pure logic, no I/O, no clock.

The user's rule: below ``warning_c`` (75 °C) normal routing; from ``warning_c``
warning (prefer cooler nodes, lighten this one); from ``critical_c`` (85 °C)
critical (move work off the node, alert).  A level is entered at its threshold
and left only below ``threshold - hysteresis_c``, so a GPU sitting at exactly
85 °C, or wobbling 84-86 °C, does not flap between critical and warning.

Routing reads ``ThermalStatus.status``: critical -> skip the node (``should_skip``),
warning -> lower its priority (``lowers_priority``), normal and unknown -> no change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

NORMAL = "normal"
WARNING = "warning"
CRITICAL = "critical"
UNKNOWN = "unknown"
_RANK = {NORMAL: 0, WARNING: 1, CRITICAL: 2}


class ReadingLike(Protocol):
    index: int
    name: str
    temperature_c: float | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ThermalThresholds:
    warning_c: float = 75.0
    critical_c: float = 85.0
    hysteresis_c: float = 2.0

    @classmethod
    def from_settings(cls, settings: Any) -> ThermalThresholds:
        return cls(settings.warning_c, settings.critical_c, settings.hysteresis_c)


@dataclass(frozen=True, slots=True)
class HotGpu:
    index: int
    name: str
    temperature_c: float
    level: str  # warning | critical

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "temperature_c": self.temperature_c, "level": self.level}


@dataclass(frozen=True, slots=True)
class ThermalStatus:
    node: str
    status: str = UNKNOWN  # normal | warning | critical | unknown
    max_temp: float | None = None
    hot_gpus: tuple[HotGpu, ...] = ()
    recommendation: str = ""
    errored_gpus: tuple[int, ...] = ()  # GPUs that errored (fallen off the bus): not in max_temp
    gpu_levels: Mapping[int, str] = field(default_factory=dict)  # per-GPU level after hysteresis

    @property
    def ok(self) -> bool:
        """True only when every known GPU is below warning (status "normal")."""
        return self.status == NORMAL

    @property
    def should_skip(self) -> bool:
        return self.status == CRITICAL

    @property
    def lowers_priority(self) -> bool:
        return self.status == WARNING

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "ok": self.ok,
            "status": self.status,
            "max_temp": self.max_temp,
            "hot_gpus": [gpu.to_dict() for gpu in self.hot_gpus],
            "recommendation": self.recommendation,
            "errored_gpus": list(self.errored_gpus),
        }


def unknown_status(node: str, reason: str = "") -> ThermalStatus:
    why = f" ({reason})" if reason else ""
    return ThermalStatus(node=node, status=UNKNOWN,
                         recommendation=f"no GPU temperature for {node}{why}; routing unchanged")


def gpu_level(temperature_c: float, previous: str | None, thresholds: ThermalThresholds) -> str:
    """The level of one GPU, given the level it had at the previous reading."""
    critical, warning, band = thresholds.critical_c, thresholds.warning_c, thresholds.hysteresis_c
    if temperature_c >= critical:
        return CRITICAL
    if previous == CRITICAL and temperature_c >= critical - band:
        return CRITICAL
    if temperature_c >= warning:
        return WARNING
    if previous in (WARNING, CRITICAL) and temperature_c >= warning - band:
        return WARNING
    return NORMAL


def evaluate_node(node: str, readings: Iterable[ReadingLike], thresholds: ThermalThresholds,
                  previous_levels: Mapping[int, str] | None = None) -> ThermalStatus:
    """The node's status from its current readings and each GPU's previous level.

    Pass the previous status's ``gpu_levels`` back in on the next call: that is
    the whole hysteresis memory.
    """
    previous_levels = previous_levels or {}
    levels: dict[int, str] = {}
    hot: list[HotGpu] = []
    errored: list[int] = []
    temps: list[float] = []
    for reading in readings:
        if reading.error is not None:
            errored.append(reading.index)
            continue
        if reading.temperature_c is None:
            continue
        temp = float(reading.temperature_c)
        level = gpu_level(temp, previous_levels.get(reading.index), thresholds)
        levels[reading.index] = level
        temps.append(temp)
        if level != NORMAL:
            hot.append(HotGpu(reading.index, reading.name, temp, level))
    if not temps:
        reason = f"{len(errored)} GPU(s) errored" if errored else "no readings"
        status = unknown_status(node, reason)
        return ThermalStatus(node=node, status=UNKNOWN, recommendation=status.recommendation,
                             errored_gpus=tuple(errored))
    worst = max(levels.values(), key=_RANK.__getitem__)
    hot.sort(key=lambda gpu: (-_RANK[gpu.level], -gpu.temperature_c, gpu.index))
    return ThermalStatus(
        node=node,
        status=worst,
        max_temp=max(temps),
        hot_gpus=tuple(hot),
        recommendation=_recommend(node, worst, hot, errored, thresholds),
        errored_gpus=tuple(errored),
        gpu_levels=levels,
    )


def _recommend(node: str, level: str, hot: list[HotGpu], errored: list[int], thresholds: ThermalThresholds) -> str:
    lost = f"; GPU {', '.join(map(str, errored))} errored" if errored else ""
    listed = ", ".join(f"GPU{gpu.index} {gpu.temperature_c:.0f}°C" for gpu in hot[:4])
    if level == CRITICAL:
        return (f"move work off {node}: {listed} (critical at {thresholds.critical_c:g}°C); "
                f"node skipped by routing{lost}")
    if level == WARNING:
        return (f"lighten {node} and prefer cooler nodes: {listed} (warning at {thresholds.warning_c:g}°C)"
                f"{lost}")
    return f"{node} GPUs below {thresholds.warning_c:g}°C{lost}" if lost else ""
