"""The nodes pane on its own: cells grow with their values instead of clipping them."""

from __future__ import annotations

from textual.app import App, ComposeResult

from jarvis_tui.ui.cells import Numbers
from jarvis_tui.ui.nodes_pane import NodesPane


class PaneHost(App[None]):
    def compose(self) -> ComposeResult:
        yield NodesPane(Numbers(), id="nodes")


def row(p50_ms: float) -> dict:
    return {"node": "M1", "kind": "lmstudio", "model": "qwen3-30b", "weight": 0.7, "status": "up",
            "p50_ms": p50_ms, "p95_ms": p50_ms, "ttft_ms": 300.0, "tokens_per_s": 20.0, "error_rate": 0.0}


async def test_a_latency_that_grows_is_never_clipped():
    app = PaneHost()
    async with app.run_test(size=(160, 20)) as pilot:
        pane = app.query_one(NodesPane)
        pane.show([row(402.0)], {})
        await pilot.pause()
        pane.show([row(1_234.0)], {"M1": [402.0, 1_234.0]})
        await pilot.pause()
        lines = [strip.text for strip in pane.table.render_lines(pane.table.region.reset_offset)]
        m1 = next(line for line in lines if "M1" in line)
        assert m1.count("1.2s") == 2, m1  # p50 and p95, whole
