"""Rows for `jarvis --status` and the `gpus` section of `--json`, from a GpuMonitor."""

from __future__ import annotations

from typing import Any

from jarvis_tui.core.thermal import UNKNOWN

ROW_FIELDS = ("node", "source", "state", "index", "name", "uuid", "temperature_c", "thermal", "util_gpu_pct",
              "util_mem_pct", "mem_used_mb", "mem_total_mb", "power_w", "power_limit_w", "fan_pct",
              "clock_sm_mhz", "clock_mem_mhz", "error", "message")


def gpu_rows_for_status(monitor: Any) -> list[dict[str, Any]]:
    """One dict per GPU, grouped by node (local first).  A node without readings gets
    one row with ``index`` None, its ``state`` ("unknown", "no_gpu", "pending",
    "disabled") and a one-line ``message``.  ``thermal`` is the GPU's level after
    hysteresis: normal | warning | critical, or "error" / "unknown".  Values are
    plain JSON types; names are already stripped of control characters."""
    rows: list[dict[str, Any]] = []
    for node, state in monitor.states().items():
        thermal = monitor.thermal_status(node)
        if not state.readings:
            rows.append({field: None for field in ROW_FIELDS} | {
                "node": node, "source": state.source or None, "state": state.state,
                "thermal": UNKNOWN, "message": state.message})
            continue
        for reading in state.readings:
            row = {field: getattr(reading, field, None) for field in ROW_FIELDS}
            row["state"] = "error" if reading.error else state.state
            row["thermal"] = "error" if reading.error else thermal.gpu_levels.get(reading.index, UNKNOWN)
            row["message"] = reading.error or state.message
            rows.append(row)
    return rows


def format_gpu_row(row: dict[str, Any]) -> str:
    """One plain-text line for `--status` (no markup, no escapes)."""
    node = row["node"]
    if row["index"] is None:
        return f"{node:<10} {'-':<4} {row['state']}: {row['message'] or 'no data'}"
    if row["error"]:
        return f"{node:<10} GPU{row['index']:<2} {row['name'] or '?'}: ERROR {row['error']}"
    def num(value: Any, unit: str, digits: int = 0) -> str:
        return "-" if value is None else f"{value:.{digits}f}{unit}"
    mem = "-" if row["mem_used_mb"] is None or row["mem_total_mb"] is None else (
        f"{row['mem_used_mb'] / 1024:.1f}/{row['mem_total_mb'] / 1024:.1f}GiB")
    power = num(row["power_w"], "W") + ("" if row["power_limit_w"] is None else f"/{row['power_limit_w']:.0f}W")
    return (f"{node:<10} GPU{row['index']:<2} {row['name'][:28]:<28} {num(row['temperature_c'], '°C'):>6} "
            f"{row['thermal']:<8} util {num(row['util_gpu_pct'], '%'):>4} vram {mem:>13} power {power:>10} "
            f"fan {num(row['fan_pct'], '%'):>4}")
