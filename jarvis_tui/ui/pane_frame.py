"""The panes' frames (border, title, background), drawn once per look.

Every pane switch restyles two panes (``-active`` colours the border) and Textual then draws each one's own
lines again, border cell by border cell: ~1.5-2 ms per pane on the dev box, a fifth of a switch's frame.  A pane
only ever has a few looks (active or not, per size and theme), so ``RememberedFrame`` keeps the lines drawn for
each look and gives them back when the pane looks that way again.  The panes' contents (tables, text, cards)
are their children, drawn and cached by Textual as before.
"""

from __future__ import annotations

from typing import Any

from textual.cache import LRUCache
from textual.geometry import Region
from textual.strip import Strip

FRAMES_KEPT = 8  # looks kept per pane: active and not, times a few sizes (zoom, terminal resizes)


class RememberedFrame:
    """Mixin for a pane container (see the module docstring).

    A look is everything Textual draws a container's own lines from: the part of it drawn, its size, its
    border (types and colours), title and subtitle, its background over its parent's, the theme and the
    app's line filters.  A change to any of them is another look.
    """

    _frames: LRUCache[tuple[Any, ...], list[Strip]] | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        widget: Any = self
        look = (crop, widget.region.size, widget.styles.border, widget._border_title, widget._border_subtitle,
                widget.background_colors, widget.app.theme, tuple(map(id, widget.get_line_filters())))
        if self._frames is None:
            self._frames = LRUCache(FRAMES_KEPT)
        lines = self._frames.get(look)
        if lines is None:
            lines = super().render_lines(crop)  # type: ignore[misc]
            self._frames.set(look, lines)  # the least recently used look goes when it is full
        return lines
