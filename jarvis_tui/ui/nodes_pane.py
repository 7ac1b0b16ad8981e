"""Pane 2: nodes.  One DataTable row per node, a latency sparkline per row, sortable.

Rows are keyed by node name and updated cell by cell, so the cursor and the
sort survive refreshes.  Colours come from component classes styled in
``styles/jarvis.tcss`` (they follow the theme); cell text is always ``Text``,
never a markup string, because node names, models and errors are not ours.
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from jarvis_tui.ui.cells import Numbers, plain, sparkline_text
from jarvis_tui.ui.pane_frame import RememberedFrame
from jarvis_tui.ui.pane_table import PaneTable

COLUMNS = (
    ("dot", " "), ("name", "node"), ("kind", "kind"), ("model", "model"), ("weight", "wt"),
    ("p50", "p50"), ("p95", "p95"), ("ttft", "TTFT"), ("tps", "tok/s"), ("err", "err"),
    ("quality", "qual"), ("cooldown", "cool"), ("trend", "latency"),
)
# Sort keys the `s` key cycles through: (column key, row field, descending?)
SORTS = (
    ("name", "node", False), ("weight", "weight", True), ("p50", "p50_ms", False), ("p95", "p95_ms", False),
    ("ttft", "ttft_ms", False), ("tps", "tokens_per_s", True), ("err", "error_rate", False),
    ("quality", "quality_score", True),
)
STATUS_DOTS = {"up": "●", "down": "●", "cooldown": "◐", "unknown": "○"}
MODEL_CHARS = 18
TREND_POINTS = 10


def _cell_text(cells: Any) -> str:
    """DataTable.sort hands the key one cell when sorting on one column, a tuple for several."""
    cell = cells[0] if isinstance(cells, tuple) else cells
    return cell.plain if isinstance(cell, Text) else str(cell)


class NodesTable(PaneTable):
    COMPONENT_CLASSES = {"nodes--up", "nodes--down", "nodes--cooldown", "nodes--unknown", "nodes--trend"}

    BINDINGS = [
        Binding("enter", "details", "Details"),
        Binding("s", "cycle_sort", "Sort"),
    ]

    class DetailsRequested(Message):
        def __init__(self, node: str) -> None:
            super().__init__()
            self.node = node

    def action_details(self) -> None:
        if self.row_count and self.cursor_row >= 0:
            row_key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key
            if row_key.value:
                self.post_message(self.DetailsRequested(row_key.value))

    def action_cycle_sort(self) -> None:
        pane = self.parent
        if isinstance(pane, NodesPane):
            pane.cycle_sort()


class NodesPane(RememberedFrame, Vertical):
    def __init__(self, numbers: Numbers, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.numbers = numbers
        self.table = NodesTable(id="nodes-table", cursor_type="row", zebra_stripes=True)
        self.summary = Static(Text("starting…"), markup=False, id="nodes-summary")
        self.rows: dict[str, dict[str, Any]] = {}
        self.sort_index = 0
        self.sort_reverse = False

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.summary

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.table.add_column(Text(label), key=key)  # a str label is parsed as markup: rich's emoji table, ~4 ms

    @property
    def sort_field(self) -> tuple[str, str, bool]:
        return SORTS[self.sort_index]

    def show(self, rows: list[dict[str, Any]], histories: dict[str, list[float]]) -> None:
        """Bring the table in line with ``orchestrator.node_rows()``."""
        table = self.table
        seen = set()
        for row in rows:
            name = row["node"]
            seen.add(name)
            cells = self._cells(row, histories.get(name, []))
            previous = self.rows.get(name)
            if previous is None:
                table.add_row(*cells.values(), key=name)
            else:
                old_cells = previous["_cells"]
                for key, value in cells.items():
                    if old_cells.get(key) != value:
                        table.update_cell(name, key, value, update_width=True)  # "402" can become "10.0s"
            self.rows[name] = {**row, "_cells": cells}
        for name in list(self.rows):
            if name not in seen:
                table.remove_row(name)
                del self.rows[name]
        self._apply_sort()
        self._update_summary()

    def _update_summary(self) -> None:
        up = sum(1 for r in self.rows.values() if r["status"] == "up")
        key, _field, _ = self.sort_field
        label = dict(COLUMNS)[key]
        arrow = "↑" if self.sort_reverse else "↓"
        self.summary.update(Text(f"{up}/{len(self.rows)} up · sorted by {label} {arrow} · "
                                 "s sort · Enter details"))

    def _cells(self, row: dict[str, Any], history: list[float]) -> dict[str, Text]:
        n = self.numbers
        status = row.get("status", "unknown")
        style = self.table.get_component_rich_style(f"nodes--{status}" if status in STATUS_DOTS else "nodes--unknown")
        model = str(row.get("model") or "")
        if len(model) > MODEL_CHARS:
            model = model[: MODEL_CHARS - 1] + "…"
        cooldown = row.get("cooldown_s") or 0.0
        breaker = row.get("breaker", "closed")
        if cooldown > 0:
            cool = n.seconds(cooldown)
        elif breaker == "half_open":
            cool = "probe"
        else:
            cool = "—"
        trend = "" if n.mask else sparkline_text(history, TREND_POINTS)
        return {
            "dot": Text(STATUS_DOTS.get(status, "○"), style=style),
            "name": plain(row["node"], 16),
            "kind": plain(row.get("kind")),
            "model": plain(model or "—"),
            "weight": Text(f"{row.get('weight', 1.0):.1f}", justify="right"),
            "p50": Text(n.ms(row.get("p50_ms")), justify="right"),
            "p95": Text(n.ms(row.get("p95_ms")), justify="right"),
            "ttft": Text(n.ms(row.get("ttft_ms")), justify="right"),
            "tps": Text(n.rate(row.get("tokens_per_s")), justify="right"),
            "err": Text(Numbers.percent(row.get("error_rate")), justify="right"),
            "quality": Text(Numbers.score(row.get("quality_score")), justify="right"),
            "cooldown": Text(cool, justify="right"),
            "trend": Text(trend, style=self.table.get_component_rich_style("nodes--trend")),
        }

    def cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.sort_reverse = SORTS[self.sort_index][2]
        self._apply_sort()
        self._update_summary()

    def sort_by_column(self, column_key: str) -> None:
        for index, (key, _field, descending) in enumerate(SORTS):
            if key == column_key:
                if index == self.sort_index:
                    self.sort_reverse = not self.sort_reverse
                else:
                    self.sort_index, self.sort_reverse = index, descending
                self._apply_sort()
                return

    def _apply_sort(self) -> None:
        if not self.rows:
            return
        _key, field, _ = self.sort_field

        def key(cells: Any) -> tuple[int, Any]:
            row = self.rows.get(_cell_text(cells), {})
            value = row.get(field)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return (1, 0)  # unknowns last, whatever the direction
            return (0, -value if self.sort_reverse and not isinstance(value, str) else value)

        if field == "node":
            self.table.sort("name", key=lambda cells: _cell_text(cells).lower(), reverse=self.sort_reverse)
        else:
            self.table.sort("name", key=key)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by_column(str(event.column_key.value))
        self._update_summary()
