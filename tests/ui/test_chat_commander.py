"""The chat goes through the commander pipeline when it runs (issue 4: 'surfaces it in the cockpit')."""

from __future__ import annotations

import sqlite3

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.chat_pane import AnswerEntry
from tests.ui.pilot_helpers import ask, wait_ready

SIZE = (160, 48)
CODE = "def reverse(s):\n    return s[::-1]"


def posted_messages(node) -> list[list[dict]]:
    return [request.json()["messages"] for request in node.chat_requests()]


async def test_a_code_prompt_is_written_then_reviewed_and_a_follow_up_keeps_the_conversation(cluster, tmp_path):
    config, nodes = cluster(count=3, reply="fine")
    coder, reviewer, third = nodes
    coder.set(reply=f"```python\n{CODE}\n```")
    reviewer.set(reply="Correct; an empty string also works.")
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        assert app.services.commander is not None, app.services.unavailable
        await ask(pilot, "Write a python function that reverses a string")
        entry = app.query_one(AnswerEntry)
        assert not entry.has_class("-failed") and not entry.has_class("-pending")
        # t1 the coder on the first code node, t2 the reviewer on the second, given t1's code
        coder_calls, reviewer_calls = posted_messages(coder), posted_messages(reviewer)
        assert len(coder_calls) == 1 and len(reviewer_calls) == 1 and not third.chat_requests()
        assert "senior software engineer" in coder_calls[0][0]["content"]
        assert CODE in reviewer_calls[0][-1]["content"]
        assert "[M2/" in str(entry.label.render()) or "[OL1/" in str(entry.label.render())
        first_conversation = app.conversation_id

        await ask(pilot, "Now say hello")
        assert app.conversation_id == first_conversation
        follow_up = [m for calls in (posted_messages(n) for n in nodes) for m in calls if
                     m[-1]["content"] == "Now say hello"]
        assert follow_up, "the follow-up prompt reached no node"
        earlier = [turn["content"] for turn in follow_up[0][:-1] if turn["role"] in ("user", "assistant")]
        assert earlier[0] == "Write a python function that reverses a string"  # the conversation's context
        assert len(earlier) == 2
    with sqlite3.connect(tmp_path / "jarvis.db") as db:
        rows = db.execute("SELECT role, content FROM messages WHERE conversation_id = ? ORDER BY id",
                          (first_conversation,)).fetchall()
    assert [role for role, _ in rows] == ["user", "assistant", "user", "assistant"]
    assert rows[2][1] == "Now say hello"
