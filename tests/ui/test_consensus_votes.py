"""The consensus pane fills vote by vote: fast votes show while a slow node is still out."""

from __future__ import annotations

import dataclasses
import sqlite3

from jarvis_tui.config import NodeConfig
from jarvis_tui.core.commander_settings import CommanderSettings
from jarvis_tui.core.orchestrator import Orchestrator
from jarvis_tui.ui.app import JarvisApp
from tests.integration.test_commander_pipeline import claude_factory  # noqa: F401 - a fixture
from tests.ui.pilot_helpers import wait_for, wait_ready
from tests.ui.test_palette import SIZE, run_palette

SLOW_S = 1.5


def _rows(table) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """node -> status, for the rows the votes table shows now."""
    return {table.get_row(key)[0].plain: table.get_row(key)[2].plain for key in table.rows}


async def test_fast_votes_show_before_the_slow_node_decides_the_round(cluster):
    # M2 (1.4) and OL1 (1.3) disagree, so after both L=1.4, R=1.3, pending M3=1.0:
    # 1.4 > 1.3 + 1.0 is false, no early decision, and slow M3's vote decides the round.
    config, nodes = cluster(count=3)
    config = dataclasses.replace(config, routing={**config.routing, "consensus": ("M2", "OL1", "M3")})
    nodes[0].set(reply="Paris")
    nodes[1].set(reply="Lyon")
    nodes[2].set(reply="Paris", first_token_delay_s=SLOW_S)
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        assert app.services.commander is not None, app.services.unavailable
        table = app.query_one("#consensus-votes")
        verdict = app.query_one("#consensus-verdict")
        app.chat.input.load_text("What is the capital of France?")
        await run_palette(pilot, "Ask with consensus")

        await wait_for(pilot, lambda: _rows(table) == {"M2": "answered", "OL1": "answered"}, SLOW_S,
                       "the two fast votes, before the slow node answers")
        assert nodes[2].chat_requests(), "the slow node was asked and is still out"
        assert "CONFIANCE" not in str(verdict.render())
        assert "waiting" in str(verdict.render())

        await wait_for(pilot, lambda: "CONFIANCE" in str(verdict.render()), 15, "verdict")
        assert _rows(table) == {"M2": "answered", "OL1": "answered", "M3": "answered"}
        line = str(verdict.render())
        assert "Paris" in line and "[CONFIANCE] 65%" in line  # (1.4 + 1.0) / 3.7
        disagreements = str(app.query_one("#consensus-disagreements").render())
        assert disagreements.startswith("[DESACCORDS]") and "[OL1/qwen3:1.7b] (poids 1.3): Lyon" in disagreements


