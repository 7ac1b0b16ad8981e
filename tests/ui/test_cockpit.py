"""Pilot tests of the cockpit against real loopback nodes, a real orchestrator and a real SQLite file."""

from __future__ import annotations

import re

import pytest
from textual import events

from jarvis_tui.ui.app import ACTIVE_TITLE_STYLE, PANE_IDS, JarvisApp
from jarvis_tui.ui.chat_pane import AnswerEntry, UserEntry
from jarvis_tui.ui.key_bar import KeyBar
from jarvis_tui.ui.tab_strip import TabStrip
from jarvis_tui.ui.screens.conversations_screen import ConversationsScreen
from jarvis_tui.ui.screens.help_screen import HelpScreen
from jarvis_tui.ui.screens.node_detail_screen import NodeDetailScreen
from tests.fakes.loopback_node import Fault
from tests.ui.pilot_helpers import ask, wait_for, wait_ready

SIZE = (160, 48)
LATER_CSS_SUFFIXES = ("gpu_cards.tcss", "screens.tcss")
REPLY = "The answer is **4**.\n\n- first\n- second"


def pane_of(app: JarvisApp) -> str | None:
    focused = app.focused
    for pane_id in PANE_IDS:
        if focused is not None and app.query_one(f"#{pane_id}") in focused.ancestors_with_self:
            return pane_id
    return None


async def test_answer_streams_as_markdown_with_label(cluster):
    config, nodes = cluster(reply=REPLY, tokens_per_s=400)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await ask(pilot, "what is 2+2?")
        answers = list(app.query(AnswerEntry))
        assert len(answers) == 1
        label = str(answers[0].label.render())
        assert re.fullmatch(r"\[M2/deepseek-coder-v2-lite\]  \d+ ms · \d+ tok · [\d.]+ tok/s", label), label
        assert answers[0].body.source == REPLY
        assert "".join(answers[0].streamed) == REPLY
        # the answer streamed in pieces through the bus, not as one update
        assert app.pumps[0].events > 3
        rows = await app.orchestrator.store.messages(app.conversation_id)
        assert [m.role for m in rows] == ["user", "assistant"] and rows[1].content == REPLY
        assert [type(w) for w in app.query("#chat-log > *")][-2:] == [UserEntry, AnswerEntry]


async def test_untrusted_output_is_shown_literally_and_never_reaches_the_terminal(cluster):
    hostile = ("[bold red]RED[/] [link=http://evil]x[/link] \x1b]52;c;cHduZWQ=\x07 \x1b[2J\x1b]0;title\x07 \x9b31m end")
    config, _ = cluster(count=1, reply=hostile)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await ask(pilot, "say something [bold]odd[/bold]")
        entry = app.query_one(AnswerEntry)
        assert "\x1b" not in entry.body.source and "\x07" not in entry.body.source and "\x9b" not in entry.body.source
        assert "[bold red]RED[/]" in entry.body.source
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x07" not in svg
        text = svg.replace("&#160;", " ")
        assert "[bold&#160;red]RED[/]".replace("&#160;", " ") in text  # markup shown, not applied
        assert "␛]52;c;" in text  # the escape is visible as a control picture
        user = app.query_one(UserEntry)
        assert "[bold]odd[/bold]" in str(user.render())


async def test_prompt_history_and_multiline_paste(cluster):
    config, _ = cluster(count=1, reply="ok")
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await ask(pilot, "first")
        await ask(pilot, "second")
        box = app.chat.input
        box.load_text("draft")
        await pilot.press("up")
        assert box.text == "second"
        await pilot.press("up")
        assert box.text == "first"
        await pilot.press("down")
        assert box.text == "second"
        await pilot.press("down")
        assert box.text == "draft"
        box.load_text("")
        app.post_message(events.Paste("line one\nline two\nline three"))  # as the driver delivers it
        await pilot.pause(0.1)
        assert box.text == "line one\nline two\nline three"
        await pilot.press("ctrl+j", "x")
        assert box.text.endswith("\nx")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.asking and len(app.query(AnswerEntry)) == 3, 10, "third answer")
        assert str(app.query(UserEntry).last().render()) == "line one\nline two\nline three\nx"


