"""Settings for the [trading] config table (placeholder until the subsystem lands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TradingSettings:
    pass


def parse_trading_section(raw: dict[str, Any], ctx: Any) -> TradingSettings:
    return TradingSettings()
