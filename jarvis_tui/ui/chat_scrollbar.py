"""The chat log's vertical scrollbar: redraws the rows its thumb moved over, not all of them.

While an answer streams, every hand-over grows the log and moves the thumb, and Textual's ``ScrollBar`` then
drew its whole column again through the widget style pipeline, one line at a time: ~2 ms of each hand-over's
frame on the dev box, the costliest widget drawn in it (docs/benchmarks.md).  Usually only a row or two change
(the thumb's ends, in eighths of a cell).  ``ChatScrollBar`` works out the rows the bar will show, as Textual's
own renderer draws them, and marks only the rows that differ from the last ones as changed; the lines it draws
are Textual's, unchanged (tests/ui/test_chat_scrollbar.py compares them with a stock ``ScrollBar``'s).
"""

from __future__ import annotations

from typing import Any, Self

from rich.segment import Segment
from textual.geometry import Region
from textual.reactive import Reactive
from textual.scrollbar import ScrollBar


class ChatScrollBar(ScrollBar):
    """A vertical ``ScrollBar`` that refreshes only its changed rows when it scrolls or its content grows."""

    # The geometry Textual's ScrollBar repaints whole on every change; here the watchers refresh changed rows.
    window_virtual_size: Reactive[int] = Reactive(100, repaint=False)
    window_size: Reactive[int] = Reactive(0, repaint=False)
    position: Reactive[float] = Reactive(0, repaint=False)

    _shown_rows: list[Segment] | None = None
    # Set by ChatLog._scroll_update, which sets the bar's window sizes and then refreshes the whole bar: that
    # refresh works out the changed rows once for both sizes.
    in_geometry_update = False

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        if self.in_geometry_update and not regions and repaint and not layout and not recompose:
            self._refresh_changed_rows()
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _rows(self) -> list[Segment]:
        """One segment per row, as ``ScrollBar.render``'s renderer draws the bar at the current size."""
        renderer: Any = self.render()
        style = renderer.style
        width, height = self.size
        if not height or style.bgcolor is None or style.color is None:
            return []
        return list(renderer.render_bar(
            size=height, virtual_size=renderer.virtual_size, window_size=renderer.window_size,
            position=renderer.position, thickness=width, vertical=True,
            back_color=style.bgcolor, bar_color=style.color).segments)

    def _refresh_changed_rows(self) -> None:
        if not self.is_attached or self.parent is None:
            return
        rows = self._rows()
        shown, self._shown_rows = self._shown_rows, rows
        if not rows or shown is None or len(shown) != len(rows):
            super().refresh()
            return
        width = self.size.width
        changed = [Region(0, y, width, 1) for y, (before, now) in enumerate(zip(shown, rows)) if before != now]
        if changed:
            super().refresh(*changed)  # the thumb's two ends: a row or two each, far apart

    def watch_window_virtual_size(self) -> None:
        if not self.in_geometry_update:  # else the refresh that ends the geometry update does it
            self._refresh_changed_rows()

    def watch_window_size(self) -> None:
        if not self.in_geometry_update:
            self._refresh_changed_rows()

    def watch_position(self) -> None:
        self._refresh_changed_rows()