async def test_number_keys_focus_and_zoom_panes_tab_moves_focus(cluster):
    config, _ = cluster(count=2)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        assert pane_of(app) == "chat"
        await pilot.press("escape")  # leave the input so number keys are commands
        for number, pane_id in zip("23451", ("nodes", "gpu", "consensus", "positions", "chat"), strict=True):
            app.set_focus(None)
            await pilot.press(number)
            assert app.active_pane == pane_id
            assert app.query_one(f"#{pane_id}").has_class("-active")
            # _mark_active restyles the panes alone: the highlight must still be applied, and moved.
            borders = {p: app.query_one(f"#{p}").styles.border_top for p in PANE_IDS}
            assert [p for p in PANE_IDS if borders[p] == borders[pane_id]] == [pane_id]
            assert [p for p in PANE_IDS if app.query_one(f"#{p}").has_class("-active")] == [pane_id]
            if pane_id == "nodes":  # the key bar shows the focused pane's bindings
                await wait_for(pilot, lambda: "Sort" in app.query_one(KeyBar).render().plain, what="Sort key")
        app.set_focus(None)
        await pilot.press("2")
        assert pane_of(app) == "nodes"
        await pilot.press("2")  # the focused pane's number zooms it
        assert app.screen.has_class("-zoomed")
        assert not app.query_one("#chat").display or app.query_one("#chat").region.width == 0
        await pilot.press("z")
        assert not app.screen.has_class("-zoomed")
        before = app.focused
        await pilot.press("tab")
        assert app.focused is not before
        await pilot.press("shift+tab")
        assert app.focused is before


def test_active_class_styles_only_the_pane_itself():
    """JarvisApp._mark_active restyles the panes alone; a rule styling a descendant through -active would go stale."""
    from jarvis_tui.paths import styles_dir

    files = sorted(styles_dir().glob("*.tcss"))
    assert len(files) >= 3  # jarvis.tcss and the LATER_CSS files
    css = re.sub(r"/\*.*?\*/", "", "\n".join(path.read_text() for path in files), flags=re.DOTALL)
    for block in re.findall(r"([^{}]+)\{", css):
        for selector in block.split(","):
            parts = selector.split()
            for i, part in enumerate(parts):
                if ".pane" in part and "-active" in part:
                    assert i == len(parts) - 1, f"descendant styled through .pane.-active: {selector.strip()}"


async def test_pane_switch_repaints_the_panes_not_their_contents(cluster):
    """Moving ``-active`` repaints the two panes' borders and titles only.  A colour rule under ``.pane.-active``
    (``border-title-color`` was one) makes Textual repaint each pane's whole subtree on every switch."""
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        app.set_focus(None)
        await pilot.press("3")
        await pilot.pause()
        gpu = app.query_one("#gpu")
        contents = list(gpu.query("*"))
        assert contents
        repainted: list[str] = []
        for widget in contents:  # render() runs when a widget's cached lines were dropped
            def render(widget=widget, original=widget.render):  # type: ignore[no-untyped-def]
                repainted.append(repr(widget))
                return original()
            widget.render = render  # type: ignore[method-assign]
        gpu.refresh()  # the control: a repaint of the pane itself keeps its contents' lines
        await pilot.pause()
        app.set_focus(None)
        await pilot.press("4")
        await pilot.pause()
        assert app.active_pane == "consensus" and not gpu.has_class("-active")
        consensus_title = app.query_one("#consensus").border_title
        assert gpu.border_title == "3 GPU" and consensus_title == f"[{ACTIVE_TITLE_STYLE}]4 Consensus[/{ACTIVE_TITLE_STYLE}]"
        assert repainted == []


async def test_gpu_card_and_modal_styles_arrive_after_the_first_frame(cluster):
    """LATER_CSS is not parsed for the first frame, yet a modal screen opened afterwards is styled by it."""
    from jarvis_tui.paths import styles_dir
    from jarvis_tui.ui.app import LATER_CSS

    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    later = {str((styles_dir() / name).resolve()) for name in LATER_CSS}
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        assert app.first_paint_s is not None
        assert later <= {path for path, _ in app.stylesheet.source}
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help screen")
        box = app.screen.query_one("#help-box")
        assert box.styles.width is not None and box.styles.width.value == 90  # screens.tcss
        assert box.region.x > 0  # centred: `align: center middle` on HelpScreen


