"""Pane 1: agent chat.

Answers stream into a ``Markdown`` widget through Textual's streaming API
(``Markdown.get_stream``), which batches fragments when they arrive faster than
the widget can render: per-token ``update()`` falls behind a fast node.

Model output is untrusted.  It goes through ``neutralize_terminal`` (ESC, OSC,
C1 controls become visible stand-ins) before it reaches the Markdown parser,
which never interprets Rich markup, and links in answers are not opened on
click.  Labels are built as ``Text`` objects, never parsed as markup.
"""

from __future__ import annotations

import asyncio
import re
import time
from functools import cache
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.scrollbar import ScrollBar
from textual.widgets import Static, TextArea

from rich.text import Text

from jarvis_tui.ui.cells import Numbers, plain, safe_block
from jarvis_tui.ui.chat_scrollbar import ChatScrollBar
from jarvis_tui.ui.pane_frame import RememberedFrame

HISTORY_LIMIT = 200
# How often a streaming answer is handed to the Markdown widget.  Every hand-over re-parses the last block,
# relayouts the chat log and repaints it; at the bus frame (40 ms) that cost most of the cockpit's CPU under
# a fast stream and delayed keypresses behind it (docs/benchmarks.md).  10 updates a second still reads as live.
STREAM_FLUSH_S = 0.1
# The same while the user presses keys (JarvisApp.user_active): 4 updates a second still show the answer
# growing, and the keys' frames rarely have to wait behind one.
STREAM_FLUSH_ACTIVE_S = 0.25
# How soon a hand-over held back for a key's frame is tried again.
INPUT_RETRY_S = 0.01
# A streaming answer is split into Markdown widgets ("chunks") of about this many blocks.  Each hand-over lays
# the screen out again, and Textual re-measures every block of a Markdown widget whose height changed: in one
# widget a long answer costs more per hand-over the longer it gets (36 paragraphs: ~15 ms of reflow).  A chunk
# that no longer grows keeps its size, so its blocks' measurements stay cached; only the last chunk is redone.
CHUNK_BLOCKS = 8
# A chunk starts with a paragraph: a line that starts with a letter, or with digits that do not make an ordered
# list item ("2024 was").  Anything else could continue the block before it even after a blank line (an
# indented paragraph of a list item, a list item, a table row, a quote), or has a top margin (heading, code
# block, quote) that Textual collapses with the paragraph's bottom margin inside one Markdown widget but not
# across two.  The first characters decide, so a chunk can start while its first line is still streaming.
_PARAGRAPH = re.compile(r"[^\W\d_]|\d+[^\d.)]")
_FENCE = re.compile(r" {0,3}(```|~~~)")


class PromptInput(TextArea):
    """The chat input: Enter sends, Ctrl+J inserts a newline, Up/Down walk the history; paste keeps newlines."""

    BINDINGS = [
        # Not a priority binding: those run when the key reaches the app, ahead of characters still queued for
        # this widget, so a fast typist's (or a script's) "2+2⏎" sent an empty prompt. _on_key handles Enter in
        # order; the binding stays for the Footer and the help screen.
        Binding("enter", "submit", "Send"),
        Binding("ctrl+j", "newline", "Newline", show=False),
        Binding("escape", "leave", "Leave input", show=False),
    ]

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, **kwargs: object) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus",
                         placeholder="Ask the cluster… (Enter sends)", **kwargs)  # type: ignore[arg-type]
        self.prompt_history: list[str] = []
        self._history_index: int | None = None  # None: editing a fresh line
        self._draft = ""

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.action_submit()
            return
        await super()._on_key(event)

    def action_submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        if not self.prompt_history or self.prompt_history[-1] != text:
            self.prompt_history.append(text)
            del self.prompt_history[:-HISTORY_LIMIT]
        self._history_index = None
        self._draft = ""
        self.clear()
        self.post_message(self.Submitted(text))

    def action_newline(self) -> None:
        self.insert("\n")

    def action_leave(self) -> None:
        self.screen.focus_next()

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == 0 and self.prompt_history:
            self._recall(-1)
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == self.document.line_count - 1 and self._history_index is not None:
            self._recall(+1)
            return
        super().action_cursor_down(select)

    def _recall(self, step: int) -> None:
        if self._history_index is None:
            if step > 0:
                return
            self._draft = self.text
            index = len(self.prompt_history) - 1
        else:
            index = self._history_index + step
        if index >= len(self.prompt_history):
            self._history_index = None
            self.load_text(self._draft)
        else:
            self._history_index = max(0, index)
            self.load_text(self.prompt_history[self._history_index])
        self.move_cursor(self.document.end)


