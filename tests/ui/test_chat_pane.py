"""The chat pane's Markdown streaming: closing a stream must never end the app's message loop, and streamed
text costs one layout per hand-over."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown

from jarvis_tui.ui.cells import Numbers
from jarvis_tui.ui.chat_pane import ChatPane, stop_markdown_stream


class OneMarkdown(App[None]):
    def compose(self) -> ComposeResult:
        yield Markdown("")


async def test_textual_reraises_the_cancel_of_a_stream_stopped_before_it_ran():
    """The Textual behaviour the wrapper exists for: if this stops failing, the wrapper may go."""
    app = OneMarkdown()
    async with app.run_test():
        stream = Markdown.get_stream(app.query_one(Markdown))  # its writer task has not run a step yet
        with pytest.raises(asyncio.CancelledError):
            await stream.stop()


async def test_stopping_a_stream_before_it_ran_keeps_the_app_alive():
    app = OneMarkdown()
    async with app.run_test() as pilot:
        markdown = app.query_one(Markdown)
        stream = Markdown.get_stream(markdown)
        await stop_markdown_stream(stream)  # the fallback case: opened, then closed in the same batch
        stream = Markdown.get_stream(markdown)
        await stream.write("**still** rendering")
        await stop_markdown_stream(stream)
        await pilot.pause()
        assert app.is_running
        assert markdown.source == "**still** rendering"


async def test_the_callers_own_cancellation_still_propagates():
    app = OneMarkdown()
    async with app.run_test():
        reached_the_end = False

        async def closer() -> None:
            nonlocal reached_the_end
            stream = Markdown.get_stream(app.query_one(Markdown))  # not run yet, as in the fallback case
            asyncio.current_task().cancel()  # this task is being cancelled while it closes the stream
            await stop_markdown_stream(stream)
            reached_the_end = True

        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(closer())
        assert not reached_the_end


class PlainLog(App[None]):
    """The chat log's structure built from Textual's own widgets: a scroll of answers, each with a Markdown."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(), Vertical():
            yield Markdown("")


class OneChat(App[None]):
    def compose(self) -> ComposeResult:
        yield ChatPane(Numbers())


async def _layouts_per_hand_over(app: App[None], hand_over) -> float:  # type: ignore[no-untyped-def]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        layouts = 0
        refresh_layout = app.screen._refresh_layout

        def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal layouts
            layouts += 1
            return refresh_layout(*args, **kwargs)

        app.screen._refresh_layout = counting  # type: ignore[method-assign]
        hand_overs = 6
        for i in range(hand_overs):
            await hand_over(app, f"sentence {i} of one paragraph that grows by two lines each time. " * 2)
            for _ in range(3):
                await pilot.pause(0.02)
        return layouts / hand_overs


async def test_textual_lays_the_screen_out_twice_per_hand_over_of_streamed_text():
    """What OneLayoutPerChange exists for; if this stops failing after a Textual upgrade, the mixin may go."""
    streams = {}

    async def hand_over(app, text):  # type: ignore[no-untyped-def]
        if not streams:
            streams["stream"] = Markdown.get_stream(app.query_one(Markdown))
        await streams["stream"].write(text)

    assert await _layouts_per_hand_over(PlainLog(), hand_over) >= 1.8


async def test_the_chat_lays_the_screen_out_once_per_hand_over_of_streamed_text():
    entries = {}

    async def hand_over(app, text):  # type: ignore[no-untyped-def]
        pane = app.query_one(ChatPane)
        if "entry" not in entries:
            entries["entry"] = entry = await pane.add_pending_answer()
            await entry.begin("r1", "M1", "model")
        entry = entries["entry"]
        await entry.write(text)
        await entry._flush()

    assert await _layouts_per_hand_over(OneChat(), hand_over) <= 1.5  # the first one also mounts the answer
