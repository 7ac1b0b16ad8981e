"""Persistence of consensus rounds and benchmark runs (tables from migration 0002).

The store's connection runs in autocommit mode and is shared with the
conversation writes, which use explicit ``BEGIN IMMEDIATE`` transactions; to
never interleave with one of those, each of these writes is a single SQL
statement (a round, then all its votes as one multi-row INSERT), and each
statement is atomic on its own.  When the store offers a ``write_lock`` (an
``asyncio.Lock`` serialising every write - proposed to the lead, because two
concurrent ``add_message`` calls on the shared connection currently collide on
``BEGIN IMMEDIATE``), these writes take it too.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any


def _writing(store: Any) -> Any:
    lock = getattr(store, "write_lock", None)
    return lock if lock is not None else contextlib.nullcontext()


def _multi_insert(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    placeholders = "(" + ",".join("?" * len(columns)) + ")"
    sql = f"INSERT INTO {table}({', '.join(columns)}) VALUES " + ",".join([placeholders] * len(rows))
    return sql, [value for row in rows for value in row]


async def save_consensus_round(store: Any, round_: Any) -> int:
    async with _writing(store):
        redact = store.redact
        cursor = await store.db.execute(
            "INSERT INTO consensus_rounds(round_id, prompt, verdict, verdict_node, confidence, flags, disagreements, "
            "early_decision, deciding_node, wall_ms, synthesis, synthesis_node, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (round_.round_id, redact(round_.prompt), redact(round_.verdict), round_.verdict_node, round_.confidence,
             json.dumps(round_.flags), redact(json.dumps([d.to_dict() for d in round_.disagreements], ensure_ascii=False)),
             int(round_.early), round_.deciding_node, round_.wall_ms, redact(round_.synthesis), round_.synthesis_node,
             time.time()))
        row_id = int(cursor.lastrowid)
        votes = [(row_id, v.node, v.model, v.weight, v.status, v.outcome, redact(v.answer) if v.answer else None,
                  v.cluster, v.latency_ms, redact(v.error) or None) for v in round_.votes if v.status != "pending"]
        if votes:
            sql, args = _multi_insert("consensus_votes", ("round_id", "node", "model", "weight", "status", "outcome",
                                                          "answer", "cluster", "latency_ms", "error"), votes)
            await store.db.execute(sql, args)
        return row_id


async def update_round_synthesis(store: Any, row_id: int, text: str, node: str) -> None:
    async with _writing(store):
        await store.db.execute("UPDATE consensus_rounds SET synthesis = ?, synthesis_node = ? WHERE id = ?",
                               (store.redact(text), node, row_id))


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
    async with _writing(store):
        cursor = await store.db.execute(
            "INSERT INTO bench_runs(run_id, started_at, finished_at, quick, nodes, report_path, summary) "
            "VALUES (?,?,?,?,?,?,?)",
            (report.run_id, report.started_at, report.finished_at, int(report.quick), json.dumps(report.nodes),
             report.report_path, json.dumps(report.summary(), ensure_ascii=False)))
        row_id = int(cursor.lastrowid)
        rows = [(row_id, r.node, r.level, r.points, r.max_points, r.status, r.latency_ms, store.redact(r.detail))
                for r in report.results]
        if rows:
            sql, args = _multi_insert("bench_results", ("run_id", "node", "level", "points", "max_points", "status",
                                                        "latency_ms", "detail"), rows)
            await store.db.execute(sql, args)
        return row_id


async def bench_results(store: Any, run_id: str) -> list[dict[str, Any]]:
    async with store.db.execute(
        "SELECT r.* FROM bench_results r JOIN bench_runs b ON b.id = r.run_id WHERE b.run_id = ? "
        "ORDER BY r.node, r.level", (run_id,)
    ) as cursor:
        return [dict(r) for r in await cursor.fetchall()]
