"""The cockpit's compositor arranges the widget tree once per layout and keeps a correct map of it."""

from __future__ import annotations

from textual._compositor import Compositor

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screen_compositor import KeptMapCompositor
from jarvis_tui.ui.status_bar import StatusBar
from tests.ui.pilot_helpers import wait_ready


async def test_a_layout_with_an_off_screen_change_arranges_the_tree_once(cluster, monkeypatch):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=(80, 24)) as pilot:  # tabs: one pane shown, the others off screen
        await wait_ready(pilot)
        screen = app.screen
        compositor = screen._compositor
        assert isinstance(compositor, KeptMapCompositor)
        off_screen = app.query_one("#nodes-table")
        assert off_screen not in compositor.visible_widgets
        counts = {"reflows": 0, "whole tree arranged": 0}
        arrange, reflow = Compositor._arrange_root, KeptMapCompositor.reflow

        def counting_arrange(self, root, size, visible_only=True):  # type: ignore[no-untyped-def]
            counts["whole tree arranged"] += not visible_only
            return arrange(self, root, size, visible_only)

        def counting_reflow(self, parent, size):  # type: ignore[no-untyped-def]
            counts["reflows"] += 1
            return reflow(self, parent, size)

        monkeypatch.setattr(Compositor, "_arrange_root", counting_arrange)
        monkeypatch.setattr(KeptMapCompositor, "reflow", counting_reflow)
        for _ in range(3):
            off_screen.refresh(layout=True)  # a change below the fold, as a new streamed Markdown block
            app.query_one(StatusBar).refresh()  # and something on screen to draw, which reads its region
            await pilot.pause()
        # Each layout's reflow arranged the whole tree, and nothing arranged it a second time.
        assert counts["reflows"] >= 3
        assert counts["whole tree arranged"] == counts["reflows"], counts
        monkeypatch.setattr(Compositor, "_arrange_root", arrange)
        # The map kept is the one a fresh arrangement of the whole tree gives.
        fresh, _ = arrange(compositor, screen, compositor.size, visible_only=False)
        assert {widget: geometry.region for widget, geometry in fresh.items()} == {
            widget: screen.find_widget(widget).region for widget in fresh}


async def test_a_partial_update_draws_only_the_widgets_in_the_changed_areas_and_writes_the_same(cluster):
    """Two changed areas far apart (the status line and the chat input): the widgets between them are not drawn,
    and what goes to the terminal is what Textual's own partial update writes."""
    from textual.geometry import Region

    from jarvis_tui.ui.key_bar import KeyBar

    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_ready(pilot)
        screen = app.screen
        compositor = screen._compositor
        await pilot.pause()
        compositor._dirty_regions.clear()
        status, prompt = app.query_one(StatusBar), app.chat.input
        changed = {Region(0, status.region.y, 40, 1), Region(*prompt.region.offset, 20, 1)}
        drawn: list[str] = []
        for widget in screen.walk_children():
            original = widget.render_lines

            def counting(crop, widget=widget, original=original):  # type: ignore[no-untyped-def]
                drawn.append(type(widget).__name__)
                return original(crop)

            widget.render_lines = counting  # type: ignore[method-assign]

        compositor._dirty_regions.update(changed)
        textual_update = Compositor.render_partial_update(compositor)
        textual_drawn, drawn[:] = list(drawn), []
        compositor._dirty_regions.update(changed)
        kept_update = compositor.render_partial_update()

        assert kept_update.render_segments(app.console) == textual_update.render_segments(app.console)
        assert "KeyBar" in textual_drawn and "KeyBar" not in drawn  # the bottom line is outside both areas
        assert set(drawn) >= {"StatusBar", "PromptInput"}
        assert len(drawn) < len(textual_drawn)
        assert app.query_one(KeyBar).region.y > prompt.region.y
