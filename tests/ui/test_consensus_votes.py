"""The consensus pane fills vote by vote: fast votes show while a slow node is still out."""

from __future__ import annotations

import dataclasses

from jarvis_tui.ui.app import JarvisApp
from tests.ui.pilot_helpers import wait_for, wait_ready
from tests.ui.test_palette import SIZE, run_palette

SLOW_S = 1.5


def _rows(table) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """node -> status, for the rows the votes table shows now."""
    return {table.get_row(key)[0].plain: table.get_row(key)[-1].plain for key in table.rows}


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
        assert "[DESACCORDS] 1" in line
