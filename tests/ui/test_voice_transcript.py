"""A spoken prompt reaches the screen before its answer's placeholder and its ask (docs/voice.md, Latency).

Release -> transcript on screen is voice's latency; mounting the answer's placeholder and starting the ask went
ahead of the frame that showed the transcript.  These tests drive the cockpit's real path (the voice service's
``TranscriptReady`` on the core bus, the bus pump, the app's handler) over loopback nodes, and watch the frames
the app hands to its driver.
"""

from __future__ import annotations

from typing import Any

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.chat_pane import AnswerEntry, UserEntry
from jarvis_tui.voice.events import TranscriptReady
from tests.ui.pilot_helpers import wait_for, wait_ready

SIZE = (160, 48)
SPOKEN = "Jarvis, what is the capital of France?"
REPLY = "Paris."


def watch_frames(app: JarvisApp) -> list[tuple[int, int]]:
    """(user entries, answer entries) in the DOM at each frame the app displays."""
    frames: list[tuple[int, int]] = []
    display = app._display

    def counting(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if renderable is not None:
            frames.append((len(app.query(UserEntry)), len(app.query(AnswerEntry))))

    app._display = counting  # type: ignore[method-assign]
    return frames


async def test_a_spoken_prompt_is_painted_before_its_answer_starts(cluster):
    config, nodes = cluster(count=1, reply=REPLY)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        frames = watch_frames(app)
        app.bus.publish(TranscriptReady(text=SPOKEN, raw_text=SPOKEN, corrected=False))
        await wait_for(pilot, lambda: bool(app.query(AnswerEntry)) and not app.asking, 15, "the answer")
        first_with_prompt = next(frame for frame in frames if frame[0])
        assert first_with_prompt == (1, 0)  # the prompt on screen, its answer not mounted yet
        entries = list(app.query("#chat-log > *"))
        assert [type(w) for w in entries][-2:] == [UserEntry, AnswerEntry]
        assert app.query_one(AnswerEntry).body.source == REPLY
        assert nodes[0].last_chat_json()["messages"][-1]["content"] == SPOKEN


async def test_a_typed_prompt_still_mounts_its_answer_in_the_same_step(cluster):
    config, _ = cluster(count=1, reply=REPLY)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await app.submit_prompt("what is 2+2?")
        assert len(app.query(AnswerEntry)) == 1 and app.asking  # placeholder and ask before the next frame
        await wait_for(pilot, lambda: not app.asking, 15, "the answer")
        assert app.query_one(AnswerEntry).body.source == REPLY


async def test_esc_before_a_spoken_prompt_is_asked_cancels_it(cluster):
    config, nodes = cluster(count=1, reply=REPLY)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await app.submit_prompt(SPOKEN, show_first=True)
        assert app.asking and not app.query(AnswerEntry)  # on screen at the next frame; not asked yet
        app.action_cancel_ask()  # Esc, before that frame
        await wait_for(pilot, lambda: not app.asking, 10, "the cancelled ask to end")
        entry = app.query_one(AnswerEntry)
        assert entry.has_class("-failed") and "cancelled" in str(entry.label.render())
        await pilot.pause(0.3)
        assert not nodes[0].chat_requests()  # never sent
        # and the next prompt is asked as usual
        app.bus.publish(TranscriptReady(text=SPOKEN, raw_text=SPOKEN, corrected=False))
        await wait_for(pilot, lambda: len(app.query(AnswerEntry)) == 2 and not app.asking, 15, "the answer")
        assert list(app.query(AnswerEntry))[-1].body.source == REPLY
