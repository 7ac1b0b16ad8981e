"""Applying a benchmark proposal from the cockpit: the real benchmark on loopback nodes, a real config file.

M2 answers every level with nothing useful; OL1 answers with a working string reversal, so it scores on
level 1 and the proposal lowers both weights and puts OL1 first on the code route.  Apply must rewrite the
file (backup kept) and the live orchestrator; Dismiss must leave both alone.
"""

from __future__ import annotations

from pathlib import Path

from jarvis_tui.config import load_config
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.screens.proposal_screen import ProposalScreen
from tests.ui.pilot_helpers import wait_for, wait_ready
from tests.ui.test_palette import SIZE, run_palette

REVERSE = "```python\ndef reverse_string(s):\n    return s[::-1]\n```"


def write_config(tmp_path: Path, m2_url: str, ol1_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""\
[[nodes]]
name = "M2"
kind = "openai"
url = "{m2_url}"
model = "deepseek-coder-v2-lite"
weight = 1.4  # the user's hand-set weight

[[nodes]]
name = "OL1"
kind = "openai"
url = "{ol1_url}"
model = "qwen3:1.7b"
weight = 1.3

[routing]
code = ["M2", "OL1"]
default = ["M2", "OL1"]

[store]
path = "{tmp_path / 'jarvis.db'}"

[health]
interval_s = 3600
""")
    return path


def cluster_with_file(loopback_node, tmp_path: Path):
    m2 = loopback_node(model="deepseek-coder-v2-lite", reply="I am not sure.")
    ol1 = loopback_node(model="qwen3:1.7b", reply=REVERSE)
    path = write_config(tmp_path, m2.url, ol1.url)
    return path, load_config(str(path))


async def benchmark_to_proposal(pilot) -> ProposalScreen:
    app = pilot.app
    await wait_ready(pilot)
    await run_palette(pilot, "Run benchmark")
    await wait_for(pilot, lambda: isinstance(app.screen, ProposalScreen), 60, "the proposal screen")
    screen = app.screen
    await wait_for(pilot, lambda: screen.query_one("#proposal-buttons").region.width > 0, 5, "laid out")
    await pilot.pause()
    return screen


def shown(widget) -> str:
    """What the widget shows on screen."""
    return "\n".join(strip.text for strip in widget.render_lines(widget.region.reset_offset))


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.bak-*"))


async def test_apply_writes_the_file_keeps_a_backup_and_updates_the_live_cockpit(loopback_node, tmp_path):
    path, config = cluster_with_file(loopback_node, tmp_path)
    original = path.read_text()
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        screen = await benchmark_to_proposal(pilot)
        weights = {w.node: w for w in screen.proposal.weights}
        assert weights["M2"].current == 1.4 and weights["M2"].changed
        assert weights["OL1"].proposed > weights["M2"].proposed
        assert f"1.4 → {weights['M2'].proposed:g}" in shown(screen.query_one("#proposal-weights"))
        assert "code: M2, OL1  →  OL1, M2" in shown(screen.query_one("#proposal-routes"))
        assert not screen.query_one("#proposal-apply").disabled

        await pilot.click("#proposal-apply")
        await wait_for(pilot, lambda: app.bench_proposal is None and app.status_bar is not None
                       and not isinstance(app.screen, ProposalScreen) and backups(path), 10, "applied")
        await wait_for(pilot, lambda: app.orchestrator.nodes["M2"].config.weight == weights["M2"].proposed,
                       10, "live weight")
        # the live orchestrator routes and weighs with the proposal at once
        assert list(app.orchestrator.route("code")) == ["OL1", "M2"]
        assert app.orchestrator.nodes["OL1"].config.weight == weights["OL1"].proposed
        await pilot.press("q")

    # the file: new weights (comment kept), new route, everything else as it was
    text = path.read_text()
    assert f"weight = {weights['M2'].proposed:.1f}  # the user's hand-set weight" in text
    routes = {r.task_type: r.proposed for r in screen.proposal.routes}
    assert routes["code"] == ["OL1", "M2"]
    for task, names in routes.items():
        assert f"{task} = [{', '.join(f'{n!r}' for n in names)}]".replace("'", '"') in text
    reloaded = load_config(str(path))
    assert reloaded.node("M2").weight == weights["M2"].proposed
    assert reloaded.node("OL1").weight == weights["OL1"].proposed
    (backup,) = backups(path)
    assert backup.read_text() == original


async def test_dismiss_changes_nothing_and_the_palette_reopens_the_proposal(loopback_node, tmp_path):
    path, config = cluster_with_file(loopback_node, tmp_path)
    original = path.read_text()
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await benchmark_to_proposal(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ProposalScreen), 5, "dismissed")
        await pilot.pause(0.2)
        assert app.orchestrator.nodes["M2"].config.weight == 1.4
        assert app.orchestrator.config.routing["code"] == ("M2", "OL1")
        assert path.read_text() == original and not backups(path)

        # the palette brings the same proposal back; Dismiss again still writes nothing
        await run_palette(pilot, "Apply benchmark proposal")
        assert isinstance(app.screen, ProposalScreen)
        await pilot.click("#proposal-dismiss")
        await wait_for(pilot, lambda: not isinstance(app.screen, ProposalScreen), 5, "dismissed")
        await pilot.pause(0.2)
        assert app.bench_proposal is not None
        assert path.read_text() == original and not backups(path)
        assert app.orchestrator.nodes["OL1"].config.weight == 1.3
        await pilot.press("q")


async def test_a_config_without_a_file_explains_why_it_cannot_apply(loopback_node, tmp_path):
    _path, config = cluster_with_file(loopback_node, tmp_path)
    import dataclasses

    in_memory = dataclasses.replace(config, path=None)
    app = JarvisApp(in_memory, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        screen = await benchmark_to_proposal(pilot)
        assert screen.query_one("#proposal-apply").disabled
        assert "without a config file" in shown(screen.query_one("#proposal-note"))
        await pilot.press("a")  # the key is refused too, with the same explanation
        assert isinstance(app.screen, ProposalScreen)
        await pilot.press("escape")
        assert app.orchestrator.nodes["M2"].config.weight == 1.4
        await pilot.press("q")
    assert list(tmp_path.glob("*.bak-*")) == []


async def test_palette_without_a_benchmark_says_to_run_one(loopback_node, tmp_path):
    _path, config = cluster_with_file(loopback_node, tmp_path)
    app = JarvisApp(config, services=frozenset({"commander"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await run_palette(pilot, "Apply benchmark proposal")
        assert not isinstance(app.screen, ProposalScreen)
        assert any("run the benchmark first" in str(n.message) for n in app._notifications)
        await pilot.press("q")
