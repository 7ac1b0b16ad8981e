"""The benchmark over loopback nodes: a node with known-good answers, one with known-bad ones, one that hangs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from jarvis_tui.config import load_config
from jarvis_tui.core.bench.levels import load_levels
from jarvis_tui.core.commander import Commander
from jarvis_tui.core.commander_events import BenchFinished, BenchProgress, BenchStarted
from jarvis_tui.core.commander_settings import CommanderSettings
from tests.fakes.loopback_node import Fault
from tests.integration.cluster_config import write_toml
from tests.integration.commander_cluster import cluster
from tests.integration.test_cli_headless import run_cli

ANSWERS = Path(__file__).resolve().parents[1] / "core" / "bench_answers"


def answer_book(quality: str):
    """A reply function answering each level's prompt with the stored good or bad answer."""
    by_prompt = {lv.prompt: (ANSWERS / f"level_{lv.level:02d}_{quality}.md").read_text() for lv in load_levels()}
    return lambda prompt: by_prompt.get(prompt.strip(), "I do not know.")


async def test_quick_bench_scores_nodes_in_parallel_and_proposes_weights(loopback_node, tmp_path: Path) -> None:
    good = loopback_node(reply=answer_book("good"), model="good-model")
    bad = loopback_node(reply=answer_book("bad"), model="bad-model", first_token_delay_s=0.05)
    hung = loopback_node(fault=Fault.HANG)
    settings = CommanderSettings(bench_level_timeout_s=30)
    nodes = [("GOOD", good, {"weight": 1.0}), ("BAD", bad, {"weight": 1.4}),
             ("HUNG", hung, {"weight": 1.0, "timeout_s": 0.4})]  # its own deadline ends each level
    routing = {"code": ("BAD", "GOOD"), "simple": ("HUNG", "GOOD")}
    async with cluster(nodes, tmp_path, routing, settings, failures=10) as orch:
        events = orch.bus.subscribe(BenchStarted, BenchProgress, BenchFinished)
        report = await Commander(orch).bench(quick=True, report_dir=str(tmp_path / "reports"))
        events.close()
        seen = [e async for e in events]

    summaries = report.summaries()
    assert report.levels == [1, 2, 6, 8]
    assert summaries["GOOD"].score_pct == 100.0 and summaries["GOOD"].failed_levels == []
    assert summaries["BAD"].score_pct < 40 and 6 in summaries["BAD"].failed_levels
    assert summaries["HUNG"].score_pct == 0 and summaries["HUNG"].timeouts == 4
    assert summaries["HUNG"].failed_levels == [1, 2, 6, 8] and summaries["HUNG"].mean_latency_s is None
    assert summaries["BAD"].mean_latency_s >= 0.05
    weights = {w.node: (w.current, w.proposed) for w in report.proposal.weights}
    assert weights["GOOD"] == (1.0, 1.5) and weights["BAD"][1] < 1.0 and weights["HUNG"] == (1.0, 0.4)
    routes = {r.task_type: r.proposed for r in report.proposal.routes}
    assert routes == {"code": ["GOOD", "BAD"], "simple": ["GOOD", "HUNG"]}
    # progress for every (node, level), published as they finish, nodes interleaved (parallel)
    progress = [e for e in seen if isinstance(e, BenchProgress)]
    assert len(progress) == 12 and isinstance(seen[0], BenchStarted) and isinstance(seen[-1], BenchFinished)
    assert {p.node for p in progress[:3]} != {"GOOD"}
    # the report, in JSON and in SQLite
    saved = json.loads(Path(report.report_path).read_text())
    assert {n["node"]: n["score_pct"] for n in saved["nodes"]}["GOOD"] == 100.0
    rows = sqlite3.connect(tmp_path / "jarvis.db").execute(
        "SELECT node, level, points, status FROM bench_results ORDER BY node, level").fetchall()
    assert len(rows) == 12 and ("HUNG", 1, 0.0, "timeout") in rows and ("GOOD", 8, 5.0, "ok") in rows


@pytest.fixture
def bench_cluster(loopback_node, tmp_path: Path) -> Path:
    good = loopback_node(reply=answer_book("good"), model="good-model")
    bad = loopback_node(reply=answer_book("bad"), model="bad-model")
    return write_toml(tmp_path / "c.toml", [
        {"name": "GOOD", "kind": "openai", "url": good.url, "model": "good-model", "weight": 1.0, "timeout_s": 10},
        {"name": "BAD", "kind": "ollama", "url": bad.url, "model": "bad-model", "weight": 1.4, "timeout_s": 10},
    ], {"code": ["BAD", "GOOD"]}, tmp_path / "j.db", extra="\n# keep this comment\n")


def test_cli_bench_json_writes_the_report_under_xdg_data(bench_cluster: Path, tmp_path: Path) -> None:
    done = run_cli(["bench", "--quick", "--nodes", "GOOD,BAD", "--json", "--config", str(bench_cluster)], tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {n["node"]: n["score_pct"] for n in report["nodes"]}["GOOD"] == 100.0
    assert Path(report["report_path"]).parent == tmp_path / "data" / "jarvis-tui" / "bench"
    assert report["applied"] is False
    assert done.stderr.count("bench ") == 8  # one progress line per node and level (stderr is not a terminal)
    assert "weight = 1.0" in bench_cluster.read_text()  # nothing applied without --apply


def test_cli_bench_text_and_apply(bench_cluster: Path, tmp_path: Path) -> None:
    done = run_cli(["bench", "--quick", "--config", str(bench_cluster)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "score %" in done.stdout and "run again with --apply" in done.stdout
    assert "code: BAD, GOOD -> GOOD, BAD" in done.stdout
    applied = run_cli(["bench", "--quick", "--apply", "--config", str(bench_cluster)], tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "applied to" in applied.stdout
    config = load_config(str(bench_cluster))
    assert config.node("GOOD").weight == 1.5 and config.node("BAD").weight < 1.0
    assert config.routing["code"] == ("GOOD", "BAD")
    assert "# keep this comment" in bench_cluster.read_text()
    assert len(list(tmp_path.glob("c.toml.bak-*"))) == 1


@pytest.mark.parametrize("args, message", [
    (["--nodes", "NOPE"], "unknown node(s) NOPE"),
    (["--nodes", ","], "--nodes needs at least one node name"),
    (["--frobnicate"], "unrecognized arguments"),
])
def test_cli_bench_usage_errors_exit_2(bench_cluster: Path, tmp_path: Path, args: list[str], message: str) -> None:
    done = run_cli(["bench", "--config", str(bench_cluster), *args], tmp_path)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1