async def test_palette_consensus_ends_in_the_chat_with_claudes_streamed_synthesis(cluster, claude_factory):
    """The cockpit's consensus command runs the synthesis too: Claude's stream lands in the chat, stored."""
    config, nodes = cluster(count=2, reply="Paris")
    claude = NodeConfig(name="CLAUDE", kind="anthropic", url="https://api.anthropic.test", model="claude-test",
                        api_key_env="CLAUDE_TEST_KEY", timeout_s=10.0)
    config = dataclasses.replace(config, nodes=(*config.nodes, claude),
                                 routing={**config.routing, "consensus": ("M2", "OL1")},
                                 sections={**config.sections, "commander": CommanderSettings(
                                     commander_node="CLAUDE",
                                     early_decision=False)})  # M2 (1.4) alone could decide before OL1 (1.3) answers
    orchestrator = Orchestrator(config, client_factory=claude_factory)
    app = JarvisApp(config, orchestrator=orchestrator, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        app.chat.input.load_text("What is the capital of France?")
        await run_palette(pilot, "Ask with consensus")
        synthesis = app.query_one("#consensus-synthesis")
        await wait_for(pilot, lambda: "written by [CLAUDE/claude-test]" in str(synthesis.render()), 20,
                       "the synthesis line")
        await wait_for(pilot, lambda: not app.asking, 10, "the chat answer")
        entry = app.query(".chat-answer").last()
        label = str(entry.label.render())
        assert label.startswith("[CLAUDE/claude-test]"), label
        assert entry.streamed == ["add(a, b) returns the sum [M2/m2-model]; the review found no bug [M3/m3-model]."]
        assert "CONFIANCE] 100%" in str(app.query_one("#consensus-verdict").render())
        sent = claude_factory.seen[0]["messages"][-1]["content"]
        assert "[M2/deepseek-coder-v2-lite]" in sent and "[OL1/qwen3:1.7b]" in sent
        conversation = app.conversation_id
    with sqlite3.connect(config.store.path) as db:
        rows = db.execute("SELECT role, node, task_type FROM messages WHERE conversation_id = ? ORDER BY id",
                          (conversation,)).fetchall()
    assert rows == [("user", None, "consensus"), ("assistant", "CLAUDE", "consensus")]


async def test_a_spoken_consensus_command_asks_the_rest_of_the_phrase_in_the_chat(cluster):
    """Voice: "consensus: QUESTION" runs a round on QUESTION; the answer lands in the chat like a typed one."""
    from jarvis_tui.voice.commands import CommandMatcher

    config, nodes = cluster(count=2, reply="Paris")
    config = dataclasses.replace(config, routing={**config.routing, "consensus": ("M2", "OL1")})
    command = CommandMatcher.load().match("Jarvis, consensus: what is the capital of France?")
    assert command is not None and command.action == "consensus"
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await app.run_voice_command(command)
        await wait_for(pilot, lambda: "CONFIANCE" in str(app.query_one("#consensus-verdict").render()), 15, "verdict")
        await wait_for(pilot, lambda: not app.asking, 10, "the chat answer")
        user = app.query(".chat-user").last()
        assert str(user.render()) == "what is the capital of France?"
        entry = app.query(".chat-answer").last()
        assert entry.streamed == ["Paris"] and str(entry.label.render()).startswith("[M2/deepseek-coder-v2-lite]")
        assert {nodes[0].last_chat_json()["messages"][-1]["content"],
                nodes[1].last_chat_json()["messages"][-1]["content"]} == {"what is the capital of France?"}


async def test_the_verdict_line_flags_a_weak_consensus_and_a_single_source(cluster):
    """Disagreeing answers below the weak threshold read CONSENSUS FAIBLE; one answer alone, SOURCE UNIQUE;
    a node that failed is shown as failed, not left waiting."""
    from tests.fakes.loopback_node import Fault

    config, nodes = cluster(count=3)
    config = dataclasses.replace(config, routing={**config.routing, "consensus": ("M2", "OL1", "M3")})
    # M2 (1.4) answers last: were it first, M2 alone would outweigh OL1 (1.3) still out once M3 failed, and the
    # round would end early on one answer.  OL1 first leaves M2's 1.4 pending, which could still win.
    nodes[0].set(reply="Paris", first_token_delay_s=0.5)
    nodes[1].set(reply="Lyon")
    nodes[2].set(fault=Fault.HTTP_500)
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        table = app.query_one("#consensus-votes")
        verdict = app.query_one("#consensus-verdict")
        app.chat.input.load_text("What is the capital of France?")
        await run_palette(pilot, "Ask with consensus")
        await wait_for(pilot, lambda: "CONFIANCE" in str(verdict.render()), 15, "the first verdict")
        line = str(verdict.render())
        assert "CONSENSUS FAIBLE" in line and "SOURCE UNIQUE" not in line, line  # 1.4 of 3.7: 38% < 60%
        assert _rows(table) == {"M2": "answered", "OL1": "answered", "M3": "failed"}

        nodes[1].set(fault=Fault.HTTP_500)
        app.chat.input.load_text("And of Italy?")
        await run_palette(pilot, "Ask with consensus")
        await wait_for(pilot, lambda: "SOURCE UNIQUE" in str(verdict.render()), 15, "the second verdict")
        assert "Paris" in str(verdict.render())
        assert _rows(table) == {"M2": "answered", "OL1": "failed", "M3": "failed"}
