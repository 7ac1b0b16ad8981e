"""The chat pane's Markdown streaming: closing a stream must never end the app's message loop, streamed text
costs one layout per hand-over, and a long answer streams in chunks that look like one Markdown widget."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown

from jarvis_tui.paths import styles_dir
from jarvis_tui.ui import chat_pane
from jarvis_tui.ui.cells import Numbers
from jarvis_tui.ui.chat_pane import AnswerEntry, ChatLog, ChatPane, stop_markdown_stream


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


# A long answer with every kind of block: chunks may only start before a paragraph (see chat_pane._PARAGRAPH).
LONG_ANSWER = "".join(
    f"Paragraph {i}: some words that wrap at narrow widths, and more words after them.\n\n"
    + ("## A heading\n\n" if i % 6 == 0 else "")
    + ("- item a\n- item b\n\n  an indented paragraph of item b\n\n" if i % 3 == 0 else "")
    + ("```python\nx = 1\n\ny = 2\n```\n\n" if i % 4 == 1 else "")
    + ("1. one\n\n2. two\n\n" if i % 5 == 2 else "")
    + ("| a | b |\n|---|---|\n| 1 | 2 |\n\n" if i % 7 == 3 else "")
    + ("> quoted\n\n" if i % 8 == 4 else "")
    + ("Écrire en français aussi.\n\n" if i % 9 == 5 else "")
    for i in range(30)) + "The end."


class TallChat(App[None]):
    CSS_PATH = str(styles_dir() / "jarvis.tcss")

    def compose(self) -> ComposeResult:
        yield ChatLog(id="chat-log")


async def _answer_lines(streamed: bool) -> tuple[list[str], AnswerEntry]:
    app = TallChat()
    async with app.run_test(size=(90, 420)) as pilot:
        entry = AnswerEntry(Numbers(), "" if streamed else LONG_ANSWER)
        await app.query_one(ChatLog).mount(entry)
        if streamed:
            await entry.begin("r1", "M1", "model")
            for start in range(0, len(LONG_ANSWER), 7):  # token-sized fragments, handed over every 10
                await entry.write(LONG_ANSWER[start:start + 7])
                if start % 70 == 0:
                    await entry._flush()
                    await pilot.pause()
            await entry.finish(node="M1", model="model", latency_ms=1.0, tokens_out=1, tokens_per_s=1.0,
                               text=LONG_ANSWER)
        await pilot.pause()
        await pilot.pause()
        lines = [strip.text.rstrip() for strip in app.screen._compositor.render_strips()]
        return lines[2:], entry  # below the label


async def test_a_long_streamed_answer_is_chunked_and_looks_as_if_it_were_one_markdown():
    stored, single = await _answer_lines(streamed=False)
    streamed, chunked = await _answer_lines(streamed=True)
    assert len(single.chunks) == 1 and len(chunked.chunks) >= 3
    assert chunked.source == single.source == LONG_ANSWER
    for chunk in chunked.chunks[1:]:
        assert chunk.source.startswith(("Paragraph", "Écrire", "The end")), chunk.source[:40]
    assert "Paragraph 29" in "\n".join(stored)
    assert streamed == stored


@pytest.mark.parametrize(("source", "text", "split"), [
    ("Para one.\n\n", "Next para.\n", 0),
    ("Para one.\n", "\nNext para.\n", 1),
    ("Para one.\n\n", "Next par", 0),  # a letter starts a paragraph, whatever follows
    ("Para one.\n\n", "20", None),  # digits: "2024 was" or "20. an item", not known yet
    ("Para one.\n\n", "20 items", 0),
    ("Para one.\n\n", "\n\nNext", 2),
    ("```\ncode\n\n", "not a paragraph yet\n", None),  # inside a fenced code block
    ("```\ncode\n```\n\n", "After the fence.\n", 0),
    ("- item\n\n", "  indented: continues the item\n", None),
    ("Para.\n\n", "2. an ordered item\n", None),
    ("Para.\n\n", "# heading\n", None),
    ("Para.\n\n", "| a | b |\n", None),
    ("Para.\n\n", "> quote\n", None),
    ("Para.\n\n", "Élan, in French.\n", 0),
    ("Para.\n\n", "2024 was a year.\n", 0),
])
def test_where_a_chunk_may_end(source: str, text: str, split: int | None) -> None:
    entry = AnswerEntry(Numbers())
    entry._chunk_source = source
    assert entry._chunk_boundary(text) == split


async def test_a_hand_over_does_not_remeasure_the_blocks_of_earlier_chunks(monkeypatch):
    """Textual re-measures every block of a Markdown widget whose height changed; blocks in a finished chunk
    keep their size.  The control (one chunk for the whole answer) re-measures them on every hand-over."""

    async def measured_per_hand_over(chunk_blocks: int) -> float:
        monkeypatch.setattr(chat_pane, "CHUNK_BLOCKS", chunk_blocks)
        app = OneChat()
        async with app.run_test(size=(80, 24)) as pilot:
            entry = await app.query_one(ChatPane).add_pending_answer()
            await entry.begin("r1", "M1", "model")
            for i in range(12):
                await entry.write(f"Paragraph {i} of the answer, long enough to wrap on two lines at 80 columns.\n\n")
                await entry._flush()
                await pilot.pause(0.02)
            first_blocks = list(entry.chunks[0].children)[:4]
            calls = 0
            for block in first_blocks:
                def counting(*args, original=block.get_content_height):  # type: ignore[no-untyped-def]
                    nonlocal calls
                    calls += 1
                    return original(*args)
                block.get_content_height = counting  # type: ignore[method-assign]
            hand_overs = 5
            for i in range(hand_overs):
                await entry.write(f"More text {i} that grows the last paragraph. " * 3)
                await entry._flush()
                await pilot.pause(0.02)
            return calls / hand_overs

    assert await measured_per_hand_over(10**6) >= 1  # one chunk: the control
    assert await measured_per_hand_over(4) == 0


async def test_the_chat_containers_draw_blank_lines_without_rendering_them(monkeypatch):
    """The log, an answer and its Markdown chunk draw nothing of their own: with BLANK, a hand-over that grows the
    answer renders none of their lines through Textual's styles cache.  The control renders ~a screenful each."""

    async def container_lines_rendered(blank: bool) -> int:
        markdown_class = chat_pane.chat_markdown_class()
        for cls in (ChatLog, AnswerEntry, markdown_class):
            monkeypatch.setattr(cls, "BLANK", blank)
        app = OneChat()
        async with app.run_test(size=(80, 24)) as pilot:
            entry = await app.query_one(ChatPane).add_pending_answer()
            await entry.begin("r1", "M1", "model")
            await entry.write("The first words of the answer.\n\n")
            await entry._flush()
            await pilot.pause()
            rendered = 0
            for widget in (app.query_one(ChatLog), entry, entry.chunks[-1]):
                def counting(*args, original=widget._styles_cache.render_line):  # type: ignore[no-untyped-def]
                    nonlocal rendered
                    rendered += 1
                    return original(*args)
                widget._styles_cache.render_line = counting  # type: ignore[method-assign]
            for i in range(3):
                await entry.write(f"More words {i}, enough of them to wrap onto a new line at eighty columns. " * 2)
                await entry._flush()
                await pilot.pause()
            return rendered

    assert await container_lines_rendered(blank=False) > 10
    assert await container_lines_rendered(blank=True) == 0


