"""Settings for the [commander] config table (placeholder until the commander lands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CommanderSettings:
    pass


def parse_commander_section(raw: dict[str, Any], ctx: Any) -> CommanderSettings:
    return CommanderSettings()
