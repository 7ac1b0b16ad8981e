"""The footer: every active binding on one line, drawn by ONE widget.

Textual's ``Footer`` recomposes itself (removes and mounts ~20 ``FooterKey``
widgets, each restyled) whenever the focused widget changes, and the new
children force a layout pass and a full-screen repaint.  In the cockpit every
pane switch moves focus, so that recomposition was the largest single cost of a
keypress (measured in docs/benchmarks.md).  ``KeyBar`` renders the same content
(grouped keys such as ``12345 Pane``, the command palette key on the right) as
one ``Text`` and only repaints its own line, and only when the shown bindings
actually changed.  A click on a key presses it, as in the Footer.

When the line does not fit (80 columns), the keys are packed closer, then the
app's own keys are left out from the right until it fits: the focused widget's
keys, help (``?`` lists every key) and the command palette key always show.

The drawn line is kept per set of bindings: a pane switch moves between a few
such sets (the input's, a table's, none), and turning the ``Text`` into
terminal cells cost ~1.5 ms of every switch's frame here.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.screen import Screen
from textual.widget import Widget

Entry = tuple[str, str, str, bool]  # key to press, key as shown, description, enabled
Group = tuple[tuple[Entry, ...], str, bool]  # entries, compact group label ("" for one key), droppable
KEEP_ACTIONS = frozenset({"help"})  # app keys that are never left out for want of room
DRAWN_LINES_KEPT = 16  # sets of bindings whose drawn line is kept (see the module docstring)


class KeyBar(Widget):
    """One-line footer of the screen's active bindings (see the module docstring)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description", "key-bar--disabled"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._groups: tuple[Group, ...] = ()
        self._palette: Entry | None = None
        self._hits: list[tuple[int, int, str]] = []  # (start x, end x, key) of each key drawn
        # state -> (lines, hits); the least recently shown set of bindings goes when it is full
        self._drawn: LRUCache[tuple[Any, ...], tuple[Any, list[tuple[int, int, str]]]] = LRUCache(DRAWN_LINES_KEPT)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        groups, palette = self._collect(screen)
        if (groups, palette) != (self._groups, self._palette):
            self._groups, self._palette = groups, palette
            self.refresh()

    def _render_content(self) -> None:
        """Textual's render of the line, or the line drawn before for the same bindings and width."""
        state = (self._groups, self._palette, self.size, self.app.theme)  # the theme: the key and label colours
        drawn = self._drawn.get(state)
        if drawn is None:
            super()._render_content()
            self._drawn.set(state, (self._render_cache, self._hits))
        else:
            self._render_cache, self._hits = drawn
            self._dirty_regions.clear()

    def notify_style_update(self) -> None:
        self._drawn.clear()  # a theme or a restyle changes the colours of the drawn lines
        super().notify_style_update()

    def _collect(self, screen: Screen[Any]) -> tuple[tuple[Group, ...], Entry | None]:
        """The bindings as Footer shows them: one per action, grouped bindings as keys + group label."""
        app = self.app
        active = screen.active_bindings
        by_action: dict[str, list[tuple[Any, bool, bool]]] = {}
        for node, binding, enabled, _tooltip in active.values():
            if binding.show:
                droppable = (node is app or node is screen) and binding.action not in KEEP_ACTIONS
                by_action.setdefault(binding.action, []).append((binding, enabled, droppable))
        groups: list[Group] = []
        for group, runs in groupby(by_action.values(), lambda run: run[0][0].group):
            runs = list(runs)
            firsts = [run[0] for run in runs]
            entries = tuple((b.key, app.get_key_display(b), b.description, enabled) for b, enabled, _ in firsts)
            if group is not None and len(runs) > 1:
                groups.append((entries, group.description, all(droppable for *_, droppable in firsts)))
            else:
                groups.extend(((entry,), "", droppable) for entry, (*_, droppable) in zip(entries, firsts))
        palette: Entry | None = None
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in active:
            _node, binding, enabled, _tooltip = active[app.COMMAND_PALETTE_BINDING]
            palette = (binding.key, app.get_key_display(binding), binding.description, enabled)
        return tuple(groups), palette

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key", partial=True)
        description_style = self.get_component_rich_style("key-bar--description", partial=True)
        disabled_style = self.get_component_rich_style("key-bar--disabled", partial=True)
        width = self.size.width
        tail: Text | None = None
        palette_hits: list[tuple[int, int, str]] = []
        if self._palette is not None:  # drawn at the right edge
            tail = Text(no_wrap=True, end="")
            tail.append("▏", description_style)
            start = len(tail)
            tail.append(self._palette[1], key_style)
            palette_hits.append((start, len(tail), self._palette[0]))
            tail.append(f"{self._palette[2]} ", description_style)
        room = width - (len(tail) + 1 if tail is not None else 0)

        def draw(groups: tuple[Group, ...], packed: bool) -> tuple[Text, list[tuple[int, int, str]]]:
            line = Text(no_wrap=True, overflow="crop", end="")
            hits: list[tuple[int, int, str]] = []

            def key(entry: Entry, shown: str) -> None:
                start = len(line)
                line.append(shown, key_style if entry[3] else key_style + disabled_style)
                hits.append((start, len(line), entry[0]))

            for entries, label, _droppable in groups:
                if label:  # a compact group: "12345 Pane"
                    line.append(" ")
                    for entry in entries:
                        key(entry, entry[1])
                    line.append(f" {label}" if packed else f" {label} ", description_style)
                else:
                    entry = entries[0]
                    key(entry, f" {entry[1]}" if packed else f" {entry[1]} ")
                    line.append(f" {entry[2]}" if packed else f"{entry[2]} ",
                                description_style if entry[3] else description_style + disabled_style)
            return line, hits

        groups = self._groups
        line, hits = draw(groups, packed=False)
        if width and len(line) > room:  # too long: pack, then leave app keys out from the right
            line, hits = draw(groups, packed=True)
            while len(line) > room and any(droppable for *_, droppable in groups):
                last = max(i for i, (*_, droppable) in enumerate(groups) if droppable)
                groups = groups[:last] + groups[last + 1:]
                line, hits = draw(groups, packed=True)
        if tail is not None:
            offset = max(len(line) + 1, width - len(tail))
            line.append(" " * (offset - len(line)))
            hits += [(offset + a, offset + b, press) for a, b, press in palette_hits]
            line.append_text(tail)
        self._hits = hits
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, press in self._hits:
            if start <= event.x < end:
                event.stop()
                self.app.simulate_key(press)
                return
