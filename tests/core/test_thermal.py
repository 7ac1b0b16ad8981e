"""Thermal levels: the 75/85 boundaries, hysteresis, and node-level status."""

from __future__ import annotations

import pytest

from jarvis_tui.core.thermal import (
    CRITICAL,
    NORMAL,
    UNKNOWN,
    WARNING,
    ThermalThresholds,
    evaluate_node,
    gpu_level,
)
from jarvis_tui.gpu.readings import GpuReading

T = ThermalThresholds(warning_c=75.0, critical_c=85.0, hysteresis_c=2.0)


def gpu(index: int, temp: float | None, error: str | None = None, name: str = "NVIDIA GeForce GTX 1660 SUPER"):
    return GpuReading(node="M1", source="nvml", index=index, name=name, temperature_c=temp, error=error)


@pytest.mark.parametrize("temp, level", [
    (0.0, NORMAL), (74.9, NORMAL), (75.0, WARNING), (80.0, WARNING), (84.9, WARNING), (85.0, CRITICAL),
    (99.0, CRITICAL),
])
def test_boundaries_from_a_cold_start(temp: float, level: str) -> None:
    assert gpu_level(temp, None, T) == level
    assert gpu_level(temp, NORMAL, T) == level


def test_a_gpu_sitting_at_exactly_85_does_not_flap() -> None:
    level = None
    seen = []
    for temp in [85.0, 84.0, 85.0, 84.0, 83.5, 85.0, 84.9, 83.0]:
        level = gpu_level(temp, level, T)
        seen.append(level)
    assert seen == [CRITICAL] * 8


def test_critical_is_left_only_below_critical_minus_hysteresis() -> None:
    assert gpu_level(83.0, CRITICAL, T) == CRITICAL     # exactly 85 - 2: still critical
    assert gpu_level(82.9, CRITICAL, T) == WARNING
    assert gpu_level(60.0, CRITICAL, T) == NORMAL       # a big drop goes straight to normal
    assert gpu_level(74.0, CRITICAL, T) == WARNING      # within warning's band after critical


def test_warning_is_left_only_below_warning_minus_hysteresis() -> None:
    assert gpu_level(74.9, WARNING, T) == WARNING
    assert gpu_level(73.0, WARNING, T) == WARNING
    assert gpu_level(72.9, WARNING, T) == NORMAL
    assert gpu_level(74.9, NORMAL, T) == NORMAL         # rising side has no band


def test_zero_hysteresis_is_plain_thresholds() -> None:
    plain = ThermalThresholds(75.0, 85.0, 0.0)
    assert gpu_level(84.9, CRITICAL, plain) == WARNING
    assert gpu_level(74.9, WARNING, plain) == NORMAL


def test_node_status_is_the_worst_gpu_and_lists_hot_gpus() -> None:
    status = evaluate_node("M1", [gpu(0, 52), gpu(1, 78.5), gpu(2, 86.0), gpu(3, 60)], T)
    assert status.status == CRITICAL and status.max_temp == 86.0
    assert not status.ok and status.should_skip and not status.lowers_priority
    assert [(g.index, g.level) for g in status.hot_gpus] == [(2, CRITICAL), (1, WARNING)]
    assert "move work off M1" in status.recommendation and "GPU2 86°C" in status.recommendation
    assert status.gpu_levels == {0: NORMAL, 1: WARNING, 2: CRITICAL, 3: NORMAL}


def test_node_warning_and_normal() -> None:
    warning = evaluate_node("M1", [gpu(0, 75.0), gpu(1, 50)], T)
    assert warning.status == WARNING and warning.lowers_priority and not warning.ok
    assert "lighten M1" in warning.recommendation
    normal = evaluate_node("M1", [gpu(0, 74.9), gpu(1, 50)], T)
    assert normal.status == NORMAL and normal.ok and normal.hot_gpus == () and normal.recommendation == ""


def test_node_hysteresis_uses_previous_gpu_levels() -> None:
    first = evaluate_node("M1", [gpu(0, 85.0)], T)
    assert first.status == CRITICAL
    second = evaluate_node("M1", [gpu(0, 84.0)], T, first.gpu_levels)
    assert second.status == CRITICAL                    # 84 stays critical after 85
    fresh = evaluate_node("M1", [gpu(0, 84.0)], T)
    assert fresh.status == WARNING                      # but is only warning from a cold start


def test_no_readings_or_no_temperatures_is_unknown() -> None:
    assert evaluate_node("M1", [], T).status == UNKNOWN
    assert evaluate_node("M1", [gpu(0, None)], T).status == UNKNOWN
    unknown = evaluate_node("M1", [gpu(0, None)], T)
    assert not unknown.should_skip and not unknown.lowers_priority and unknown.max_temp is None


def test_errored_gpu_is_reported_and_others_still_decide() -> None:
    status = evaluate_node("M1", [gpu(0, None, error="GPU is lost (fallen off the bus)"), gpu(1, 70)], T)
    assert status.status == NORMAL and status.errored_gpus == (0,)
    assert "errored" in status.recommendation
    only_lost = evaluate_node("M1", [gpu(0, None, error="GPU is lost")], T)
    assert only_lost.status == UNKNOWN and only_lost.errored_gpus == (0,)


def test_to_dict_is_plain_json() -> None:
    import json

    status = evaluate_node("M1", [gpu(0, 90.0)], T)
    data = json.loads(json.dumps(status.to_dict()))
    assert data["status"] == "critical" and data["ok"] is False and data["max_temp"] == 90.0
    assert data["hot_gpus"][0]["level"] == "critical"
