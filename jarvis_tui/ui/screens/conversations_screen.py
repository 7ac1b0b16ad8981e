"""The saved conversations (from SQLite): pick one to switch to, or start a new one."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from jarvis_tui.ui.cells import plain

NEW_ID = "new"


def conversation_prompt(summary: Any, now: float | None = None) -> Text:
    title = summary.title or "(untitled)"
    text = plain(f"#{summary.id}  {title}", 70)
    text.append(f"  · {summary.message_count} msg", style="dim")
    if now is not None:
        age = max(0.0, now - summary.updated_at)
        when = f"{age / 60:.0f} min ago" if age < 3600 else (
            f"{age / 3600:.0f} h ago" if age < 86400 else time.strftime("%Y-%m-%d", time.localtime(summary.updated_at)))
        text.append(f" · {when}", style="dim")
    return text


class ConversationsScreen(ModalScreen[int | str | None]):
    """Dismisses with a conversation id, ``"new"``, or None."""

    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("ctrl+n", "new", "New chat")]

    def __init__(self, conversations: list[Any], current: int | None, now: float | None = None) -> None:
        super().__init__()
        self.conversations = conversations
        self.current = current
        self.now = now

    def compose(self) -> ComposeResult:
        with Vertical(id="conversations-box"):
            yield Static(Text("Conversations  ·  Enter open  ·  Ctrl+N new  ·  Esc close"), markup=False,
                         id="conversations-title")
            options = [Option(Text("+ new conversation"), id=NEW_ID)]
            for summary in self.conversations:
                prompt = conversation_prompt(summary, self.now)
                if summary.id == self.current:
                    prompt.append("  (current)")
                options.append(Option(prompt, id=str(summary.id)))
            yield OptionList(*options, id="conversations-list")

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        option_list.focus()
        option_list.highlighted = 1 if self.conversations else 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        option_id = event.option.id
        self.dismiss(NEW_ID if option_id == NEW_ID else int(option_id or 0))

    def action_new(self) -> None:
        self.dismiss(NEW_ID)

    def action_cancel(self) -> None:
        self.dismiss(None)