async def test_a_screen_pushed_before_the_first_frame_callback_is_styled(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        app._later_css_added = False  # as if the first frame's callback had not run yet
        for key in [key for key in app.stylesheet.source if key[0].endswith(LATER_CSS_SUFFIXES)]:
            del app.stylesheet.source[key]
        app.stylesheet.parse()
        app.action_help()
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.query("#help-box"),
                       what="help screen")
        box = app.screen.query_one("#help-box")
        assert box.styles.width is not None and box.styles.width.value == 90


@pytest.mark.parametrize(("size", "classes"), [((160, 48), {"-wide", "-tall"}), ((80, 24), {"-narrow", "-short"})])
async def test_the_start_never_restyles_the_whole_screen(cluster, size, classes):
    """The breakpoint classes are on the screen before anything is styled, so its first Resize changes nothing;
    setting them then restyled every widget right after the first frame (and a small terminal showed the grid
    for one frame)."""
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    whole_screen = []
    update_nodes = app.stylesheet.update_nodes

    def spy(nodes, animate=False):
        nodes = list(nodes)
        if any(node is app.screen for node in nodes):
            whole_screen.append(len(nodes))
        return update_nodes(nodes, animate=animate)

    app.stylesheet.update_nodes = spy
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot)
        assert classes <= set(app.screen.classes)
        assert whole_screen == []


