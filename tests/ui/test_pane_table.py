"""PaneTable: a pane switch moves focus between tables without repainting their cells."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

from jarvis_tui.ui.pane_table import PaneTable


class TwoWidgets(App[None]):
    CSS_PATH = "../../styles/jarvis.tcss"

    def __init__(self, table_class: type[DataTable]) -> None:
        super().__init__()
        self.table_class = table_class

    def compose(self) -> ComposeResult:
        yield self.table_class(id="table")
        yield Input(id="elsewhere")

    def on_mount(self) -> None:
        table = self.query_one("#table", DataTable)
        table.add_columns("node", "p50", "p95")
        for i in range(6):
            table.add_row(f"M{i}", f"{100 + i}", f"{200 + i}")


async def _row_renders_on_focus_changes(table_class: type[DataTable]) -> int:
    app = TwoWidgets(table_class)
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one("#table", DataTable)
        for target in ("#table", "#elsewhere"):  # first paints, scrollbars settled
            app.query_one(target).focus()
            await pilot.pause()
        renders = 0
        render_line_in_row = table._render_line_in_row

        def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal renders
            renders += 1
            return render_line_in_row(*args, **kwargs)

        table._render_line_in_row = counting  # type: ignore[method-assign]
        for target in ("#table", "#elsewhere", "#table", "#elsewhere"):
            app.query_one(target).focus()
            await pilot.pause()
            await pilot.pause()
        return renders


async def test_textual_datatable_repaints_every_row_when_focus_changes():
    """What PaneTable exists for; if this stops failing after a Textual upgrade, PaneTable may go."""
    assert await _row_renders_on_focus_changes(DataTable) >= 4 * 6


async def test_pane_table_keeps_its_rendered_rows_across_focus_changes():
    assert await _row_renders_on_focus_changes(PaneTable) == 0


async def test_pane_table_looks_the_same_focused_or_not():
    """Cursor, header and background: the pane border shows focus, so nothing in the table may go stale."""
    app = TwoWidgets(PaneTable)
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one("#table", DataTable)
        table.move_cursor(row=2)

        async def table_lines() -> list[list[tuple[str, object]]]:
            await pilot.pause()
            strips = app.screen._compositor.render_strips()[: table.region.height]
            return [[(segment.text, segment.style) for segment in strip] for strip in strips]

        table.focus()
        focused = await table_lines()
        app.query_one("#elsewhere").focus()
        blurred = await table_lines()
        assert len(focused) == 7  # header and six rows
        assert focused == blurred
