"""Waiting on the cockpit under Pilot without fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


async def wait_for(pilot: Any, condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)


async def wait_ready(pilot: Any, timeout: float = 15.0) -> None:
    app = pilot.app
    # app.services is set before its subsystems have started; CoreReady (or CoreFailed) ends the start-up.
    # (the nodes timer may clear `starting` before the subsystems are up, hence services.started too)
    await wait_for(pilot, lambda: (app.services is not None and getattr(app.services, "started", True)
                                   and not app.status_bar.state.starting)
                   or app.core_error is not None, timeout, "core start")
    await wait_for(pilot, lambda: bool(app.query_one("#nodes-table").row_count) or app.core_error is not None,
                   timeout, "node rows")


async def ask(pilot: Any, text: str, timeout: float = 15.0) -> None:
    from jarvis_tui.ui.chat_pane import AnswerEntry

    app = pilot.app
    before = len(app.query(AnswerEntry))
    app.chat.input.focus()
    app.chat.input.load_text(text)
    await pilot.press("enter")
    await wait_for(pilot, lambda: len(app.query(AnswerEntry)) > before and not app.asking, timeout, "answer")
    await pilot.pause(0.1)


