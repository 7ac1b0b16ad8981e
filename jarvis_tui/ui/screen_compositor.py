"""The cockpit screen's compositor: one arrangement of the widget tree per layout, not two.

A layout (``Screen._refresh_layout``) first hands the widgets changed since the last frame to
``Compositor.update_widgets``; when one of them is not on screen (the chat's newest Markdown block, mounted
below the fold, or a widget of a hidden pane) that marks the compositor's map of *all* widgets stale.
``reflow`` then arranges every widget, visible or not, which is exactly that map, and stores it; but it
leaves the map marked stale.  So the first ``widget.region`` read in the frame that follows (each widget
drawn reads its own) arranged the whole tree a second time: ~1.5 ms of every streamed hand-over's frame on
the dev box, and ~9% of the time spent laying out while five nodes stream (docs/benchmarks.md).

``KeptMapCompositor.reflow`` says the map it has just built is current.  Everything that changes the tree
later marks it stale again as before (``update_widgets``, ``reflow_visible``).
"""

from __future__ import annotations

from typing import Any

from textual._compositor import Compositor, ReflowResult
from textual.geometry import Size


class KeptMapCompositor(Compositor):
    """``Compositor`` whose ``reflow`` keeps the full map it builds (see the module docstring)."""

    def reflow(self, parent: Any, size: Size) -> ReflowResult:
        result = super().reflow(parent, size)
        # reflow arranged the whole tree (visible_only=False) into _full_map: what full_map would build again.
        self._full_map_invalidated = False
        return result
