"""The chat input under a burst of keys, as a terminal delivers a fast typist or a `tmux send-keys` line."""

from __future__ import annotations

from textual import events

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.cells import Numbers
from jarvis_tui.ui.chat_pane import AnswerEntry, UserEntry
from tests.ui.pilot_helpers import wait_for, wait_ready


def burst(app: JarvisApp, text: str) -> None:
    """Post every key at once, like the driver does for one read() of the terminal: no pause between them."""
    for character in text:
        app.post_message(events.Key(character, character))
    app.post_message(events.Key("enter", "\r"))


async def test_enter_in_a_burst_sends_the_whole_line(cluster):
    config, _nodes = cluster(count=1, reply="4")
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_ready(pilot)
        app.chat.input.focus()
        await pilot.pause()
        burst(app, "2+2")
        await wait_for(pilot, lambda: len(app.query(AnswerEntry)) == 1 and not app.asking, what="the answer")
        assert str(app.query_one(UserEntry).render()).strip() == "2+2"
        assert app.chat.input.text == ""
        assert app.chat.input.prompt_history == ["2+2"]
        # a second prompt stays in the same conversation, still named by its first prompt
        burst(app, "3+3")
        await wait_for(pilot, lambda: len(app.query(AnswerEntry)) == 2 and not app.asking, what="second answer")
        assert str(app.chat.title_bar.render()) == f"conversation #{app.conversation_id} · 2+2"


def test_durations_carry_their_unit():
    numbers = Numbers()
    assert numbers.duration(889.4) == "889 ms"
    assert numbers.duration(1234) == "1.2 s"
    assert numbers.duration(12_345) == "12 s"
    assert numbers.duration(None) == "—"
    assert Numbers(mask=True).duration(889) == Numbers(mask=True).ms(889)
