"""The benchmark's proposal: node weights (now -> proposed) and route changes, with Apply / Dismiss.

Dismisses with True for Apply (the app writes the config and updates the live
orchestrator), False otherwise.  When the config cannot take the proposal (no
file, discovered nodes) the reason is shown and Apply is disabled.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


def _latency(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def weights_table(proposal: Any) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, expand=False)
    for column, justify in (("node", "left"), ("score", "right"), ("mean latency", "right"),
                            ("timeouts", "right"), ("weight", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for change in proposal.weights:
        weight = Text(f"{change.current:g} → {change.proposed:g}" if change.changed else f"{change.current:g} (kept)",
                      style="bold" if change.changed else "dim")
        table.add_row(Text(change.node), f"{change.score_pct:.0f}%", _latency(change.mean_latency_s),
                      str(change.timeouts), weight)
    return table


def routes_text(proposal: Any) -> Text:
    text = Text()
    changed = [r for r in proposal.routes if r.changed]
    if not changed:
        text.append("no route changes", style="dim")
        return text
    for index, route in enumerate(changed):
        if index:
            text.append("\n")
        text.append(f"{route.task_type}: ", style="bold")
        text.append(", ".join(route.current))
        text.append("  →  ")
        text.append(", ".join(route.proposed), style="bold")
    return text


class ProposalScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("a", "apply", "Apply"),
        Binding("d,escape", "dismiss_proposal", "Dismiss"),
    ]

    def __init__(self, proposal: Any, *, config_path: Any, cannot_apply: str | None = None, title: str = "") -> None:
        super().__init__()
        self.proposal = proposal
        self.config_path = config_path
        self.cannot_apply = cannot_apply
        self.title_text = title or "Benchmark proposal"

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="proposal-box"):
            yield Static(Text(self.title_text, style="bold"), markup=False, id="proposal-title")
            yield Static(Text("Weights", style="bold"), markup=False, classes="proposal-caption")
            yield Static(weights_table(self.proposal), markup=False, id="proposal-weights")
            yield Static(Text("Routes", style="bold"), markup=False, classes="proposal-caption")
            yield Static(routes_text(self.proposal), markup=False, id="proposal-routes")
            if self.cannot_apply:
                note = Text(self.cannot_apply)
            else:
                note = Text(f"Apply rewrites the weight and [routing] lines of {self.config_path} "
                            "(a backup copy is kept next to it) and the running cockpit uses them at once.")
            yield Static(note, markup=False, id="proposal-note", classes="-blocked" if self.cannot_apply else "")
            with Horizontal(id="proposal-buttons"):
                yield Button("Apply", id="proposal-apply", variant="success", disabled=bool(self.cannot_apply))
                yield Button("Dismiss", id="proposal-dismiss", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#proposal-dismiss", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "proposal-apply":
            self.action_apply()
        else:
            self.action_dismiss_proposal()

    def action_apply(self) -> None:
        if self.cannot_apply:
            self.notify(self.cannot_apply, severity="warning", markup=False)
            return
        self.dismiss(True)

    def action_dismiss_proposal(self) -> None:
        self.dismiss(False)
