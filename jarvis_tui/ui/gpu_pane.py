"""Pane 3: GPU telemetry, cards grouped by node.

Each card shows the temperature gauge (coloured by level: the card gets
``-warning`` at 75 °C and ``-critical`` at 85 °C, hysteresis included, as
computed by ``core.thermal``), utilisation, VRAM, power and a temperature
sparkline.  The pane keeps its own temperature history from the readings it is
shown, so it never reads the monitor.  With no readings at all it says plainly
that there is no GPU telemetry, and why.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from jarvis_tui.ui.cells import plain
from jarvis_tui.ui.pane_frame import RememberedFrame

HISTORY_POINTS = 150  # 5 minutes at the default 2 s poll
LEVEL_CLASSES = ("-normal", "-warning", "-critical", "-error", "-unknown")
EMPTY_HINT = ("No GPU telemetry.\n"
              "Local NVIDIA GPUs are read through NVML; remote nodes need gpu_metrics_url "
              "(DCGM exporter or nvidia_gpu_exporter) in their [[nodes]] entry.")


def gauge(label: str, bar_id: str) -> Horizontal:
    from textual.widgets import ProgressBar  # imported with the first card, not before the first frame

    return Horizontal(Static(label, classes="gauge-label"),
                      ProgressBar(total=100, show_percentage=False, show_eta=False, id=bar_id, classes="gauge-bar"),
                      Static("", classes="gauge-value", id=f"{bar_id}-value"),
                      classes="gauge")


class GpuCard(Vertical):
    def __init__(self, node: str, index: int) -> None:
        from textual.widgets import Sparkline  # imported with the first card, not before the first frame

        super().__init__(classes="gpu-card")
        self.node = node
        self.index = index
        self.history: deque[float] = deque(maxlen=HISTORY_POINTS)
        self.power = Static("", classes="gpu-power")
        self.spark = Sparkline([], classes="gpu-spark")

    def compose(self) -> ComposeResult:
        yield gauge("temp", "temp")
        yield gauge("util", "util")
        yield gauge("vram", "vram")
        with Horizontal(classes="gpu-bottom"):
            yield self.power
            yield self.spark

    def show(self, reading: Any, level: str) -> None:
        model = (reading.name or "").removeprefix("NVIDIA ").removeprefix("GeForce ")
        name = plain(f"GPU{reading.index} {model}".strip(), 40).plain
        self.border_title = name
        for cls in LEVEL_CLASSES:
            self.set_class(cls == f"-{level}", cls)
        if reading.error:
            self.border_subtitle = "error"
            self._set("temp", 0, plain(reading.error, 24).plain)
            self._set("util", 0, "—")
            self._set("vram", 0, "—")
            self.power.update("")
            return
        self.border_subtitle = level if level in ("warning", "critical") else ""
        temp = reading.temperature_c
        if temp is not None:
            self.history.append(float(temp))
        self._set("temp", temp or 0, "—" if temp is None else f"{temp:.0f} °C")
        util = reading.util_gpu_pct
        self._set("util", util or 0, "—" if util is None else f"{util:.0f} %")
        used, total = reading.mem_used_mb, reading.mem_total_mb
        if used is not None and total:
            self._set("vram", 100 * used / total, f"{used / 1024:.1f}/{total / 1024:.1f}G")
        else:
            self._set("vram", 0, "—")
        power = reading.power_w
        limit = reading.power_limit_w
        if power is None:
            self.power.update("power —")
        else:
            self.power.update(f"{power:.0f}/{limit:.0f} W" if limit else f"{power:.0f} W")
        self.spark.data = list(self.history) or [0.0]

    def on_resize(self, _event: Any) -> None:
        # Textual's Bar rounds its percentage to the half cells of its width when the value is set; a value
        # set before the first layout (width 0) stayed unrounded, so the same reading drew a half cell
        # differently from run to run.  Set again, it is rounded to the width the bar has now.
        from textual.widgets._progress_bar import Bar

        for bar in self.query(Bar):
            bar.percentage = bar.percentage

    def _set(self, bar_id: str, value: float, text: str) -> None:
        from textual.widgets import ProgressBar

        self.query_one(f"#{bar_id}", ProgressBar).update(progress=max(0.0, min(100.0, float(value))))
        self.query_one(f"#{bar_id}-value", Static).update(Text(text))


class GpuNodeGroup(Vertical):
    def __init__(self, node: str) -> None:
        super().__init__(classes="gpu-group")
        self.node = node
        self.heading = Static("", classes="gpu-group-heading")
        self.cards_box = Container(classes="gpu-cards")
        self.cards: dict[int, GpuCard] = {}

    def compose(self) -> ComposeResult:
        yield self.heading
        yield self.cards_box


class GpuPane(RememberedFrame, Vertical):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.groups_view = VerticalScroll(id="gpu-groups")
        self.empty = Static(Text(EMPTY_HINT), markup=False, id="gpu-empty")
        self.groups: dict[str, GpuNodeGroup] = {}
        self.has_readings = False
        self.critical: set[tuple[str, int]] = set()

    def compose(self) -> ComposeResult:
        yield self.empty

    def on_mount(self) -> None:
        # Hidden until the first readings: mounted right after the first frame, which need not style it.
        self.groups_view.display = False
        self.call_after_refresh(self._mount_groups_view)

    def _mount_groups_view(self) -> None:
        if self.groups_view.parent is None:
            self.mount(self.groups_view)

    def show_unavailable(self, reason: str) -> None:
        """No GPU monitor at all (not installed, disabled): keep the empty state, with the reason."""
        self.empty.update(Text(f"No GPU telemetry: {reason}.\n\n{EMPTY_HINT.split(chr(10), 1)[1]}"))

    async def show(self, readings: dict[str, tuple[Any, ...]], states: dict[str, Any],
                   thermal: dict[str, Any]) -> None:
        any_reading = any(readings.get(node) for node in states) or any(readings.values())
        if not any_reading:
            lines = ["No GPU telemetry."]
            for node, state in states.items():
                lines.append(plain(f"{node}: {state.message or state.state}", 120).plain)
            lines.append("")
            lines.append(EMPTY_HINT.split("\n", 1)[1])
            self.empty.update(Text("\n".join(lines)))
            self.empty.display = True
            self.groups_view.display = False
            return
        self._mount_groups_view()
        self.empty.display = False
        self.groups_view.display = True
        for node in list(states) + [n for n in readings if n not in states]:
            node_readings = readings.get(node, ())
            state = states.get(node)
            group = self.groups.get(node)
            if group is None:
                group = GpuNodeGroup(node)
                self.groups[node] = group
                await self.groups_view.mount(group)
            status = thermal.get(node)
            level = getattr(status, "status", "unknown")
            source = getattr(state, "source", "") or ""
            count = len(node_readings)
            heading = f"{node} · {count} GPU{'s' if count != 1 else ''}"
            if source:
                heading += f" via {source}"
            if level in ("warning", "critical"):
                heading += f" · {level.upper()} {getattr(status, 'max_temp', 0) or 0:.0f} °C"
            if not node_readings and state is not None:
                heading += f" · {state.message or state.state}"
            group.heading.update(plain(heading, 160))
            for cls in LEVEL_CLASSES:
                group.set_class(cls == f"-{level}", cls)
            levels = getattr(status, "gpu_levels", {}) or {}
            for reading in node_readings:
                card = group.cards.get(reading.index)
                if card is None:
                    card = GpuCard(node, reading.index)
                    group.cards[reading.index] = card
                    await group.cards_box.mount(card)
                gpu_level = "error" if reading.error else levels.get(reading.index, "normal")
                card.show(reading, gpu_level)