class OneLayoutPerChange:
    """Mixin for the chat log's widgets: a change of their virtual size does not ask for another layout.

    When streamed text grows an answer, Textual lays the screen out once for the new content; that layout then
    gives each grown widget (the Markdown block, the Markdown, the answer, the log) its new virtual size, and
    Widget's ``virtual_size`` reactive asks for a layout on every change, so each hand-over of text cost two
    whole-screen layouts, the second recomputing what the first had just settled.  The chat log is the only
    scrollable one among them, and Textual updates its scrollbars from the new size directly
    (``Widget._size_updated``), so the second layout brought nothing: without it a fast stream costs ~20% fewer
    layouts and ~5 points less CPU (docs/benchmarks.md).  The few widgets that Markdown blocks build themselves
    (table cells, list bullets) still ask; a paragraph, the common case, does not.
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)


class ChatLog(OneLayoutPerChange, VerticalScroll):
    """The scrolling list of prompts and answers."""

    # The log, an answer and its Markdown chunks draw nothing of their own (no border, no content), yet each grown
    # or scrolled line of streamed text made Textual re-render all their visible lines, ~40 each per hand-over;
    # BLANK draws those lines as blank strips in the widget's style.
    BLANK = True

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        """Textual's, as ``Widget.vertical_scrollbar`` makes it, but one that redraws only its changed rows."""
        if self._vertical_scrollbar is None:
            self._vertical_scrollbar = bar = ChatScrollBar(vertical=True, name="vertical",
                                                           thickness=self.scrollbar_size_vertical)
            bar.display = False
            self.app._start_widget(self, bar)
        return self._vertical_scrollbar

    def set_reactive(self, reactive: Reactive[Any], value: Any) -> None:
        # Textual's anchor (ChatPane.on_mount) sets the scroll to "content bottom - log height" at each layout,
        # bypassing validation: below zero while the conversation is shorter than the log, which pushed it to
        # the log's bottom edge.  A short conversation starts at the top, as it did before the anchor.
        if reactive.name in ("scroll_y", "scroll_target_y") and isinstance(value, (int, float)) and value < 0:
            value = 0
        super().set_reactive(reactive, value)

    def _scroll_update(self, virtual_size: Size) -> None:
        # Textual sets the bar's geometry, then refreshes all of it; the bar refreshes just its changed rows.
        bar = self._vertical_scrollbar
        if not isinstance(bar, ChatScrollBar):
            super()._scroll_update(virtual_size)
            return
        bar.in_geometry_update = True
        try:
            super()._scroll_update(virtual_size)
        finally:
            bar.in_geometry_update = False


@cache
def chat_markdown_class() -> type[Any]:
    """``Markdown`` whose blocks are ``OneLayoutPerChange``; built at the first answer (markdown-it costs ~30 ms)."""
    from textual.widgets import Markdown

    blocks = {name: type(block.__name__, (OneLayoutPerChange, block), {}) for name, block in Markdown.BLOCKS.items()}
    return type("ChatMarkdown", (SealableHeight, OneLayoutPerChange, Markdown), {"BLOCKS": blocks, "BLANK": True})


class SealableHeight:
    """A container whose height, once ``seal()``-ed, is measured once per width.

    Textual measures a container whose children all have dynamic heights by arranging them in its parent's
    height, so when an answer grows by a line every finished chunk of it was re-arranged and all its blocks
    re-measured, though nothing in them changed.  A sealed chunk no longer changes; a restyle (a theme, a CSS
    reload) drops the measurement.
    """

    _sealed = False
    _sealed_heights: dict[int, int]

    def seal(self) -> None:
        self._sealed = True
        self._sealed_heights = {}

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not self._sealed:
            return super().get_content_height(container, viewport, width)  # type: ignore[misc,no-any-return]
        height = self._sealed_heights.get(width)
        if height is None:
            height = self._sealed_heights[width] = super().get_content_height(  # type: ignore[misc]
                container, viewport, width)
        return height

    def notify_style_update(self) -> None:
        if self._sealed:
            self._sealed_heights = {}
        super().notify_style_update()  # type: ignore[misc]


class UserEntry(OneLayoutPerChange, Static):
    """A prompt the user sent, shown literally."""

    def __init__(self, text: str) -> None:
        super().__init__(Text(safe_block(text)), markup=False, classes="chat-user")


