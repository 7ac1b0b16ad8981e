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

A frame that updates part of the screen draws every widget that overlaps the *rectangle around* all the changed
areas: a changed status line at the top and a streamed chat line further down made the key bar, the prompt,
the chat's title and its older entries draw their lines too, though none of them is written to the terminal
(only the changed areas are).  ``render_partial_update`` hands Textual only the widgets that overlap a changed
area; what reaches the terminal is the same (tests/ui/test_screen_compositor.py compares the two).
"""

from __future__ import annotations

from typing import Any

from textual._compositor import Compositor, ReflowResult
from textual.geometry import Region, Size


class KeptMapCompositor(Compositor):
    """``Compositor`` whose ``reflow`` keeps the full map it builds (see the module docstring)."""

    def reflow(self, parent: Any, size: Size) -> ReflowResult:
        result = super().reflow(parent, size)
        # reflow arranged the whole tree (visible_only=False) into _full_map: what full_map would build again.
        self._full_map_invalidated = False
        return result

    def render_partial_update(self) -> Any:
        changed = self._dirty_regions
        if len(changed) < 2:  # one area: Textual's own crop is that area already
            return super().render_partial_update()
        visible = self.visible_widgets
        self.cuts  # noqa: B018 - the cuts come from every visible widget: computed before the narrowing below
        overlaps = Region.overlaps
        intersection = Region.intersection
        in_changed_areas: dict[Any, tuple[Region, Region]] = {}
        for widget, (region, clip) in visible.items():
            shown = intersection(region, clip)  # once per widget, not once per changed area
            if any(overlaps(area, shown) for area in changed):
                in_changed_areas[widget] = (region, clip)
        self._visible_widgets = in_changed_areas
        try:
            return super().render_partial_update()
        finally:
            self._visible_widgets = visible
