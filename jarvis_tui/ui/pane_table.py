"""``PaneTable``: the DataTable every pane uses, drawn the same whether it has focus or not.

Textual's DataTable keys its row and cell render caches on the widget's pseudo-class state, focus included,
and clears them all whenever the table is restyled (``DataTable.notify_style_update``; Textual 8 restyles
even when no style changed).  A focus change restyles the widget (``Widget.watch_has_focus``), so each pane
switch (a number key moves focus) threw away every cached cell of the table losing focus and of the one
gaining it and re-rendered them through Rich: about half the CPU of a pane switch (docs/benchmarks.md).

In the cockpit the focused pane already shows itself by its border and the tab strip, so these tables leave
focus out of their look: styles/jarvis.tcss gives ``PaneTable:focus`` the same styles as ``PaneTable``, and
the table neither restyles on a focus change nor keys its caches on focus.  Keys still go to the focused
table as before; only the repaint is saved.
"""

from __future__ import annotations

from textual.widget import PseudoClasses
from textual.widgets import DataTable


class PaneTable(DataTable):
    """A DataTable whose rendering does not depend on focus (see the module docstring)."""

    def get_pseudo_class_state(self) -> PseudoClasses:
        return super().get_pseudo_class_state()._replace(focus=False)

    def watch_has_focus(self, _has_focus: bool) -> None:
        # Widget.watch_has_focus restyles the table for :focus rules, and no style here depends on :focus.
        pass