async def test_a_streaming_answer_of_many_paragraphs_stays_in_view_until_the_user_scrolls_up(cluster):
    """The log follows a long streamed answer to its end; a user who scrolls up stays where they scrolled while
    it streams on, and End brings the log back to following it."""
    from jarvis_tui.ui.app import JarvisApp
    from tests.ui.pilot_helpers import wait_for, wait_ready

    paragraphs = "\n\n".join(" ".join(f"token{p * 60 + t}" for t in range(60)) for p in range(80))
    config, nodes = cluster(count=1, reply=paragraphs)
    nodes[0].set(tokens_per_s=300)  # 16 s of answer: it outlasts the test, which ends by closing the app
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_ready(pilot)
        log = app.chat.log_view

        async def grows(rows: int) -> None:
            start = log.max_scroll_y
            await wait_for(pilot, lambda: log.max_scroll_y >= start + rows, 10, f"{rows} more rows of the answer")

        app.chat.input.load_text("a long answer, please")
        await pilot.press("enter")
        await wait_for(pilot, lambda: log.max_scroll_y > 40, 10, "an answer taller than the log")
        for _ in range(4):  # new paragraphs keep mounting new blocks and chunks below the end
            await grows(10)
            assert log.max_scroll_y - log.scroll_y <= 1, (log.scroll_y, log.max_scroll_y)
        log.focus()
        await pilot.press("pageup")  # the user reads back
        await pilot.wait_for_animation()
        read_at = log.scroll_y
        assert log.max_scroll_y - read_at >= 20
        await grows(20)
        assert log.scroll_y == read_at  # still where the user scrolled
        await pilot.press("end")
        await pilot.wait_for_animation()
        for _ in range(2):
            await grows(10)
            assert log.max_scroll_y - log.scroll_y <= 1, (log.scroll_y, log.max_scroll_y)
        assert app.asking, "the answer was still streaming"
