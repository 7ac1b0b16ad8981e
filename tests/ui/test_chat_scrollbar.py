"""The chat log's scrollbar redraws only the rows that changed, and draws what a full redraw draws."""

from __future__ import annotations

from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import Static

from jarvis_tui.ui.chat_pane import ChatLog
from jarvis_tui.ui.chat_scrollbar import ChatScrollBar


class LogApp(App[None]):
    CSS = "ChatLog { height: 1fr; }"

    def compose(self) -> ComposeResult:
        with ChatLog(id="log"):
            for number in range(60):
                yield Static(f"line {number}")


async def test_growing_and_scrolling_redraws_few_rows_and_the_same_lines_as_a_full_redraw(monkeypatch):
    app = LogApp()
    async with app.run_test(size=(60, 40)) as pilot:
        log = app.query_one(ChatLog)
        await pilot.pause()
        bar = log.vertical_scrollbar
        assert isinstance(bar, ChatScrollBar)
        crop = Region(0, 0, *bar.size)
        drawn_rows: list[int] = []
        render_line = StylesCache.render_line

        def counting(cache, styles, y, *args, **kwargs):  # type: ignore[no-untyped-def]
            if cache is bar._styles_cache:
                drawn_rows.append(y)
            return render_line(cache, styles, y, *args, **kwargs)

        monkeypatch.setattr(StylesCache, "render_line", counting)
        rows_per_change = []
        for step in range(12):
            drawn_rows.clear()
            if step < 8:  # an answer streaming in: the log grows and stays scrolled to its end
                await log.mount(Static(f"more {step}"))
                log.scroll_end(animate=False)
            else:  # the user scrolls up: the thumb jumps
                log.scroll_to(y=step * 3, animate=False)
            await pilot.pause()
            shown = bar.render_lines(crop)
            rows_per_change.append(len(drawn_rows))
            bar._set_dirty()  # what Textual's ScrollBar does on every change: all rows drawn again
            assert bar.render_lines(crop) == shown, f"step {step}"
        # A Textual ScrollBar draws all its 40 rows for every change; while the log grows, this one draws the
        # few rows at the thumb's ends (the first change draws all: nothing was drawn before it).
        assert max(rows_per_change[1:8]) <= 8, rows_per_change


async def test_a_new_colour_is_drawn_as_a_full_redraw_draws_it():
    app = LogApp()
    async with app.run_test(size=(60, 40)) as pilot:
        log = app.query_one(ChatLog)
        await pilot.pause()
        bar = log.vertical_scrollbar
        crop = Region(0, 0, *bar.size)
        before = bar.render_lines(crop)
        log.styles.scrollbar_background = "red"
        await pilot.pause()
        after = bar.render_lines(crop)
        assert after != before
        bar._set_dirty()
        assert bar.render_lines(crop) == after
