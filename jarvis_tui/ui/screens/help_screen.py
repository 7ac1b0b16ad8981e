"""`?`: every key binding of the cockpit, grouped by where it works."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def binding_lines(title: str, bindings: list[Binding], key_display: Callable[[Binding], str]) -> Text:
    text = Text()
    text.append(f"{title}\n", style="bold")
    for binding in bindings:
        if not binding.description:
            continue
        # the same glyphs as the Footer ("?" rather than "question_mark", "^c", "⏎")
        keys = ", ".join(key_display(Binding(k.strip(), binding.action)) for k in binding.key.split(","))
        text.append(f"  {keys:<22}", style="bold")
        text.append(f"{binding.description}\n")
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss_help", "Close help")]

    def __init__(self, sections: list[tuple[str, list[Binding]]], extra: str = "") -> None:
        super().__init__()
        self.sections = sections
        self.extra = extra

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("jarvis cockpit · keys", style="bold"), markup=False, id="help-title")
            for title, bindings in self.sections:
                yield Static(binding_lines(title, bindings, self.app.get_key_display), markup=False, classes="help-section")
            if self.extra:
                yield Static(Text(self.extra), markup=False, classes="help-section")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
