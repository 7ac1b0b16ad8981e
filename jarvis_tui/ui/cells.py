"""Turning values into safe, fixed-format cell text for the cockpit's tables and labels.

Everything that reaches a widget from a node, an exchange or a config file goes
through ``plain()``: it returns a ``rich.text.Text`` (never a markup string, so
``[bold red]`` stays literal in DataTable cells and Statics) with terminal
control characters replaced by visible stand-ins.

``Numbers`` formats measured values.  With ``mask=True`` every measured duration
or rate renders as a fixed placeholder: snapshot tests use it so a screenshot of
a real run against loopback nodes is byte-for-byte repeatable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from rich.text import Text

from jarvis_tui.core.text import neutralize_terminal, one_line

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
MASK = "··"


def plain(value: object, limit: int = 200, style: str = "") -> Text:
    """One safe line of literal text (no markup parsing, no escapes)."""
    if value is None:
        return Text("—", style=style)
    return Text(one_line(str(value), limit), style=style)


def safe_block(value: str) -> str:
    """Multi-line untrusted text with control characters neutralised (newlines kept)."""
    return neutralize_terminal(value or "")


def display_url(url: str) -> str:
    """scheme://host:port/path of a node URL: user info, query and fragment can carry keys, so they go."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid url)"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def sparkline_text(values: Iterable[float], width: int = 12) -> str:
    """A block-character sparkline of the last ``width`` values, scaled to their own range."""
    points = [v for v in values if v is not None][-width:]
    if not points:
        return ""
    low, high = min(points), max(points)
    span = high - low
    if span <= 0:
        return SPARK_BLOCKS[len(SPARK_BLOCKS) // 2] * len(points)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((v - low) / span * top)] for v in points)


def _scaled_ms(value: float) -> tuple[str, str]:
    """A latency in ms as (number, unit): whole ms below 1 s, tenths of a second below 10 s, whole seconds above."""
    if value >= 10_000:
        return f"{value / 1000:.0f}", "s"
    if value >= 1000:
        return f"{value / 1000:.1f}", "s"
    return f"{value:.0f}", "ms"


class Numbers(NamedTuple):
    """Formats measured numbers; ``mask`` hides values that vary from run to run.

    A NamedTuple rather than a frozen dataclass: as immutable, and its class is built in ~0.3 ms, not ~1.5 ms,
    before the cockpit's first frame (docs/cockpit.md, "First paint").
    """

    mask: bool = False

    def ms(self, value: float | None) -> str:
        """For table columns headed in ms: "402", "1.2s" (seconds keep their unit)."""
        if value is None or self.mask:
            return "—" if value is None else MASK
        number, unit = _scaled_ms(value)
        return number if unit == "ms" else number + unit

    def duration(self, value: float | None) -> str:
        """With its unit, for text: "889 ms", "10.0 s"."""
        if value is None or self.mask:
            return "—" if value is None else MASK
        number, unit = _scaled_ms(value)
        return f"{number} {unit}"

    def rate(self, value: float | None) -> str:
        if value is None:
            return "—"
        return MASK if self.mask else f"{value:.1f}"

    def seconds(self, value: float | None) -> str:
        if value is None or value <= 0:
            return "—"
        return MASK if self.mask else f"{value:.0f}s"

    @staticmethod
    def percent(value: float | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        return f"{value * 100:.{digits}f}%"

    @staticmethod
    def score(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    @staticmethod
    def price(value: float | None) -> str:
        if value is None:
            return "—"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.1f}"
        if magnitude >= 1:
            return f"{value:,.4f}".rstrip("0").rstrip(".") if magnitude < 10 else f"{value:,.2f}"
        if magnitude == 0:
            return "0"
        return f"{value:.8f}".rstrip("0").rstrip(".")

    @staticmethod
    def money(value: float | None, signed: bool = False) -> str:
        if value is None:
            return "—"
        return f"{value:+,.2f}" if signed else f"{value:,.2f}"
