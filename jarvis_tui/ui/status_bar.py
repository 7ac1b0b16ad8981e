"""The one-line status bar: healthy nodes out of total, PAPER/LIVE, voice state, database path."""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text
from textual.widgets import Static

from jarvis_tui.ui.cells import plain


class StatusState(NamedTuple):
    """What the bar shows; immutable, changed by ``_replace``.

    A NamedTuple, not a frozen dataclass: building the class costs ~0.3 ms rather than ~2 ms, before the first
    frame (docs/cockpit.md, "First paint").
    """

    healthy: int = 0
    total: int = 0
    starting: bool = True
    trading_mode: str = "PAPER"
    trading_available: bool = False
    voice: str = "voice off"
    recording: bool = False
    voice_level: float = 0.0
    db_path: str = ""
    busy: str = ""  # "answering…", "consensus…", "benchmark 3/10"


class StatusBar(Static):
    COMPONENT_CLASSES = {"status--ok", "status--bad", "status--live", "status--paper", "status--rec", "status--dim"}

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", markup=False, **kwargs)  # type: ignore[arg-type]
        self.state = StatusState()

    def on_mount(self) -> None:
        self._render_state()

    def set(self, **changes: object) -> None:
        new = self.state._replace(**changes)  # type: ignore[arg-type]
        if new != self.state:
            self.state = new
            self._render_state()

    def _render_state(self) -> None:
        s = self.state
        style = self.get_component_rich_style
        line = Text(" ")
        if s.starting:
            line.append("● starting…", style=style("status--dim"))
        else:
            ok = s.healthy > 0
            line.append(f"● {s.healthy}/{s.total} nodes up", style=style("status--ok" if ok else "status--bad"))
        line.append("  │  ")
        mode_style = style("status--live" if s.trading_mode == "LIVE" else "status--paper")
        line.append(f" {s.trading_mode} ", style=mode_style)
        if not s.trading_available:
            line.append(" (off)", style=style("status--dim"))
        line.append("  │  ")
        if s.recording:
            meter = "▮" * max(0, min(10, round(s.voice_level * 10)))
            line.append("● REC ", style=style("status--rec"))
            line.append(f"{meter:<10} ", style=style("status--rec"))
        line.append_text(plain(s.voice, 60))
        if s.busy:
            line.append("  │  ")
            line.append(s.busy)
        line.append("  │  db ")
        line.append_text(plain(s.db_path, 80, style=style("status--dim")))
        self.update(line)