async def test_key_bar_click_presses_the_key(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        bar = app.query_one(KeyBar)
        bar.render()
        start = next(x for x, _end, key in bar._hits if key == "f1")  # the chat input has focus: "?" is text
        await pilot.click(KeyBar, offset=(start, 0))
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help screen")


async def test_key_bar_draws_each_set_of_bindings_once_per_theme(cluster):
    """A pane switch moves between a few sets of bindings; the key bar draws each set once and reuses the line
    (and where its keys are) when they come back, until the theme changes its colours."""
    from textual.geometry import Region

    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        bar = app.query_one(KeyBar)
        drawn: list[str] = []
        original = bar.render

        def render():  # type: ignore[no-untyped-def]
            drawn.append(app.active_pane)
            return original()

        bar.render = render  # type: ignore[method-assign]

        def line() -> tuple[str, list[tuple[int, int, str]]]:
            strip = bar.render_lines(Region(0, 0, bar.size.width, 1))[0]
            return strip.text, list(bar._hits)

        await pilot.pause()
        chat_line = line()
        for pane in ("nodes", "chat", "nodes", "chat", "nodes"):
            app.focus_pane(pane)
            await pilot.pause()
            text, hits = line()
            assert ("Sort" in text) == (pane == "nodes"), text
            if pane == "chat":
                assert (text, hits) == chat_line
        assert drawn == ["nodes"]  # the chat's line was drawn before; the nodes' line once

        dark_nodes = bar.render_lines(Region(0, 0, bar.size.width, 1))[0]
        app.theme = "nord"
        await pilot.pause()
        bar.refresh()  # whatever Textual repaints after a theme change, the line is drawn in the new colours
        assert bar.render_lines(Region(0, 0, bar.size.width, 1))[0] != dark_nodes
        assert drawn == ["nodes", "nodes"]


async def test_a_pane_draws_its_frame_once_per_look(cluster, monkeypatch):
    """Pane switches back and forth draw each pane's own lines (border, title, background) once per look, active
    or not; the lines given back are the ones Textual draws for that look."""
    from collections import Counter

    from textual._styles_cache import StylesCache
    from textual.geometry import Region

    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        drawn: Counter[str] = Counter()
        original = StylesCache.render_widget

        def render_widget(cache, widget, crop):  # type: ignore[no-untyped-def]
            if widget.id in PANE_IDS:
                drawn[widget.id] += 1
            return original(cache, widget, crop)

        monkeypatch.setattr(StylesCache, "render_widget", render_widget)
        looks: dict[tuple[str, bool], list] = {}
        for pane_id in ("nodes", "gpu", "nodes", "gpu", "nodes"):
            app.focus_pane(pane_id)
            await pilot.pause()
            for pane in app.query(".pane"):
                lines = pane.render_lines(Region(0, 0, *pane.region.size))
                assert lines == original(StylesCache(), pane, Region(0, 0, *pane.region.size))  # as Textual draws it
                looks.setdefault((pane.id, pane.has_class("-active")), lines)
        # Each pane drawn once per look it took since the counting began: nodes and gpu active, chat inactive.
        assert drawn == Counter({"nodes": 1, "gpu": 1, "chat": 1}), drawn
        assert looks[("nodes", True)] != looks[("nodes", False)]


async def test_key_bar_fits_80_columns_with_help_and_palette(cluster):
    """At 80 columns the keys are packed and the app's last keys left out; help, the palette key and the focused
    pane's keys stay, and a click still lands on the key drawn there."""
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        await pilot.press("escape", "2")
        bar = app.query_one(KeyBar)
        await wait_for(pilot, lambda: "Sort" in bar.render().plain, what="nodes keys")
        text = bar.render().plain
        assert len(text) <= 80 and text.rstrip().endswith("palette"), text
        for shown in ("Details", "Sort", "? Help", "12345 Pane"):
            assert shown in text, (shown, text)
        assert "Chats" not in text  # left out (the help screen and the palette list it)
        start = next(x for x, _end, key in bar._hits if key == "question_mark")
        await pilot.click(KeyBar, offset=(start, 0))
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help screen")


async def test_small_terminal_shows_one_pane_with_tabs(cluster):
    config, _ = cluster(count=2)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        assert app.screen.has_class("-narrow") and app.screen.has_class("-short")
        tabs = app.query_one("#pane-tabs")
        assert tabs.display and tabs.region.height > 0
        await pilot.press("escape")
        for number, pane_id in zip("23451", ("nodes", "gpu", "consensus", "positions", "chat"), strict=True):
            app.set_focus(None)
            await pilot.press(number)
            visible = [p for p in PANE_IDS if app.query_one(f"#{p}").region.height > 0]
            assert visible == [pane_id]
        strip = app.query_one(TabStrip)
        assert strip.active == "chat"
        start = next(x for x, _end, pane in strip._spans if pane == "gpu")
        await pilot.click(TabStrip, offset=(start + 1, 0))  # a click on a tab shows its pane
        await wait_for(pilot, lambda: app.active_pane == "gpu" and strip.active == "gpu", what="gpu tab")


async def test_help_screen_lists_every_binding(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await pilot.press("f1")  # works while typing
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(str(w.render()) for w in app.screen.query(".help-section"))
        for binding in app.BINDINGS:
            assert binding.description in text
            assert app.get_key_display(binding) in text
        assert "question_mark" not in text and "?" in text
        for needed in ("^p", "^t", "Details", "Sort", "Close pos.", "Signals", "Send", "Prompt history"):
            assert needed in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)


async def test_nodes_table_sorts_and_opens_details_without_the_key(cluster, monkeypatch):
    monkeypatch.setenv("JARVIS_TEST_SECRET", "sk-very-secret-value-123")
    config, nodes = cluster(count=3, reply="ok")
    import dataclasses

    first = dataclasses.replace(config.nodes[0], api_key_env="JARVIS_TEST_SECRET",
                                url=config.nodes[0].url + "/v1?key=sk-very-secret-value-123")
    config = dataclasses.replace(config, nodes=(first, *config.nodes[1:]))
    nodes[0].set(api_key=None)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        table = app.query_one("#nodes-table")
        names = [table.get_row_at(i)[1].plain for i in range(table.row_count)]
        assert names == sorted(names)
        await pilot.press("escape", "2")
        await pilot.press("s")  # next sort: weight, heaviest first
        names = [table.get_row_at(i)[1].plain for i in range(table.row_count)]
        assert names == ["M2", "OL1", "M3"]
        table.move_cursor(row=0)
        await pilot.press("enter")
        assert isinstance(app.screen, NodeDetailScreen)
        detail = str(app.screen.query_one("#node-detail-text").render())
        assert "M2" in detail and nodes[0].url in detail
        assert "sk-very-secret" not in detail and "key=" not in detail
        assert "from $JARVIS_TEST_SECRET" in detail
        assert "deepseek-coder-v2-lite" in detail  # loaded models from the health check
        await pilot.press("escape")
        assert not isinstance(app.screen, NodeDetailScreen)


async def test_failing_node_falls_back_and_notifies(cluster):
    config, nodes = cluster(count=2, reply="fine")
    nodes[0].set(fault=Fault.HTTP_500)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await ask(pilot, "hello")
        entry = app.query_one(AnswerEntry)
        label = str(entry.label.render())
        assert label.startswith("M2 http_error → [OL1/qwen3:1.7b]"), label
        assert entry.body.source == "fine"
        messages = [n.message for n in app._notifications]
        assert any("M2 failed (http_error)" in m for m in messages), messages


async def test_no_node_answers_shows_error_not_crash(cluster):
    config, nodes = cluster(count=1)
    nodes[0].stop()
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await ask(pilot, "anyone?")
        entry = app.query_one(AnswerEntry)
        assert entry.has_class("-failed")
        assert "no node could answer" in str(entry.label.render())
        assert app.is_running


async def test_conversations_new_list_and_switch(cluster):
    config, _ = cluster(count=1, reply="stored answer")
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await ask(pilot, "first conversation")
        first_id = app.conversation_id
        await pilot.press("ctrl+n")
        assert app.conversation_id is None
        assert not app.query(AnswerEntry)
        await ask(pilot, "second conversation")
        assert app.conversation_id != first_id
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen), 5, "list")
        assert [c.id for c in app.screen.conversations][-1] == first_id
        option_list = app.screen.query_one("#conversations-list")
        option_list.highlighted = option_list.get_option_index(str(first_id))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.conversation_id == first_id and len(app.query(AnswerEntry)) == 1, 5,
                       "switch")
        assert str(app.query_one(UserEntry).render()) == "first conversation"
        assert app.query_one(AnswerEntry).body.source == "stored answer"


