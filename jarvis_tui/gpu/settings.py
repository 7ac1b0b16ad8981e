"""Settings for the [gpu] config table (placeholder until the subsystem lands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GpuSettings:
    pass


def parse_gpu_section(raw: dict[str, Any], ctx: Any) -> GpuSettings:
    return GpuSettings()
