"""The pane tabs shown on small terminals, drawn by ONE widget.

Textual's ``Tabs`` is ten widgets (a Tab per pane, the underline, containers)
that are mounted and styled at start-up even on a wide terminal, where the
strip is hidden, and that restyle and animate on every pane switch.
``TabStrip`` draws the same two lines (labels, underline under the active
pane) as one ``Text``; a switch only repaints its two lines.  A click on a
label posts ``TabStrip.Selected``.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class TabStrip(Widget):
    """``1 Chat  2 Nodes ...`` with the active pane highlighted and underlined."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"tab-strip--tab", "tab-strip--active", "tab-strip--rule", "tab-strip--rule-active"}

    active: reactive[str] = reactive("")

    class Selected(Message):
        def __init__(self, pane_id: str) -> None:
            super().__init__()
            self.pane_id = pane_id

    def __init__(self, panes: tuple[tuple[str, str], ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.panes = panes
        self.set_reactive(TabStrip.active, panes[0][0])
        self._spans: list[tuple[int, int, str]] = []

    def render(self) -> Text:
        tab = self.get_component_rich_style("tab-strip--tab")
        active = self.get_component_rich_style("tab-strip--active")
        rule = self.get_component_rich_style("tab-strip--rule", partial=True)
        rule_active = self.get_component_rich_style("tab-strip--rule-active", partial=True)
        labels, underline = Text(no_wrap=True, end=""), Text(no_wrap=True, end="")
        spans = []
        for index, (pane_id, title) in enumerate(self.panes, 1):
            label = f" {index} {title} "
            start = len(labels)
            chosen = pane_id == self.active
            labels.append(label, active if chosen else tab)
            underline.append("━" * len(label), rule_active if chosen else rule)
            spans.append((start, len(labels), pane_id))
        underline.append("━" * max(0, self.size.width - len(underline)), rule)
        self._spans = spans
        return Text("\n", no_wrap=True, end="").join([labels, underline])

    def on_click(self, event: events.Click) -> None:
        for start, end, pane_id in self._spans:
            if start <= event.x < end:
                event.stop()
                self.post_message(self.Selected(pane_id))
                return