class AnswerEntry(OneLayoutPerChange, Vertical):
    """One answer: a ``[NODE/model] latency · tokens · tok/s`` label and the streamed Markdown."""

    BLANK = True  # see ChatLog

    def __init__(self, numbers: Numbers, text: str = "", label: Text | None = None) -> None:
        super().__init__(classes="chat-answer")
        self.numbers = numbers
        self._initial = safe_block(text)
        self.label = Static(label or Text("…"), markup=False, classes="chat-label")
        self._markdown = chat_markdown_class()
        self.body = self._markdown(self._initial, open_links=False, classes="chat-body")
        self.chunks: list[Any] = [self.body]  # Markdown widgets of this answer, in order (see CHUNK_BLOCKS)
        self._chunk_source = ""  # the text handed to the last chunk
        self.stream: Any = None  # MarkdownStream of the last chunk while an answer streams
        self.request_id: str | None = None
        self.streamed: list[str] = []
        self.notes: list[str] = []  # fallback history: "M2 refused"
        self._unflushed: list[str] = []  # streamed text not yet handed to the Markdown stream
        self._flush_timer: Any = None
        self._flushed_at = float("-inf")  # time.monotonic() of the last hand-over

    def compose(self) -> ComposeResult:
        yield self.label
        yield self.body

    def waiting(self, what: str) -> None:
        self.label.update(Text(what))
        self.add_class("-pending")

    async def begin(self, request_id: str, node: str, model: str) -> None:
        """A (new) attempt started: reset the body and open a stream for it."""
        self._unflushed.clear()  # the failed attempt's tail: the body is reset anyway
        await self._close_stream()
        if self.streamed:
            await self._show("")
        self.streamed = []
        self.request_id = request_id
        label = Text()
        for note in self.notes:
            label.append_text(plain(note))
            label.append(" → ")
        label.append_text(plain(f"[{node}/{model}]"))
        label.append(" streaming…")
        self.label.update(label)
        # The Markdown stream opens at the first flush (``_flush``): an attempt that fails before any text
        # never starts one.

    async def write(self, fragment: str) -> None:
        """Queue a fragment; the Markdown stream gets the queued text at most every ``STREAM_FLUSH_S``."""
        safe = safe_block(fragment)
        if not safe:
            return
        self.streamed.append(safe)
        self._unflushed.append(safe)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(self._flush_interval(), self._flush)

    def _flush_interval(self) -> float:
        user_active = getattr(self.app, "user_active", None)
        return STREAM_FLUSH_ACTIVE_S if user_active is not None and user_active() else STREAM_FLUSH_S

    async def _flush(self, *, defer: bool = True) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        if not self._unflushed:
            return
        input_waiting = getattr(self.app, "input_waiting", None)
        now = time.monotonic()
        if defer and input_waiting is not None and input_waiting() and \
                now - self._flushed_at < self._flush_interval() * 2:
            # A key's frame first (JarvisApp.input_waiting); under key repeat the text still goes at least every
            # other hand-over.
            self._flush_timer = self.set_timer(INPUT_RETRY_S, self._flush)
            return
        self._flushed_at = now
        text = "".join(self._unflushed)
        self._unflushed.clear()
        split = self._chunk_boundary(text) if len(self.chunks[-1].children) >= CHUNK_BLOCKS else None
        if split is not None:  # the last chunk is full: its text ends at a block boundary inside `text`
            if split:
                await self._write(text[:split])
            await self._close_stream()
            self.chunks[-1].seal()
            chunk = self._markdown("", open_links=False, classes="chat-body")
            self.chunks.append(chunk)
            self._chunk_source = ""
            await self.mount(chunk)
            text = text[split:]
        await self._write(text)

    async def _write(self, text: str) -> None:
        if self.stream is None:
            self.stream = self._markdown.get_stream(self.chunks[-1])
        self._chunk_source += text
        await self.stream.write(text)

    def _chunk_boundary(self, text: str) -> int | None:
        """Where in ``text`` the last chunk can end, or ``None``: before a line that follows a blank line outside
        a fenced code block and starts a paragraph (see ``_PARAGRAPH``).  A chunk is parsed alone,
        so what it starts with must not depend on the blocks before it, and it must look as it would in one
        Markdown widget."""
        start = len(self._chunk_source)
        combined = self._chunk_source + text
        fenced = False
        offset = 0
        previous_blank = False
        for line in combined.split("\n"):
            if offset >= start and previous_blank and not fenced and _PARAGRAPH.match(line):
                return offset - start
            if _FENCE.match(line):
                fenced = not fenced
            previous_blank = not line.strip()
            offset += len(line) + 1
        return None

    @property
    def source(self) -> str:
        """The Markdown source of the whole answer, across its chunks."""
        return "".join(chunk.source for chunk in self.chunks)

    async def _show(self, text: str) -> None:
        """Show ``text`` as the whole answer, in one Markdown widget."""
        for chunk in self.chunks[1:]:
            await chunk.remove()
        self.chunks = [self.body]
        self._chunk_source = text
        await self.body.update(text)

    def attempt_failed(self, node: str, outcome: str) -> None:
        self.notes.append(f"{node} {outcome}")
        self.label.update(plain(" → ".join(self.notes) + " → trying next node…"))

    async def finish(self, *, node: str, model: str, latency_ms: float | None, tokens_out: int | None,
                     tokens_per_s: float | None, text: str) -> None:
        await self._close_stream()
        final = safe_block(text)
        if final and "".join(self.streamed) != final:
            await self._show(final)  # deltas were lost or never streamed: show the stored answer
        self.streamed = [final]
        self.remove_class("-pending")
        self.label.update(answer_label(self.numbers, node, model, latency_ms, tokens_out, tokens_per_s,
                                       self.notes))

    async def fail(self, message: str) -> None:
        await self._close_stream()
        self.remove_class("-pending")
        self.add_class("-failed")
        self.label.update(plain(message, 400))

    async def _close_stream(self) -> None:
        await self._flush(defer=False)
        if self.stream is not None:
            stream, self.stream = self.stream, None
            await stop_markdown_stream(stream)


