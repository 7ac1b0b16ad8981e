"""Migration 0002 and the consensus/bench rows, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from jarvis_tui.core.bench.runner import BenchReport, LevelResult
from jarvis_tui.core.commander_store import (
    bench_results,
    consensus_rounds,
    save_bench_run,
    save_consensus_round,
)
from jarvis_tui.core.consensus import ConsensusRound, Disagreement, Vote
from jarvis_tui.core.store import Redactor, Store


async def test_rounds_and_votes_round_trip_with_secrets_redacted(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.db", Redactor(["sk-SECRET-123"]))
    await store.open()
    try:
        assert await store.schema_version() >= 2
        votes = [Vote("M2", "deepseek", 1.4, 30, "answered", "4", 120.0, "ok", "", 0, 1),
                 Vote("M1", "qwen", 0.7, 30, "failed", "", 5.0, "http_error", "HTTP 500 sk-SECRET-123"),
                 Vote("GEMINI", "flash", 1.1, 90, "cancelled", "", 130.0, "cancelled", "cancelled")]
        round_ = ConsensusRound("r1", "What is 2+2?", votes, verdict="4", verdict_node="M2", confidence=1.0,
                                flags=["SOURCE UNIQUE"], disagreements=[Disagreement(["X"], "[X/m]", 0.5, "5")],
                                early=True, deciding_node="M2", wall_ms=130.0)
        await save_consensus_round(store, round_)
        (stored,) = await consensus_rounds(store)
        assert stored["verdict"] == "4" and stored["flags"] == ["SOURCE UNIQUE"] and stored["early_decision"] == 1
        assert stored["disagreements"][0]["nodes"] == ["X"]
        assert [(v["node"], v["status"]) for v in stored["votes"]] == [
            ("M2", "answered"), ("M1", "failed"), ("GEMINI", "cancelled")]
        assert stored["votes"][1]["error"] == "HTTP 500 [redacted]"
    finally:
        await store.close()


async def test_bench_runs_and_results(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.db")
    await store.open()
    try:
        report = BenchReport("run-1", 1.0, 2.0, True, ["A"], [1, 6],
                             [LevelResult("A", 1, "code", 5.0, "ok", 100.0, "5/5"),
                              LevelResult("A", 6, "reasoning", 0.0, "timeout", None, "no answer")])
        await save_bench_run(store, report)
        rows = await bench_results(store, "run-1")
        assert [(r["level"], r["points"], r["status"]) for r in rows] == [(1, 5.0, "ok"), (6, 0.0, "timeout")]
    finally:
        await store.close()
