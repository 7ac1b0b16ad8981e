"""Run the benchmark: every node in parallel, its levels one after another.

A node is one GPU box answering one prompt at a time, so its levels run in
sequence; the nodes run concurrently.  Each level is one ``Orchestrator.dispatch``
bounded by the level's ``timeout_s`` (and ``[commander] bench_level_timeout_s``),
then scored (code in the sandbox, at most one sandbox per CPU at a time).
``BenchProgress`` is published after every level; the report goes to
``$XDG_DATA_HOME/jarvis-tui/bench/<timestamp>.json`` and to SQLite.

Per node: score % (points / maximum), failed levels (under half the points,
timeouts and errors included), mean latency of the answered levels, timeouts.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jarvis_tui.core.bench.levels import MAX_POINTS, Level, load_levels
from jarvis_tui.core.bench.proposal import Proposal, make_proposal
from jarvis_tui.core.bench.scorers import score_answer
from jarvis_tui.core.commander_events import BenchFinished, BenchProgress, BenchStarted
from jarvis_tui.core.commander_settings import CommanderSettings
from jarvis_tui.core.events import ErrorRaised
from jarvis_tui.core.text import one_line
from jarvis_tui.paths import prompt_text

STATUS_OK, STATUS_TIMEOUT, STATUS_FAILED = "ok", "timeout", "failed"


@dataclass(slots=True)
class LevelResult:
    node: str
    level: int
    kind: str
    points: float
    status: str
    latency_ms: float | None
    detail: str
    max_points: float = MAX_POINTS
    model: str = ""

    @property
    def failed(self) -> bool:
        return self.status != STATUS_OK or self.points < self.max_points / 2

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "level": self.level, "kind": self.kind, "points": self.points,
                "max_points": self.max_points, "status": self.status, "failed": self.failed,
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
                "detail": self.detail, "model": self.model or None}


@dataclass(slots=True)
class NodeSummary:
    node: str
    results: list[LevelResult]

    @property
    def levels_run(self) -> int:
        return len(self.results)

    @property
    def points(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def score_pct(self) -> float:
        maximum = sum(r.max_points for r in self.results)
        return 100.0 * self.points / maximum if maximum else 0.0

    def score_pct_for(self, kinds: tuple[str, ...] | None) -> float | None:
        chosen = [r for r in self.results if kinds is None or r.kind in kinds]
        maximum = sum(r.max_points for r in chosen)
        return 100.0 * sum(r.points for r in chosen) / maximum if maximum else None

    @property
    def failed_levels(self) -> list[int]:
        return [r.level for r in self.results if r.failed]

    @property
    def timeouts(self) -> int:
        return sum(1 for r in self.results if r.status == STATUS_TIMEOUT)

    @property
    def mean_latency_s(self) -> float | None:
        answered = [r.latency_ms for r in self.results if r.status == STATUS_OK and r.latency_ms is not None]
        return sum(answered) / len(answered) / 1000 if answered else None

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "score_pct": round(self.score_pct, 1), "points": round(self.points, 2),
                "levels_run": self.levels_run, "failed_levels": self.failed_levels, "timeouts": self.timeouts,
                "mean_latency_s": None if self.mean_latency_s is None else round(self.mean_latency_s, 3)}


@dataclass(slots=True)
class BenchReport:
    run_id: str
    started_at: float
    finished_at: float
    quick: bool
    nodes: list[str]
    levels: list[int]
    results: list[LevelResult] = field(default_factory=list)
    proposal: Proposal | None = None
    report_path: str | None = None
    stored_id: int | None = None

    def summaries(self) -> dict[str, NodeSummary]:
        return {n: NodeSummary(n, sorted((r for r in self.results if r.node == n), key=lambda r: r.level))
                for n in self.nodes}

    def summary(self) -> dict[str, Any]:
        return {"nodes": {n: s.to_dict() for n, s in self.summaries().items()},
                "proposal": self.proposal.to_dict() if self.proposal else None}

    @property
    def any_answer(self) -> bool:
        return any(r.status == STATUS_OK for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "started_at": self.started_at, "finished_at": self.finished_at,
                "duration_s": round(self.finished_at - self.started_at, 2), "quick": self.quick,
                "levels": self.levels, "nodes": [s.to_dict() for s in self.summaries().values()],
                "results": [r.to_dict() for r in sorted(self.results, key=lambda r: (r.node, r.level))],
                "proposal": self.proposal.to_dict() if self.proposal else None, "report_path": self.report_path}


def bench_report_dir() -> Path:
    from jarvis_tui.config import xdg_dir

    return xdg_dir("DATA") / "bench"


async def run_benchmark(orchestrator: Any, *, settings: CommanderSettings, nodes: list[str] | None = None,
                        quick: bool = False, levels_dir: str | None = None, report_dir: str | None = None,
                        levels: list[Level] | None = None) -> BenchReport:
    """Raises ValueError for unknown node names or a broken level file (faces: exit 2)."""
    from jarvis_tui.nodes.base import ChatMessage, NodeError, Outcome

    levels = levels if levels is not None else load_levels(levels_dir, quick=quick)
    names = nodes or [n for n, s in orchestrator.nodes.items() if s.config.enabled]
    unknown = [n for n in names if n not in orchestrator.nodes]
    if unknown:
        raise ValueError(f"unknown node(s) {', '.join(unknown)}; known nodes: {', '.join(orchestrator.nodes)}")
    started = time.time()
    run_id = time.strftime("%Y%m%d-%H%M%S", time.localtime(started)) + f"-{os.getpid() % 10000:04d}"
    report = BenchReport(run_id, started, started, quick, list(names), [lv.level for lv in levels])
    bus = orchestrator.bus
    bus.publish(BenchStarted(run_id=run_id, nodes=tuple(names), levels=tuple(report.levels)))
    sandboxes = asyncio.Semaphore(max(1, os.cpu_count() or 1))

    async def score(level: Level, text: str) -> tuple[float, str]:
        async with sandboxes:
            result = await score_answer(level, text, timeout_s=settings.bench_sandbox_timeout_s,
                                        memory_mb=settings.bench_sandbox_memory_mb)
        return result.points, result.detail

    async def run_node(name: str) -> None:
        for done, level in enumerate(levels, start=1):
            deadline = min(level.timeout_s, settings.bench_level_timeout_s)
            started_level = time.perf_counter()
            model = orchestrator.nodes[name].config.model
            reason = orchestrator.skip_reason(name)
            if reason is not None:
                result = LevelResult(name, level.level, level.kind, 0.0, STATUS_FAILED, None, f"skipped: {reason}")
            else:
                messages = [ChatMessage("system", prompt_text("bench")), ChatMessage("user", level.prompt)]
                try:
                    answer = await asyncio.wait_for(
                        orchestrator.dispatch(name, messages, task_type="bench",
                                              request_id=f"b{run_id}.{name}.{level.level}"), deadline)
                except TimeoutError:
                    result = LevelResult(name, level.level, level.kind, 0.0, STATUS_TIMEOUT,
                                         (time.perf_counter() - started_level) * 1000,
                                         f"no answer within {deadline:g}s")
                except NodeError as exc:
                    status = STATUS_TIMEOUT if exc.outcome == Outcome.TIMEOUT else STATUS_FAILED
                    result = LevelResult(name, level.level, level.kind, 0.0, status, exc.latency_ms,
                                         one_line(f"{exc.outcome}: {exc.message}", 200))
                else:
                    model = answer.model or model
                    try:
                        points, detail = await score(level, answer.text)
                    except Exception as exc:  # noqa: BLE001 - a scorer crash costs the level, not the run
                        points, detail = 0.0, one_line(f"scorer error: {type(exc).__name__}: {exc}", 200)
                    result = LevelResult(name, level.level, level.kind, points, STATUS_OK, answer.latency_ms, detail)
            result.model = model
            report.results.append(result)
            bus.publish(BenchProgress(run_id=run_id, node=name, level=level.level, done=done, total=len(levels),
                                      points=result.points, status=result.status, latency_ms=result.latency_ms,
                                      detail=result.detail))

    await asyncio.gather(*(run_node(n) for n in names))
    report.finished_at = time.time()
    config = orchestrator.config
    report.proposal = make_proposal(report.summaries(), {n.name: n.weight for n in config.nodes}, config.routing)
    error = ""
    try:
        report.report_path = str(write_report(report, Path(report_dir) if report_dir else bench_report_dir()))
    except OSError as exc:
        error = f"cannot write the report: {exc.strerror or exc}"
        bus.publish(ErrorRaised(source="bench", message=error))
    store = orchestrator.store
    if store is not None and store._db is not None:
        from jarvis_tui.core.commander_store import save_bench_run

        try:
            report.stored_id = await save_bench_run(store, report)
        except Exception as exc:  # noqa: BLE001 - the JSON report still exists
            bus.publish(ErrorRaised(source="store", message=one_line(str(exc))))
    bus.publish(BenchFinished(run_id=run_id, report_path=report.report_path or "",
                              scores_pct=tuple((n, round(s.score_pct, 1)) for n, s in report.summaries().items()),
                              error=error))
    return report


def write_report(report: BenchReport, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report.run_id}.json"
    report.report_path = str(path)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(temporary, path)
    return path