async def stop_markdown_stream(stream: Any) -> None:
    """Stop a Textual ``MarkdownStream`` without letting its cancellation escape into the caller.

    ``MarkdownStream.stop()`` cancels its writer task and awaits it.  A task cancelled before its first step
    never enters the ``try`` that absorbs the cancellation, so the ``await`` re-raises ``CancelledError`` in
    the caller: here the app's message loop, which Textual then ends *silently* (a frozen cockpit).  That
    happened when a node failed fast and the fallback's ``RequestStarted`` closed a stream opened a moment
    before.  The caller's own cancellation (``Task.cancelling()``) still propagates.
    """
    try:
        await stream.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


def answer_label(numbers: Numbers, node: str, model: str, latency_ms: float | None, tokens_out: int | None,
                 tokens_per_s: float | None, notes: list[str] | None = None) -> Text:
    label = Text()
    for note in notes or []:
        label.append_text(plain(note))
        label.append(" → ")
    label.append_text(plain(f"[{node}/{model}]"))
    tokens = "—" if tokens_out is None else str(tokens_out)
    label.append(f"  {numbers.duration(latency_ms)} · {tokens} tok · {numbers.rate(tokens_per_s)} tok/s")
    return label


class ChatPane(RememberedFrame, Vertical):
    """The conversation log and the prompt input."""

    BINDINGS = [
        Binding("ctrl+n", "app.new_conversation", "New chat"),
        Binding("ctrl+o", "app.open_conversations", "Chats"),
    ]

    def __init__(self, numbers: Numbers, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.numbers = numbers
        self.log_view = ChatLog(id="chat-log", can_focus=True)
        self.input = PromptInput(id="chat-input")
        self.title_bar = Static(Text("new conversation"), markup=False, id="chat-title")
        # Above the prompt while a node's GPUs are critical (>= 85 °C): the user's rule is that the prompt
        # carries the alert, since routing now moves work off that node.
        self.thermal_alert = Static("", markup=False, id="chat-thermal-alert")
        self.pending: AnswerEntry | None = None

    def compose(self) -> ComposeResult:
        yield self.title_bar
        with self.log_view:
            yield Static(Text("Ask the cluster anything. Enter sends, Ctrl+J adds a line, Up/Down recall."),
                         markup=False, classes="chat-hint")
        yield self.input

    def on_mount(self) -> None:
        # The log stays at its end while answers stream in, laid out there in the same pass as the new text,
        # until the user scrolls up; scrolling back to the end, or sending a prompt, anchors it again.
        self.log_view.anchor()
        # Hidden (tcss) until a node runs critical: mounted right after the first frame, which need not style it.
        self.call_after_refresh(self._mount_thermal_alert)

    def _mount_thermal_alert(self) -> None:
        if self.thermal_alert.parent is None:
            self.mount(self.thermal_alert, before=self.input)

    def show_thermal_alerts(self, alerts: list[str]) -> None:
        """One line per critical node above the prompt; hidden when there is none."""
        self._mount_thermal_alert()
        self.thermal_alert.update(plain("\n".join(alerts), 600))
        self.thermal_alert.set_class(bool(alerts), "-critical")

    def set_title(self, conversation_id: int | None, title: str = "") -> None:
        if conversation_id is None:
            self.title_bar.update(Text("new conversation"))
        else:
            self.title_bar.update(plain(f"conversation #{conversation_id}" + (f" · {title}" if title else ""), 120))

    async def clear(self) -> None:
        await self.log_view.remove_children()
        self.pending = None

    async def add_user(self, text: str) -> None:
        await self.log_view.mount(UserEntry(text))
        self.log_view.scroll_end(animate=False)

    async def add_pending_answer(self) -> AnswerEntry:
        entry = AnswerEntry(self.numbers)
        await self.log_view.mount(entry)
        entry.waiting("routing…")
        self.pending = entry
        self.log_view.scroll_end(animate=False)
        return entry

    async def add_stored_answer(self, text: str, label: Text) -> None:
        await self.log_view.mount(AnswerEntry(self.numbers, text, label))