async def test_health_check_key(cluster):
    config, nodes = cluster(count=2)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        nodes[1].stop()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("health check: 1/2" in n.message for n in app._notifications), 10,
                       "health")
        await wait_for(pilot, lambda: app.status_bar.state.healthy == 1, 5, "status bar")


async def test_push_to_talk_key_reports_voice_state(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset({"voice"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        assert "ctrl+t" in app.status_bar.state.voice
        await pilot.press("ctrl+t")
        # No sound card on CI: the real capture path reports why, once, and the cockpit keeps working.
        await wait_for(pilot, lambda: app.status_bar.state.voice.startswith("voice"), 30, "voice state")
        await wait_for(pilot, lambda: "starting" not in app.status_bar.state.voice, 30, "voice settled")
        assert app.is_running


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_quit_closes_everything(cluster, key):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        store = app.orchestrator.store
        bus = app.bus
        if key == "q":
            await pilot.press("escape")
        await pilot.press(key)
        await pilot.pause(0.2)
    assert store._db is None
    assert bus.subscriber_count == 0
    assert app.return_code == 0


async def test_node_refresh_during_teardown_is_a_no_op(cluster):
    """The 0.5 s nodes timer can fire after the screen's panes are removed and before shutdown runs (CI saw
    NoMatches for NodesPane as a Pilot test left run_test): it must skip, not raise into the app."""
    from jarvis_tui.ui.nodes_pane import NodesPane

    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await app.query_one(NodesPane).remove()
        app._nodes_dirty = True
        app._refresh_nodes()
        await pilot.pause(0.6)  # one more tick of the real timer
        assert app.is_running and app._exception is None


async def test_node_refresh_while_the_pane_is_pruned_is_a_no_op(cluster):
    """Textual prunes a removed pane's children first: the timer can tick while the pane is still queryable and
    its table is already detached, without component styles (KeyError 'nodes--up' in one CI run)."""
    from jarvis_tui.ui.nodes_pane import NodesPane

    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        pane = app.query_one(NodesPane)
        await pane.table.remove()  # the state mid-prune: pane present, table gone
        assert app.query(NodesPane)
        app._nodes_dirty = True
        app._refresh_nodes()
        await pilot.pause(0.6)
        assert app.is_running and app._exception is None


async def test_node_refresh_while_textual_shuts_down_is_a_no_op(cluster, monkeypatch):
    """Textual's _shutdown clears is_running, then closes the screens (the table loses its component styles:
    KeyError 'nodes--up' in one CI-like run) before the app's own shutdown stops the timer."""
    from jarvis_tui.ui.nodes_pane import NodesPane

    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        drawn: list[object] = []
        monkeypatch.setattr(app.query_one(NodesPane), "show", lambda *args: drawn.append(args))
        app._nodes_dirty = True
        app._running = False
        try:
            app._refresh_nodes()  # must not draw
        finally:
            app._running = True
        assert drawn == []
        app._refresh_nodes()  # running again: it draws
        assert len(drawn) == 1
