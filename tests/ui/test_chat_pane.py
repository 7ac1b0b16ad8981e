"""The chat pane's Markdown streaming: closing a stream must never end the app's message loop."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Markdown

from jarvis_tui.ui.chat_pane import stop_markdown_stream


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
