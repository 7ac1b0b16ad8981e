"""Settings for the [voice] config table (placeholder until the subsystem lands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    pass


def parse_voice_section(raw: dict[str, Any], ctx: Any) -> VoiceSettings:
    return VoiceSettings()
