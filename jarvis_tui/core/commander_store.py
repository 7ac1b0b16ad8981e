"""Persistence of consensus rounds and benchmark runs (tables from migration 0002).

Writes go through the store's one writer (``Store.write``, group commit): a
round and its votes (a run and its results) are one operation, so they are
committed together or not at all, and the call returns once they are.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any


async def save_consensus_round(store: Any, round_: Any) -> int:
    redact = store.redact
    values = (round_.round_id, redact(round_.prompt), redact(round_.verdict), round_.verdict_node, round_.confidence,
              json.dumps(round_.flags), redact(json.dumps([d.to_dict() for d in round_.disagreements],
                                                          ensure_ascii=False)),
              int(round_.early), round_.deciding_node, round_.wall_ms, redact(round_.synthesis), round_.synthesis_node,
              time.time())
    votes = [(v.node, v.model, v.weight, v.status, v.outcome, redact(v.answer) if v.answer else None,
              v.cluster, v.latency_ms, redact(v.error) or None) for v in round_.votes if v.status != "pending"]

    def op(conn: sqlite3.Connection) -> int:
        row_id = int(conn.execute(
            "INSERT INTO consensus_rounds(round_id, prompt, verdict, verdict_node, confidence, flags, disagreements, "
            "early_decision, deciding_node, wall_ms, synthesis, synthesis_node, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", values).lastrowid)
        conn.executemany("INSERT INTO consensus_votes(round_id, node, model, weight, status, outcome, answer, "
                         "cluster, latency_ms, error) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         [(row_id, *vote) for vote in votes])
        return row_id

    return int(await store.write(op))


async def update_round_synthesis(store: Any, row_id: int, text: str, node: str) -> None:
    values = (store.redact(text), node, row_id)

    def op(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE consensus_rounds SET synthesis = ?, synthesis_node = ? WHERE id = ?", values)

    await store.write(op)


async def consensus_rounds(store: Any, limit: int = 50) -> list[dict[str, Any]]:
    async with store.db.execute("SELECT * FROM consensus_rounds ORDER BY id DESC LIMIT ?", (limit,)) as cursor:
        rounds = [dict(r) for r in await cursor.fetchall()]
    for round_ in rounds:
        async with store.db.execute("SELECT * FROM consensus_votes WHERE round_id = ? ORDER BY id",
                                    (round_["id"],)) as cursor:
            round_["votes"] = [dict(r) for r in await cursor.fetchall()]
        round_["flags"] = json.loads(round_["flags"])
        round_["disagreements"] = json.loads(round_["disagreements"])
    return rounds


async def save_bench_run(store: Any, report: Any) -> int:
    values = (report.run_id, report.started_at, report.finished_at, int(report.quick), json.dumps(report.nodes),
              report.report_path, json.dumps(report.summary(), ensure_ascii=False))
    results = [(r.node, r.level, r.points, r.max_points, r.status, r.latency_ms, store.redact(r.detail))
               for r in report.results]

    def op(conn: sqlite3.Connection) -> int:
        row_id = int(conn.execute(
            "INSERT INTO bench_runs(run_id, started_at, finished_at, quick, nodes, report_path, summary) "
            "VALUES (?,?,?,?,?,?,?)", values).lastrowid)
        conn.executemany("INSERT INTO bench_results(run_id, node, level, points, max_points, status, latency_ms, "
                         "detail) VALUES (?,?,?,?,?,?,?,?)", [(row_id, *result) for result in results])
        return row_id

    return int(await store.write(op))


async def bench_results(store: Any, run_id: str) -> list[dict[str, Any]]:
    async with store.db.execute(
        "SELECT r.* FROM bench_results r JOIN bench_runs b ON b.id = r.run_id WHERE b.run_id = ? "
        "ORDER BY r.node, r.level", (run_id,)
    ) as cursor:
        return [dict(r) for r in await cursor.fetchall()]
