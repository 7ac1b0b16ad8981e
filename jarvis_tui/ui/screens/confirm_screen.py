"""A yes/no confirmation, or a typed one (``require="LIVE"``) for dangerous actions."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "confirm", "Yes"),
        Binding("n,escape", "cancel", "No"),
    ]

    def __init__(self, question: str, *, require: str | None = None, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.require = require
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(Text(self.question), markup=False, id="confirm-question")
            if self.require:
                yield Input(placeholder=f"type {self.require} to confirm", id="confirm-input")
            with Horizontal(id="confirm-buttons"):
                yield Button(self.yes_label, id="confirm-yes", variant="error")
                yield Button(self.no_label, id="confirm-no", variant="primary")

    def on_mount(self) -> None:
        if self.require:
            self.query_one("#confirm-input", Input).focus()
        else:
            self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm-yes":
            self.action_confirm()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        if self.require:
            typed = self.query_one("#confirm-input", Input).value.strip()
            if typed != self.require:
                self.notify(f"Type {self.require} exactly to confirm.", severity="warning")
                return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
