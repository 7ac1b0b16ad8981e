"""A key's frame comes first: streamed text waits for it, and it is drawn without waiting for the frame timer."""

from __future__ import annotations

import asyncio
import time

from textual import events

from jarvis_tui.ui import app as app_module
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.chat_pane import INPUT_RETRY_S, STREAM_FLUSH_ACTIVE_S, STREAM_FLUSH_S, AnswerEntry
from tests.ui.pilot_helpers import wait_ready

SIZE = (160, 48)


async def _streaming(pilot, app: JarvisApp, first: str) -> AnswerEntry:  # type: ignore[no-untyped-def]
    """An answer streaming on the real app, its first text handed over."""
    await wait_ready(pilot)
    entry = await app.chat.add_pending_answer()
    await entry.begin("r1", "M2", "model")
    await entry.write(first)
    await entry._flush()
    await pilot.pause()
    assert entry.source == first
    return entry


async def test_streamed_text_waits_for_the_frame_of_a_key(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        entry = await _streaming(pilot, app, "first words ")
        app._last_key_at = time.monotonic()  # a key came
        assert app.input_waiting()
        await entry.write("held back")
        await entry._flush()
        assert entry.source == "first words "  # held for the key's frame, and tried again shortly
        assert entry._flush_timer is not None

        await pilot.pause(app_module.INPUT_FIRST_S + INPUT_RETRY_S * 5)
        assert entry.source == "first words held back"


async def test_key_repeat_does_not_stall_the_stream(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        entry = await _streaming(pilot, app, "first ")
        app._last_key_at = float("inf")  # keys without end
        await entry.write("then more")
        await entry._flush()
        assert entry.source == "first "
        await pilot.pause(STREAM_FLUSH_ACTIVE_S * 2 + INPUT_RETRY_S * 5)
        assert entry.source == "first then more"  # held back no longer than two hand-overs


async def test_the_stream_is_handed_over_less_often_while_keys_are_pressed(cluster):
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        entry = await _streaming(pilot, app, "first ")
        assert not app.user_active()
        await entry.write("no key yet ")
        assert entry._flush_timer._interval == STREAM_FLUSH_S  # the control: 10 hand-overs a second
        await entry._flush(defer=False)

        app._last_key_at = time.monotonic() - app_module.INPUT_FIRST_S * 2  # a key, its frame already drawn
        assert app.user_active() and not app.input_waiting()
        await entry.write("while keys come")
        assert entry._flush_timer._interval == STREAM_FLUSH_ACTIVE_S
        await entry._flush()
        await pilot.pause()
        assert entry.source == "first no key yet while keys come"  # nothing held back once the key is drawn


async def test_the_frame_of_a_key_is_drawn_without_the_frame_timer(cluster):
    """Textual draws a changed screen at the next tick of its frame timer; the cockpit draws a key's frame as
    soon as the screen is idle.  With the timer stopped, only the key's frame can appear."""
    config, _ = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        app.set_focus(None)
        await pilot.pause()
        screen = app.screen
        screen._update_timer.pause()
        screen._update_timer.resume = lambda: None  # type: ignore[method-assign]  # the timer never ticks again
        drawn: list[str] = []
        original = app._display

        def display(target, renderable):  # type: ignore[no-untyped-def]
            drawn.append(app.active_pane)
            return original(target, renderable)

        app._display = display  # type: ignore[method-assign]
        # Pilot's pause() and press() draw a frame themselves: plain sleeps and a posted key here.
        app.status_bar.set(busy="not a key: waits for the timer")
        await asyncio.sleep(0.2)
        assert drawn == []  # the control: a change that is not a key waits for a timer tick
        app.post_message(events.Key("3", "3"))
        await asyncio.sleep(0.2)
        assert app.active_pane == "gpu"
        assert drawn and drawn[-1] == "gpu"
