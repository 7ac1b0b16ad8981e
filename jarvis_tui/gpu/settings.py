"""Settings for the [gpu] config table.

Standard library only: config.py loads this on every headless call.

    [gpu]
    enabled = true
    poll_interval_s = 2.0      # like nvitop
    warning_c = 75             # >= warning: lower the node's routing priority
    critical_c = 85            # >= critical: skip the node
    hysteresis_c = 2.0         # leave a level only this far below its threshold
    scrape_timeout_s = 1.5     # per remote exporter scrape
    smi_timeout_s = 3.0        # per nvidia-smi run (fallback when NVML cannot load)
    local_source = "auto"      # auto | nvml | smi | off
    local_node = "M1"          # the node the local GPUs belong to (default: shown as "local")
    history_s = 300            # temperature history kept per GPU, for sparklines
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOCAL_SOURCES = ("auto", "nvml", "smi", "off")
DEFAULT_LOCAL_NODE = "local"


@dataclass(frozen=True, slots=True)
class GpuSettings:
    enabled: bool = True
    poll_interval_s: float = 2.0
    warning_c: float = 75.0
    critical_c: float = 85.0
    hysteresis_c: float = 2.0
    scrape_timeout_s: float = 1.5
    smi_timeout_s: float = 3.0
    local_source: str = "auto"
    local_node: str | None = None
    history_s: float = 300.0

    @property
    def local_node_name(self) -> str:
        return self.local_node or DEFAULT_LOCAL_NODE

    @property
    def history_points(self) -> int:
        """How many samples the per-GPU temperature history keeps."""
        return max(2, int(round(self.history_s / self.poll_interval_s)) + 1)


GPU_KEYS = set(GpuSettings.__dataclass_fields__)


def parse_gpu_section(raw: dict[str, Any], ctx: Any) -> GpuSettings:
    """Validate the [gpu] table; ``ctx`` is config.SectionContext."""
    ctx.check_unknown(raw, GPU_KEYS)
    defaults = GpuSettings()
    enabled = ctx.get(raw, "enabled", bool, defaults.enabled)
    poll = ctx.positive(raw, "poll_interval_s", defaults.poll_interval_s)
    if poll < 0.1:
        raise ctx.error(f"[gpu] poll_interval_s must be at least 0.1, got {poll:g}", "poll_interval_s")
    warning = ctx.positive(raw, "warning_c", defaults.warning_c)
    critical = ctx.positive(raw, "critical_c", defaults.critical_c)
    if critical > 150:
        raise ctx.error(f"[gpu] critical_c must be a GPU temperature in °C (<= 150), got {critical:g}", "critical_c")
    if warning >= critical:
        raise ctx.error(f"[gpu] warning_c ({warning:g}) must be below critical_c ({critical:g})",
                        "warning_c" if "warning_c" in raw else "critical_c")
    hysteresis = ctx.get(raw, "hysteresis_c", float, defaults.hysteresis_c)
    if hysteresis < 0:
        raise ctx.error(f"[gpu] hysteresis_c must be >= 0, got {hysteresis:g}", "hysteresis_c")
    if hysteresis >= critical - warning:
        raise ctx.error(f"[gpu] hysteresis_c ({hysteresis:g}) must be smaller than critical_c - warning_c "
                        f"({critical - warning:g}), or a GPU could never fall back from critical to warning",
                        "hysteresis_c")
    scrape_timeout = ctx.positive(raw, "scrape_timeout_s", defaults.scrape_timeout_s)
    smi_timeout = ctx.positive(raw, "smi_timeout_s", defaults.smi_timeout_s)
    if scrape_timeout > poll:
        ctx.warn(f"[gpu] scrape_timeout_s ({scrape_timeout:g}) is longer than poll_interval_s ({poll:g}); "
                 "a slow exporter will stretch the poll interval", "scrape_timeout_s")
    local_source = ctx.get(raw, "local_source", str, defaults.local_source)
    if local_source not in LOCAL_SOURCES:
        raise ctx.error(f"[gpu] local_source must be one of {', '.join(LOCAL_SOURCES)}, got '{local_source}'",
                        "local_source")
    local_node = ctx.get(raw, "local_node", str, None)
    if local_node is not None:
        local_node = local_node.strip()
        if not local_node:
            raise ctx.error("[gpu] local_node must be a node name, e.g. \"M1\", or left out", "local_node")
    history = ctx.positive(raw, "history_s", defaults.history_s)
    if history < poll:
        raise ctx.error(f"[gpu] history_s ({history:g}) must be at least poll_interval_s ({poll:g})", "history_s")
    return GpuSettings(
        enabled=enabled,
        poll_interval_s=poll,
        warning_c=warning,
        critical_c=critical,
        hysteresis_c=hysteresis,
        scrape_timeout_s=scrape_timeout,
        smi_timeout_s=smi_timeout,
        local_source=local_source,
        local_node=local_node,
        history_s=history,
    )
